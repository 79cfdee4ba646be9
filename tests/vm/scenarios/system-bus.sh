# stas-vm: timeout=60
# The private system bus of lib.sh: permissive by default, default-deny with --strict.
set -e
start_system_bus
expect_eq "$DBUS_SYSTEM_BUS_ADDRESS" unix:path=/run/dbus/system_bus_socket "DBUS_SYSTEM_BUS_ADDRESS"
names=$(dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.ListNames)
expect_match "$names" 'string "org.freedesktop.DBus"' "ListNames"
out=$(dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.RequestName string:org.nvmexpress.staf uint32:0)
expect_match "$out" 'uint32 1' "RequestName org.nvmexpress.staf (permissive bus)"
stop_system_bus

log "strict bus: owning a name needs a policy in /usr/share/dbus-1/system.d"
start_system_bus --strict
if dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.RequestName string:org.example.StasVmTest uint32:0 2>&1; then
    fail "a name without policy could be owned on the strict bus"
fi
echo "ok: owning org.example.StasVmTest was denied"
cat > /usr/share/dbus-1/system.d/stas-vm-test.conf <<'CONF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root"><allow own="org.example.StasVmTest"/></policy>
</busconfig>
CONF
check dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.ReloadConfig
out=$(dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.RequestName string:org.example.StasVmTest uint32:0)
expect_match "$out" 'uint32 1' "RequestName with a policy"
stop_system_bus
log "done"
