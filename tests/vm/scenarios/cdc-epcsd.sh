# stas-vm: subsystems=2 timeout=180
# EPCSD with a discovery controller on the wire (DECISIONS.md item 18): stas-cdc's log says
# of itself (the "current discovery subsystem" entry) whether it supports explicit
# persistent connections. Under persistent=auto stafd holds the connection while EPCSD is 1
# (decided once per kernel controller: a later log without EPCSD does not park it); when
# stafd adopts it after a restart and reads EPCSD 0, it parks the DC (disconnects, keeps the log) and polls it
# every epcsd-poll-interval-minutes; when EPCSD is back, the connection is held again.
set -e
. "$STAS_VM_SCENARIO_DIR/cdc-common.inc"
trap cdc_all_dump EXIT
nvmet_setup 2
current() {
    cdc_self "$1"
    shift
    for i in "$@"; do cdc_entry "$i"; done
}
current '"epcsd"' 1 | cdc_log
cdc_start
cdc_stas 'persistent=auto
epcsd-poll-interval-minutes=0.1'

log "1: EPCSD 1: the discovery connection is held (beyond a poll interval)"
check wait_for '[ $(live_iocs) -eq 1 ]' 20
dev=$(cdc_dev)
[ -n "$dev" ] || fail "no discovery controller"
sleep 8
expect_eq "$(cdc_dev)" "$dev" "the DC after 8 s"
expect_eq "$(cdc_n accept)" 1 "connections stas-cdc accepted"
grep -q 'not holding the discovery connection' "$STAFD_LOG" && fail "stafd parked a DC with EPCSD 1"

log "2: a log change clears EPCSD (and adds subsystem 2): decided once per connection, held"
current '' 1 2 | cdc_log
cdc_reload
check wait_for '[ $(live_iocs) -eq 2 ]' 20
expect_ge "$(cdc_n aen)" 1 "AENs stas-cdc sent"
sleep 2
expect_eq "$(cdc_dev)" "$dev" "the DC after the log change"

log "   stafd restarts: it adopts the DC, reads EPCSD 0 and parks it"
stafd_stop
stafd_start stafd-2.log
check wait_for "grep -q 'not holding the discovery connection' '$STAFD_LOG'" 20
check wait_for '[ -z "$(cdc_dev)" ]' 10
expect_eq "$(live_iocs)" 2 "I/O controllers after parking"

log "3: parked, it is polled (epcsd-poll-interval-minutes=0.1: 6 s)"
accepts=$(cdc_n accept)
check wait_for "[ \$(cdc_n accept) -ge $((accepts + 2)) ]" 20
expect_eq "$(live_iocs)" 2 "I/O controllers while parked"
cdc_ev accept | tail -n 3 | while read -r l; do echo "   poll connection at uptime $(echo "$l" | cdc_val uptime)"; done

log "4: EPCSD back: the next poll holds the connection again"
current '"epcsd"' 1 2 | cdc_log
cdc_reload
# (a poll connection that read the old log is parked again: wait for one stafd holds)
check wait_for '[ -n "$(cdc_dev)" ] && ! stafctl status | grep -q "parked.*True"' 20
dev=$(cdc_dev)
sleep 8
expect_eq "$(cdc_dev)" "$dev" "the DC 8 s after EPCSD came back"
expect_eq "$(live_iocs)" 2 "I/O controllers"
stacd_stop
stafd_stop
cdc_stop
trap - EXIT
log "done"
