# stas-vm: timeout=240
# The installed units as systemd sees them: `systemd-analyze verify` (including the
# Documentation= man pages) and `systemd-analyze security` at 2.0 or lower for both daemons,
# and the hardened daemons still do everything they need (connect, sysfs, netlink, D-Bus, the
# registry, the udev shadow): a DC and its I/O controllers, then a controller removed from the
# target is deleted through sysfs.
set -e

stas_install
units="stafd.service stacd.service stas-config.target stas-config@hostnqn.service stas-config@hostid.service"
log "systemd-analyze verify $units"
# shellcheck disable=SC2086
out=$(cd /usr/lib/systemd/system && systemd-analyze verify --man=yes $units 2>&1) || fail "verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify printed: $out"
echo "ok: verify is silent (man pages found: $(man -w stafd.service stacd.service stas-config.target stas-config@.service stafd stacd | wc -l) of 6)"
for d in stafd stacd; do
    systemd-analyze security --no-pager "$d.service" | grep -v '✓' | sed 's/^/    /'
    level=$(systemd-analyze security --no-pager "$d.service" | sed -n "s/.*Overall exposure level for $d.service: \([0-9.]*\).*/\1/p")
    log "$d exposure $level"
    awk -v l="$level" 'BEGIN { exit !(l != "" && l <= 2.0) }' || fail "$d exposure $level > 2.0"
    echo "ok: $d exposure $level <= 2.0"
done

log "the hardened daemons at work"
nvmet_modules
nvmet_setup 3
conf_set /etc/stas/stafd.conf Controllers "controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009"
cat > /etc/stas/stacd.conf <<'CONF'
[I/O controller connection management]
disconnect-scope = only-stas-connections
CONF
check systemctl restart stafd.service stacd.service
check wait_for '[ "$(nvme_ctrls io | wc -l)" -eq 3 ]' 60
expect_eq "$(nvme_ctrls discovery | wc -l)" 1 "discovery controllers"
expect_ge "$(find /run/nvme/registry -type f 2>/dev/null | wc -l)" 1 "registry entries"
[ ! -e /usr/lib/udev/rules.d/70-nvmf-autoconnect.rules ] ||
    check test -f /run/udev/rules.d/70-nvmf-autoconnect.rules
expect_match "$(stafctl ls)" 127.0.0.1 "stafctl ls"
log "a subsystem leaves the target: stacd deletes its controllers through sysfs"
nvmet_unlink 3 "$NVMET_PORT_DISC4"
check wait_for '[ "$(nvme_ctrls io | wc -l)" -eq 2 ]' 60
expect_eq "$(journalctl -b --no-pager -u stafd.service -u stacd.service -p warning | grep -ciE 'denied|not permitted|read-only file system|seccomp' || true)" 0 "permission errors in the journal"
expect_eq "$(unit_prop stafd.service NRestarts)$(unit_prop stacd.service NRestarts)" 00 "restarts"
log "done"
