# stas-vm: subsystems=4 timeout=300
# DECISIONS.md item 8: stafd unreachable or restarting never disconnects anything. stafd
# is stopped for 30 s and started again (with its state file, then without it): stacd
# creates and removes no controller, and keeps following stafd afterwards.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up "$N"
iocs > before.txt

log "1: stafd stopped for 30 s"
ev_start stafd-down
stafd_stop
sleep 30
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "I/O controllers with stafd down"
expect_eq "$(live_iocs)" "$N" "live I/O controllers"
expect_eq "$(stacctl_devs | wc -l)" "$N" "stacctl lists"
grep -q "stafd unreachable" "$STACD_LOG" || fail "stacd did not notice stafd leaving"

log "2: stafd started again (warm restart from its state file)"
stafd_start stafd2.log
check wait_for "[ \$(grep -c 'stafd answered' $STACD_LOG) -ge 2 ]" 15
sleep 3
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "I/O controllers after stafd is back"

log "3: stafd restarted without its state file (it reads its log again)"
STAFD_LOG=stafd2.log
stafd_stop
rm -f /run/stafd/last-known-config.toml
sleep 2
stafd_start stafd3.log
check wait_for 'dlp_json 127.0.0.1 | grep -q "\"subtype\": \"nvme\""' 15
sleep 3
ev_stop
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "I/O controllers after a cold stafd restart"
expect_eq "$(ev_count add)" 0 "controllers created"
expect_eq "$(ev_count remove)" 0 "controllers removed"
if grep -q "Disconnect initiated" "$STACD_LOG"; then fail "stacd disconnected something"; fi

log "4: stacd still follows stafd: an unlinked subsystem goes"
D1=$(ioc_dev 1)
nvmet_unlink 1 127.0.0.1:8009
check wait_for "[ ! -e /sys/class/nvme/$D1 ]" 15

STAFD_LOG=stafd3.log
stacd_stop
stafd_stop
trap - EXIT
log "done"
