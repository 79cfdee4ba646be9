# stas-vm: subsystems=2 timeout=180
# The discovery-log-change AEN on the wire: stas-cdc holds the kernel's Async Event
# Request, completes it when its log changes, and masks further AENs until the host reads
# the log with RAE cleared. A subsystem added to the log reaches stacd's connections
# through the kernel's uevent, stafd's read and D-Bus signal, within the leading-edge
# debounce.
set -e
. "$STAS_VM_SCENARIO_DIR/cdc-common.inc"
trap cdc_all_dump EXIT
nvmet_setup 2
entries() {
    cdc_self
    for i in "$@"; do cdc_entry "$i"; done
}
entries 1 | cdc_log
cdc_start
cdc_stas
check wait_for '[ $(live_iocs) -eq 1 ]' 20
check wait_for '[ $(cdc_n set-features "\"fid\":11,") -ge 1 ]' 5
echo "   async event configuration: $(cdc_ev set-features '"fid":11,' | tail -n1 | cdc_val value)"
check wait_for '[ $(cdc_n aer-held) -ge 1 ]' 5

log "1: subsystem 2 joins the log: AEN, read, connection"
reads=$(cdc_n get-log-page '"lid":112,')
entries 1 2 | cdc_log
t0=$(_cs)
cdc_reload
check wait_for '[ $(live_iocs) -eq 2 ]' 10
log "   subsystem 2 connected $(( ($(_cs) - t0) * 10 )) ms after the log changed"
check wait_for '[ $(cdc_n aen) -eq 1 ]' 2
aen=$(cdc_ev aen)
expect_eq "$(echo "$aen" | cdc_val result)" 0x0070f002 "AEN completion result"
aen_seq=$(echo "$aen" | cdc_val seq)
read_after=$(cdc_ev get-log-page '"lid":112,.*"rae":false' | awk -v s="$aen_seq" -F'"seq":' '{ split($2, a, ","); if (a[1] + 0 > s) print }' | wc -l)
expect_ge "$read_after" 1 "discovery log reads with RAE cleared after the AEN"
check wait_for "[ \$(cdc_ev aer-held | tail -n1 | cdc_val seq) -gt $aen_seq ]" 5
grep -q "Change of Discovery Log Page\|NVME_AEN" "$STAFD_LOG" || fail "stafd did not log the AEN"

log "2: two changes in a row: each read unmasks, and the last one is seen"
entries 2 | cdc_log
cdc_reload
entries 1 2 | cdc_log
cdc_reload
sleep 3
check wait_for '[ $(live_iocs) -eq 2 ]' 15
echo "   AENs sent: $(cdc_n aen), discovery log reads: $(( $(cdc_n get-log-page '"lid":112,') - reads ))"
expect_ge "$(cdc_n aen)" 2 "AENs"
stacd_stop
stafd_stop
cdc_stop
trap - EXIT
log "done"
