# stas-vm: timeout=400
# stafd and stacd as systemd runs them, installed from the project's package: the identity is
# provisioned on first start (stas-config.target), both units reach active through READY=1 with
# a STATUS= summary, a reload keeps it, the watchdog restarts a daemon that stops pinging, and
# a stop keeps every kernel connection. A user without privileges reads the state and is denied
# tron. nvme-cli and sysfs are the reference throughout.
set -e

nvmet_modules
nvmet_setup 2
stas_install
ctrls() { nvme_ctrls | wc -l; }

# the package started both daemons (and stas-config.target, PartOf them) with its own files
check systemctl stop stafd.service stacd.service
expect_eq "$(unit_prop stas-config.target ActiveState)" inactive "stas-config.target after the stop"
log "first start: no /etc/nvme/hostnqn or hostid; stas-config.target provisions them"
rm -f /etc/nvme/hostnqn /etc/nvme/hostid
conf_set /etc/stas/stafd.conf Controllers "controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009"
check systemctl start stafd.service stacd.service
for u in stas-config@hostnqn stas-config@hostid; do
    expect_eq "$(unit_prop "$u.service" Result)" success "$u Result"
done
nqn=$(cat /etc/nvme/hostnqn); hid=$(cat /etc/nvme/hostid)
expect_match "$nqn" '^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f-]{36}$' "provisioned hostnqn"
expect_eq "${nqn##*:}" "$hid" "hostid (the UUID of the NQN)"
expect_match "$(stafctl status 2>&1)" "$nqn" "stafd's host NQN"

log "READY and STATUS"
for d in stafd stacd; do
    expect_eq "$(unit_prop "$d.service" ActiveState)" active "$d ActiveState"
    expect_eq "$(unit_prop "$d.service" Type)" notify "$d Type"
done
# the DC's log (port 127.0.0.1:8009) names both subsystems there: 2 I/O controllers + the DC
check wait_for '[ "$(nvme_ctrls io | wc -l)" -eq 2 ]' 60
for d in stafd stacd; do
    st=$(unit_prop "$d.service" StatusText)
    log "$d STATUS: $st"
    expect_ne "$st" "" "$d StatusText"
done
before=$(ctrls)
nvme list-subsys

log "reload: same process, the summary stays"
for d in stafd stacd; do
    pid=$(unit_prop "$d.service" MainPID)
    st=$(unit_prop "$d.service" StatusText)
    check systemctl reload "$d.service"
    check wait_for "journalctl -b -u $d.service --no-pager | grep -q 'Reloaded'" 20
    expect_eq "$(unit_prop "$d.service" MainPID)" "$pid" "$d MainPID after reload"
    expect_eq "$(unit_prop "$d.service" ActiveState)" active "$d ActiveState after reload"
    wait_for "[ -n \"\$(unit_prop $d.service StatusText)\" ]" 10 || fail "$d lost its STATUS on reload"
    log "$d STATUS after reload: $(unit_prop "$d.service" StatusText) (before: $st)"
done
expect_eq "$(ctrls)" "$before" "controllers after the reloads"

log "watchdog: a stopped daemon is restarted (WatchdogSec=4 s in a runtime drop-in)"
for d in stacd stafd; do
    mkdir -p "/run/systemd/system/$d.service.d"
    printf '[Service]\nWatchdogSec=4\n' > "/run/systemd/system/$d.service.d/watchdog.conf"
done
check systemctl daemon-reload
check systemctl restart stafd.service stacd.service
for d in stacd stafd; do
    expect_eq "$(unit_prop "$d.service" WatchdogUSec)" 4s "$d WatchdogUSec"
    n0=$(unit_prop "$d.service" NRestarts); pid=$(unit_prop "$d.service" MainPID)
    sleep 6   # pings at half the interval keep it alive
    expect_eq "$(unit_prop "$d.service" MainPID)" "$pid" "$d MainPID while it pings"
    log "SIGSTOP $d (pid $pid)"
    kill -STOP "$pid"
    check wait_for "[ \"\$(unit_prop $d.service NRestarts)\" -gt $n0 ] && [ \"\$(unit_prop $d.service ActiveState)\" = active ]" 60
    expect_match "$(journalctl -b -u "$d.service" --no-pager)" 'Watchdog timeout' "$d journal"
    expect_ne "$(unit_prop "$d.service" MainPID)" "$pid" "$d MainPID after the watchdog"
done
expect_eq "$(ctrls)" "$before" "controllers after the watchdog restarts"
rm -rf /run/systemd/system/stafd.service.d /run/systemd/system/stacd.service.d
check systemctl daemon-reload

log "a user without privileges reads the state and is denied tron (the installed D-Bus policy)"
for ctl in stafctl stacctl; do
    out=$(as_user "$ctl" ls 2>&1) || fail "$ctl ls as stasuser: $out"
    expect_match "$out" 'nqn\.' "$ctl ls as stasuser"
    rc=0; out=$(as_user "$ctl" tron 2>&1) || rc=$?
    expect_eq "$rc" 77 "$ctl tron as stasuser: exit status ($out)"
    check "$ctl" tron
    check "$ctl" troff
done

log "stop: the kernel keeps every connection"
check systemctl stop stacd.service stafd.service
for d in stafd stacd; do
    expect_eq "$(unit_prop "$d.service" ActiveState)" inactive "$d ActiveState"
    expect_eq "$(unit_prop "$d.service" ExecMainStatus)" 0 "$d exit status"
done
expect_eq "$(ctrls)" "$before" "controllers after the stop"
nvme list-subsys
log "done"
