# stas-vm: subsystems=256 timeout=900
# A storm of target changes with 256 subsystems (issue 12): stafd (DC 127.0.0.1:8009) and
# stacd run while subsystems are linked to and unlinked from port 1 at 10 per second for
# 60 s, in a fixed pseudo-random order (each unlink drops the host's controller; each link
# is a discovery-log-change AEN). Once quiet, the live I/O controllers are exactly what the
# target exposes on 127.0.0.1:8009 (configfs vs sysfs), no two kernel controllers share a
# transport ID, no controller is left behind, and neither daemon restarted or logged an
# error. Prints: events applied, time to converge, controllers, peak RSS and CPU time.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
RATE=${STORM_RATE:-10}        # link/unlink per second
SECS=${STORM_SECS:-60}
stack_up "$N"
PIDS="$STAFD_PID $STACD_PID"

# exposed: "SUBNQN 127.0.0.1 8009" of every subsystem linked to port 1 (configfs), sorted
exposed() {
    for _e_l in "$NVMET/ports/$NVMET_PORT_DISC4/subsystems/"*; do
        [ -e "$_e_l" ] || continue
        echo "${_e_l##*/} 127.0.0.1 8009"
    done | sort
}
# all_ioc_ids: "SUBNQN TRADDR TRSVCID" of every kernel I/O controller, whatever its state
all_ioc_ids() {
    for _a_c in /sys/class/nvme/nvme*; do
        read -r _a_k < "$_a_c/cntrltype" 2>/dev/null || continue
        [ "$_a_k" = io ] || continue
        read -r _a_a < "$_a_c/address" 2>/dev/null || continue
        read -r _a_n < "$_a_c/subsysnqn" 2>/dev/null || continue
        _a_t=${_a_a#traddr=}; _a_t=${_a_t%%,*}
        _a_s=${_a_a#*,trsvcid=}; _a_s=${_a_s%%,*}
        echo "$_a_n $_a_t $_a_s"
    done | sort
}
live_ids() { ioc_paths | awk '{ print $1, $2, $3 }'; }
converged() {
    _cv_x=$(exposed)
    [ "$(live_ids)" = "$_cv_x" ] && [ "$(all_ioc_ids)" = "$_cv_x" ]
}
figures() {
    for _f_p in $PIDS; do
        _f_n=$(cat "/proc/$_f_p/comm")
        _f_hwm=$(awk '/^VmHWM/ { print $2 " " $3 }' "/proc/$_f_p/status")
        _f_cpu=$(awk '{ print $14 + $15 }' "/proc/$_f_p/stat")
        log "$_f_n (pid $_f_p): peak RSS $_f_hwm, CPU $((_f_cpu / 100)).$(printf %02d $((_f_cpu % 100))) s (utime+stime)"
    done
}

log "before the storm"
figures
converged || fail "not converged before the storm"

log "storm: $((RATE * SECS)) link/unlink on 127.0.0.1:8009 at $RATE/s for $SECS s"
# Fixed LCG (glibc constants): the same sequence every run. One fork per event (ln or
# rm): the helpers' subshells would not keep up with 10/s under TCG.
P1=$NVMET/ports/$NVMET_PORT_DISC4/subsystems
seed=12345 ops=0 links=0 unlinks=0 late=0
now_cs() { read -r _n_u _n_r < /proc/uptime; NOW=$(( ${_n_u%.*} * 100 + 1${_n_u#*.} - 100 )); }
now_cs; t0=$NOW
while [ "$ops" -lt $((RATE * SECS)) ]; do
    seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
    i=$(( (seed / 65536) % N + 1 ))
    if [ -e "$P1/$NVMET_SUBNQN_PREFIX$i" ]; then
        rm "$P1/$NVMET_SUBNQN_PREFIX$i" || fail "cannot unlink subsystem $i"
        unlinks=$((unlinks + 1))
    else
        ln -s "$NVMET/subsystems/$NVMET_SUBNQN_PREFIX$i" "$P1/" || fail "cannot link subsystem $i"
        links=$((links + 1))
    fi
    ops=$((ops + 1))
    # pace on the clock (no drift): event k at t0 + k / RATE
    now_cs
    [ $((NOW - t0)) -le $((ops * 100 / RATE + 10)) ] || late=$((late + 1))
    while [ $((NOW - t0)) -lt $((ops * 100 / RATE)) ]; do sleep 0.05; now_cs; done
done
t1=$(_cs)
log "storm over: $ops events applied ($links links, $unlinks unlinks) in $(( (t1 - t0) * 10 )) ms ($late more than 100 ms late); $(exposed | wc -l) subsystems exposed"
kill -0 $PIDS || fail "a daemon died during the storm"

if ! wait_for converged 600 1; then
    exposed > exposed.txt; live_ids > live.txt; all_ioc_ids > all.txt
    echo "--- exposed but not live"; comm -23 exposed.txt live.txt | head -n 20
    echo "--- live but not exposed"; comm -13 exposed.txt live.txt | head -n 20
    echo "--- not live"; comm -13 live.txt all.txt | head -n 20
    fail "the I/O controllers do not match the target after the storm"
fi
t2=$(_cs)
log "converged $(( (t2 - t1) * 10 )) ms after the storm: $(live_iocs) live I/O controllers = $(exposed | wc -l) exposed"
dups=$(all_ioc_ids | uniq -d)
[ -z "$dups" ] || { echo "$dups" | head; fail "two kernel controllers with the same transport ID"; }
echo "ok: no duplicate controller"
# stacctl agrees (it publishes at most every 50 ms: poll)
if ! wait_for '[ "$(stacctl_paths | awk "{ print \$1, \$2, \$3 }")" = "$(exposed)" ]' 60 1; then
    fail "stacctl does not show what the target exposes"
fi
echo "ok: stacctl = sysfs = configfs"
# still the same processes (kill -0 on both PIDs), nothing logged as an error
kill -0 $PIDS || fail "a daemon died"
expect_eq "$(pidof stafd)" "$STAFD_PID" "stafd pid"
expect_eq "$(pidof stacd)" "$STACD_PID" "stacd pid"
# One error is the storm's doing, not a fault: a connect the target refused because the
# subsystem was unlinked between stafd's log read and stacd's connect (the next log removes
# it; convergence above shows none is left). Any other error line fails.
refused=$(grep -c ' ERROR Failed to connect to controller.*rejected by the target' "$STACD_LOG" || true)
if grep -E ' ERROR |panic' "$STAFD_LOG" "$STACD_LOG" \
    | grep -v ' ERROR Failed to connect to controller.*rejected by the target' > errors.txt; then
    head -n 10 errors.txt
    fail "error lines in the daemons' logs"
fi
echo "ok: no error line (besides $refused connect(s) refused for a subsystem unlinked meanwhile)"
figures
stacd_stop
stafd_stop
trap - EXIT
log "done"
