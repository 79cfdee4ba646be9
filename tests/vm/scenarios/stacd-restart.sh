# stas-vm: subsystems=8 timeout=240
# Warm restart: stacd stopped (connections kept) and started again adopts every kernel I/O
# controller from its state file: no controller is created or removed, the devices are
# the same, and stacctl lists them all at once.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up "$N"
iocs > before.txt
STATE=/run/stacd/last-known-config.toml
check wait_for "[ \$(grep -c '^\[\[ioc\]\]' $STATE) -eq $N ]" 5
head -n 12 "$STATE"

ev_start restart
stacd_stop
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "I/O controllers while stacd is down"
log "restart"
stacd_start stacd2.log
# Adopted from the state file at start: listed within 2 s, before anything is connected.
check wait_for "[ \$(stacctl_devs | wc -l) -eq $N ]" 2
sleep 5
ev_stop
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "I/O controllers after the restart"
expect_eq "$(ev_count add)" 0 "controllers created"
expect_eq "$(ev_count remove)" 0 "controllers removed"
expect_eq "$(grep -c 'adopted existing kernel controller' stacd2.log)" "$N" "adopted"
if grep -q 'Connection established' stacd2.log; then fail "stacd connected anew"; fi
if grep -q 'Disconnect initiated' stacd2.log; then fail "stacd disconnected"; fi
stacctl ls

stacd_stop
stafd_stop
trap - EXIT
log "done"
