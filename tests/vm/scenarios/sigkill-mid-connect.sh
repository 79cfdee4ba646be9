# stas-vm: subsystems=64 timeout=600
# SIGKILL in the middle of connecting: stafd and stacd run under a stand-in for systemd's
# Restart=on-failure (faults-common.inc: restarted 2 s after a non-zero exit or a signal).
# 1. stafd is killed while stacd connects 64 I/O controllers; 2. stacd itself is killed
# while it connects them again (after they were deleted with stacd stopped). Each time,
# after the restart: no duplicate kernel controller (two with the same transport id), none
# missing (sysfs equals what the target exposes on port 1 in configfs), all live, and
# `nvme list-subsys` answers without an error. Figures: controllers at kill time, time to
# converge after the restart, duplicates found.
set -e
. "$STAS_VM_SCENARIO_DIR/faults-common.inc"
N=$STAS_VM_SUBSYSTEMS

live_io() {
    ctrl_ids | awk '$4 == "io" && $3 == "live"' | wc -l
}

# kill_mid_connect NAME: SIGKILL NAME once 2..N-1 I/O controllers are live (connects in
# flight: checked), wait for its restart and convergence, check the kernel's controllers.
kill_mid_connect() {
    wait_for "[ \$(live_io) -ge 2 ]" 120 || fail "stacd connected nothing"
    pid=$(sv_kill "$1" KILL)
    t_kill=$(_cs)
    # Counted once the killed daemon is gone (the supervisor reaped it): a connect it had
    # under way in the kernel has finished by then.
    live=$(live_io)
    all=$(ctrl_ids | awk '$4 == "io"' | wc -l)
    log "$1 (pid $pid) killed with $live of $N I/O controllers live ($all created)"
    [ "$live" -lt "$N" ] || fail "all $N were connected before the kill: nothing was in flight"
    wait_for "sv_started_since $1 $pid" 30 || fail "$1 was not restarted"
    t_restart=$(_cs)
    wait_for 'stafctl ls > /dev/null 2>&1 && stacctl ls > /dev/null 2>&1' 30 ||
        fail "the daemons did not come back on D-Bus"
    if ! wait_for converged $((60 + N * 2)) 0.5; then
        ctrl_ids
        echo "--- dup_keys:"; dup_keys
        fail "no convergence after restarting $1"
    fi
    t_conv=$(_cs)
    # Both daemons see them all (stacd's view settled): then look once more.
    wait_for "[ \$(stacctl_paths | wc -l) -eq $N ]" 60 || fail "stacctl does not list $N"
    wait_for "[ \$(stafctl --json ls | json_values device | wc -l) -eq 1 ]" 30 ||
        fail "stafctl does not list its DC"
    converged || { ctrl_ids; fail "controllers changed after convergence"; }
    dups=$(dup_keys | wc -l)
    expect_eq "$dups" 0 "duplicate controllers"
    check list_subsys_ok
    expect_eq "$(grep -c '^ +- nvme' list-subsys.out)" $((N + 1)) "controllers in nvme list-subsys"
    log "FIGURES $1: killed with $live/$N live ($all created); restarted after $(( (t_restart - t_kill) * 10 )) ms;" \
        "converged $(( (t_conv - t_restart) * 10 )) ms after the restart ($(( (t_conv - t_kill) * 10 )) ms after the kill);" \
        "duplicates $dups; restarts: stafd $(sv_restarts stafd), stacd $(sv_restarts stacd)"
}

stack_up_supervised "$N"

log "1: SIGKILL stafd while stacd connects $N I/O controllers"
kill_mid_connect stafd

log "2: SIGKILL stacd while it connects them again"
sv_stop stacd
for c in $(nvme_ctrls io); do echo 1 > "/sys/class/nvme/$c/delete_controller"; done
check wait_for '[ -z "$(nvme_ctrls io)" ]' 60
STATE=/run/stacd/last-known-config.toml
[ -s "$STATE" ] || fail "no stacd state file"
supervise stacd stacd --tron
kill_mid_connect stacd
expect_eq "$(sv_restarts stafd)" 1 "stafd restarts"
expect_eq "$(sv_restarts stacd)" 1 "stacd restarts"

sv_stop stacd
sv_stop stafd
trap - EXIT
log "done"
