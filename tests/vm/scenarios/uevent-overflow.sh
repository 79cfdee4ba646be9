# stas-vm: subsystems=4 timeout=300
# No AEN lost in a uevent overflow (issue 12): stafd and stacd run with a tiny uevent socket
# buffer (STAS_UEVENT_RCVBUF=1: the kernel's minimum, one or two events). Both daemons are
# stalled (SIGSTOP, as a busy CPU would) while a storm of uevents overflows their sockets and
# a new subsystem is linked: its discovery-log-change AEN is dropped with the storm (another
# listener sees it), and the controller's AEN stays masked until its log is read again.
# Once resumed, both daemons report the overflow (ENOBUFS), stafd re-reads the log of its
# discovery controller, and stacd connects the new subsystem: the I/O controllers equal what
# the target exposes on 127.0.0.1:8009. A later link gives an AEN again (re-armed).
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
STORM=${STORM:-300}
export STAS_UEVENT_RCVBUF=1
stack_up "$N"
grep -q 'STAS_UEVENT_RCVBUF set' "$STAFD_LOG" || fail "stafd did not log the receive-buffer knob"
grep -q 'STAS_UEVENT_RCVBUF set' "$STACD_LOG" || fail "stacd did not log the receive-buffer knob"

LOST='uevents were lost; re-reading'
lost() { grep -c "$LOST" "$1" || true; }
# exposed: "SUBNQN 127.0.0.1 8009" of every subsystem linked to port 1 (configfs), sorted
exposed() {
    for _e_l in "$NVMET/ports/$NVMET_PORT_DISC4/subsystems/"*; do
        [ -e "$_e_l" ] || continue
        echo "${_e_l##*/} 127.0.0.1 8009"
    done | sort
}
# connected: the same three fields of every live kernel I/O controller (sysfs)
connected() { ioc_paths | awk '{ print $1, $2, $3 }'; }
converged() { [ "$(connected)" = "$(exposed)" ]; }
# storm COUNT: COUNT change uevents (the I/O controllers and a few virtual devices, round robin)
storm() {
    _st_i=0
    set -- /sys/class/nvme/nvme*/uevent /sys/devices/virtual/mem/null/uevent /sys/devices/virtual/mem/zero/uevent
    while [ "$_st_i" -lt "$STORM_N" ]; do
        for _st_f in "$@"; do
            echo change > "$_st_f"
            _st_i=$((_st_i + 1))
        done
    done
}

DC=$(dc_field 127.0.0.1 device)
expect_match "$DC" '^nvme[0-9]+$' "stafd's discovery controller"
converged || fail "not converged before the storm"
f0=$(lost "$STAFD_LOG") c0=$(lost "$STACD_LOG")
log "overflows before the storm: stafd $f0, stacd $c0"

log "1: both daemons stalled; storm of $STORM uevents around the link of subsystem $((N + 1))"
NEW=$((N + 1))
nvmet_add_subsys "$NEW"
rm -f aen.ready
stas-kcheck wait-event "$DC" --kind aen --timeout 30 --ready aen.ready > aen.json &
AEN_PID=$!
wait_for '[ -e aen.ready ]' 10 || fail "uevent listener did not start"
kill -STOP "$STAFD_PID" "$STACD_PID"
STORM_N=$((STORM / 2)) storm
nvmet_link "$NEW" 127.0.0.1:8009
aen_rc=0
wait "$AEN_PID" || aen_rc=$?
cat aen.json
[ "$aen_rc" -eq 0 ] || { kill -CONT "$STAFD_PID" "$STACD_PID"; fail "the kernel sent no AEN for the link"; }
STORM_N=$((STORM / 2)) storm
t0=$(_cs)
kill -CONT "$STAFD_PID" "$STACD_PID"
log "resumed both daemons"

log "2: the overflow is reported, stafd re-reads the log, stacd connects subsystem $NEW"
check wait_for "[ \$(lost $STAFD_LOG) -gt $f0 ]" 30
check wait_for "[ \$(lost $STACD_LOG) -gt $c0 ]" 30
if ! wait_for converged 90; then
    echo "--- exposed"; exposed; echo "--- connected"; connected
    fail "the I/O controllers do not match the target after the overflow"
fi
t1=$(_cs)
f1=$(lost "$STAFD_LOG") c1=$(lost "$STACD_LOG")
log "converged $(( (t1 - t0) * 10 )) ms after resuming; overflows in the storm: stafd $((f1 - f0)), stacd $((c1 - c0)); $(live_iocs) I/O controllers"
expect_eq "$(live_iocs)" "$NEW" "live I/O controllers"
rereads=$(grep -c 'uevents were lost: reading the discovery log again' "$STAFD_LOG" || true)
expect_ge "$rereads" 1 "discovery log re-reads after an overflow (stafd)"
if ! wait_for '[ "$(stacctl_paths | awk "{ print \$1, \$2, \$3 }")" = "$(exposed)" ]' 30; then
    stacctl_paths
    fail "stacctl does not show what the target exposes"
fi
echo "ok: stacctl = sysfs = configfs ($NEW subsystems)"

log "3: the AEN is armed again: a new link is seen without any stall"
NEXT=$((N + 2))
nvmet_add_subsys "$NEXT"
nvmet_link "$NEXT" 127.0.0.1:8009
t2=$(_cs)
if ! wait_for converged 60; then
    echo "--- exposed"; exposed; echo "--- connected"; connected
    fail "subsystem $NEXT not connected: the AEN was not re-armed"
fi
log "subsystem $NEXT connected $(( ($(_cs) - t2) * 10 )) ms after its link"

grep -E 'panic|ERROR' "$STAFD_LOG" "$STACD_LOG" | grep -v 'uevent socket error' | head -n 5 > errors.txt || true
[ ! -s errors.txt ] || { cat errors.txt; fail "error lines in the daemons' logs"; }
kill -0 "$STAFD_PID" "$STACD_PID" || fail "a daemon died"
stacd_stop
stafd_stop
trap - EXIT
log "done"
