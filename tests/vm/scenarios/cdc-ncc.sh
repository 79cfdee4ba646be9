# stas-vm: subsystems=2 timeout=180
# NCC with a discovery controller on the wire: stas-cdc's log lists subsystem 2 at a port
# nothing listens on, once with the NCC bit ("no CDC connectivity") and once without.
# With connect-attempts-on-ncc=2, stacd gives up on the NCC entry after 2 failed attempts
# and keeps retrying the other; when the port comes up and a log change clears NCC, stacd
# connects at once.
set -e
. "$STAS_VM_SCENARIO_DIR/cdc-common.inc"
trap cdc_all_dump EXIT
nvmet_setup 2
entries() {
    cdc_self
    cdc_entry 1
    cdc_entry 2 4421 "eflags = [$1]"
    cdc_entry 2 4422
}
entries '"ncc"' | cdc_log
cdc_start
cdc_stas '' 'connect-attempts-on-ncc=2'

log "1: the NCC entry is given up after 2 attempts; the other dead path is retried"
check wait_for '[ $(live_iocs) -eq 1 ]' 20
check wait_for "grep -q 'connect-attempts-on-ncc is reached' '$STACD_LOG'" 15
grep 'connect-attempts-on-ncc is reached' "$STACD_LOG" | head -n 2
gaveup=$(grep 'connect-attempts-on-ncc is reached' "$STACD_LOG")
echo "$gaveup" | grep -q 'trsvcid=4421\|4421' || fail "the give-up is not about the NCC entry (4421)"
echo "$gaveup" | grep -q '4422' && fail "stacd gave up on the entry without NCC (4422)"
echo "$gaveup" | grep -q 'attempts=2' || fail "stacd did not give up after 2 attempts"

log "2: the port comes up and NCC clears: stacd connects at once"
nvmet_add_port 5 127.0.0.1 4421
nvmet_link 2 5
entries '' | cdc_log
cdc_reload
check wait_for "grep -q 'NCC cleared: connecting now' '$STACD_LOG'" 15
check wait_for "ioc_paths | grep -q ' 127.0.0.1 4421 '" 15
ioc_paths
stacd_stop
stafd_stop
cdc_stop
trap - EXIT
log "done"
