# stas-vm: subsystems=2 timeout=240
# The systemd rig itself, end to end: systemd is PID 1 and the boot completes (no failed unit of
# ours), udevd and dbus run; the package installs offline and its postinst provisions
# /etc/nvme/hostnqn and hostid; stafd and stacd, started by systemd with a stafd.conf naming an
# nvmet target on 127.0.0.1:8009 (2 subsystems), connect its I/O controllers, and stacctl ls,
# nvme list-subsys and sysfs agree on them.
set -e
T0=$(uptime_s)
log "the runner started at ${STAS_VM_T_START} s of uptime"

# ---- the system
expect_eq "$(ps -o comm= -p 1)" systemd "PID 1"
state=$(system_wait 180)
log "systemctl is-system-running --wait: $state"
expect_match "$state" '^(running|degraded)$' "system state"
if [ "$state" = degraded ]; then
    echo "failed units (not ours, checked below):"
    systemctl list-units --failed --no-pager --plain
fi
if failed_units | grep -E '^(staf|stac|stas)'; then fail "a unit of stas failed"; fi
check unit_active systemd-udevd.service
check unit_active dbus.service
check unit_active systemd-journald.service
systemd-analyze time 2>/dev/null | head -n1
expect_eq "$(unit_prop multi-user.target ActiveState)" active "multi-user.target"
# nvme-cli's udev rules and units are there (stas must coexist with them)
check test -f /usr/lib/udev/rules.d/70-nvmf-autoconnect.rules
check test -f /usr/lib/systemd/system/nvmf-autoconnect.service
# first-boot provisioning is the package's job: the image has no host identity
check test ! -e /etc/nvme/hostnqn
check test ! -e /etc/nvme/hostid

# ---- the target: 2 subsystems on 127.0.0.1:8009 (one port: discovery and I/O)
nvmet_modules
nvmet_add_subsys 1
nvmet_add_subsys 2
nvmet_add_port "$NVMET_PORT_DISC4" 127.0.0.1 8009
nvmet_link 1 "$NVMET_PORT_DISC4"
nvmet_link 2 "$NVMET_PORT_DISC4"
expect_eq "$(nvme_discover_count 127.0.0.1 8009)" 2 "subsystems nvme discover lists"

# ---- the package
T_INST=$(uptime_s)
stas_install
log "installed in $(awk -v a="$T_INST" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
expect_match "$HOSTNQN" '^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f-]{36}$' "hostnqn provisioned by postinst"
expect_match "$HOSTID" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "hostid provisioned by postinst"
expect_eq "$(nvme show-hostnqn 2>/dev/null)" "$HOSTNQN" "nvme-cli's view of the host NQN"
for u in stafd stacd; do
    echo "after install: $u.service is $(systemctl is-enabled $u.service 2>/dev/null || true)," \
         "$(systemctl is-active $u.service 2>/dev/null || true)"
done

# ---- the daemons
conf_set /etc/stas/stafd.conf Controllers 'controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009'
grep -n '^controller' /etc/stas/stafd.conf
T_DAEMONS=$(uptime_s)
# restart, not start: a postinst that started them must not leave them on the old stafd.conf
check systemctl restart stafd.service stacd.service
wait_active stafd.service
wait_active stacd.service
for u in stafd stacd; do
    st=$(unit_prop $u.service StatusText)
    echo "$u.service: MainPID $(unit_prop $u.service MainPID), StatusText: $st"
    expect_ne "$st" "" "$u StatusText"
done

# ---- they connect what the target exposes; stacctl, nvme-cli and sysfs agree
expected=$(printf '%s 127.0.0.1 8009\n' "$(nvmet_subnqn 1)" "$(nvmet_subnqn 2)" | sort)
converged() { [ "$(stacctl_paths | cut -d' ' -f1-3)" = "$expected" ] && [ "$(stacctl_paths)" = "$(ioc_paths)" ]; }
if ! wait_for converged 60 0.5; then
    echo "--- stacctl ls:"; stacctl ls || true
    echo "--- sysfs:"; ioc_paths
    journal stafd.service | tail -n 30
    journal stacd.service | tail -n 30
    fail "stacd did not connect the 2 I/O controllers within 60 s"
fi
log "both I/O controllers connected $(awk -v a="$T_DAEMONS" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s after the restart"
echo "\$ stacctl ls"; stacctl ls
echo "\$ stafctl ls"; stafctl ls
echo "\$ nvme list-subsys"; nvme list-subsys
expect_eq "$(stacctl_paths)" "$(ioc_paths)" "stacctl ls = sysfs" > /dev/null
expect_eq "$(listsubsys_paths)" "$(ioc_paths)" "nvme list-subsys = sysfs" > /dev/null
echo "ok: stacctl ls, nvme list-subsys and sysfs show the same 2 I/O controllers:"
ioc_paths | sed 's/^/  /'
# an unprivileged user may read (the D-Bus policies allow it)
check as_user stacctl ls

# ---- a clean stop
check systemctl stop stacd.service stafd.service
for u in stafd stacd; do
    expect_eq "$(unit_prop $u.service Result)" success "$u Result"
    expect_eq "$(unit_prop $u.service ExecMainStatus)" 0 "$u exit status"
done
log "timing: runner started at ${STAS_VM_T_START} s of uptime, scenario took $(awk -v a="$T0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
