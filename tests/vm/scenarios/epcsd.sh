# stas-vm: subsystems=2 timeout=240
# EPCSD and `persistent` (DECISIONS.md item 18). Linux nvmet's discovery log has a "current
# discovery subsystem" entry with EFLAGS 0, so its discovery controller does not support
# persistent discovery connections (EPCSD 0). With persistent=auto stafd parks it: reads
# the log, disconnects, keeps the log pages (stacd keeps every I/O controller) and reads
# them again every epcsd-poll-interval-minutes (0.1 here: 6 s), so a subsystem linked
# while parked is connected after the next poll. With persistent=force the connection is
# held and the discovery-log-change AEN works as before.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS

dcs() {
    nvme_ctrls discovery | wc -l
}

nvmet_setup "$N"
stas_start 'persistent=auto
epcsd-poll-interval-minutes=0.1'
check wait_for "[ \$(live_iocs) -eq $N ]" 30

log "1: persistent=auto, EPCSD 0: the DC is parked, stacd keeps its I/O controllers"
check wait_for "grep -q 'not holding the discovery connection' '$STAFD_LOG'" 20
check wait_for "[ \$(dcs) -eq 0 ]" 10
stafctl status | grep -q "'parked': 'True'\|parked.*True" || { stafctl status; fail "stafctl does not show the DC parked"; }
sleep 2
expect_eq "$(live_iocs)" "$N" "I/O controllers live while parked"
expect_eq "$(stacctl_devs | wc -l)" "$N" "stacctl's controllers while parked"

log "2: a subsystem linked while parked is connected after the next poll"
nvmet_add_subsys 3
nvmet_link 3 127.0.0.1:8009
check wait_for "[ \$(live_iocs) -eq $((N + 1)) ]" 30
expect_ge "$(grep -c 'not holding the discovery connection' "$STAFD_LOG")" 2 "parkings (one per poll)"

log "3: persistent=force: the connection is held and AENs work"
stafd_stop
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Discovery controller connection management]
persistent=force
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
CONF
stafd_start stafd-force.log
check wait_for "[ \$(dcs) -eq 1 ]" 20
sleep 3
expect_eq "$(dcs)" 1 "discovery controllers held"
nvmet_add_subsys 4
nvmet_link 4 127.0.0.1:8009
check wait_for "[ \$(live_iocs) -eq $((N + 2)) ]" 10
grep -q "Change of Discovery Log Page" "$STAFD_LOG" || fail "no AEN seen"

stacd_stop
stafd_stop
trap - EXIT
log "done"
