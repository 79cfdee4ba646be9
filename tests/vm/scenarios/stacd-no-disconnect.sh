# stas-vm: subsystems=4 timeout=240
# disconnect-scope=no-disconnect: when a subsystem's entry leaves the discovery log, stacd
# forgets its I/O controller but leaves the kernel connection alone ("sticky"); when the
# entry comes back, stacd adopts the same kernel controller instead of connecting again.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up "$N" '[Global]
reconnect-delay=1
[I/O controller connection management]
disconnect-scope=no-disconnect'
iocs > before.txt
D3=$(ioc_dev 3)
NQN3=$(nvmet_subnqn 3)
log "subsystem 3 is on $D3"

log "1: unlink subsystem 3: stacd forgets it, the kernel keeps it"
ev_start sticky
nvmet_unlink 3 127.0.0.1:8009
check wait_for "! stacctl --json ls | grep -q '$NQN3\"'" 10
sleep 3
[ -e "/sys/class/nvme/$D3" ] || fail "$D3 was deleted"
log "$D3 kept, state $(cat /sys/class/nvme/$D3/state)"
expect_eq "$(stacctl_devs | wc -l)" $((N - 1)) "stacctl lists"
if grep -q "Disconnect initiated" "$STACD_LOG"; then fail "stacd disconnected something"; fi

log "2: link it back: the kernel reconnects it, stacd adopts it"
nvmet_link 3 127.0.0.1:8009
check wait_for "[ \$(live_iocs) -eq $N ]" 20
check wait_for "[ \$(stacctl_devs | wc -l) -eq $N ]" 10
ev_stop
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "same kernel controllers"
expect_eq "$(ev_count add)" 0 "controllers created"
expect_eq "$(ev_count remove)" 0 "controllers removed"
grep "$D3" "$STACD_LOG" | grep -q "adopted existing kernel controller" || fail "$D3 not adopted"

stacd_stop
stafd_stop
trap - EXIT
log "done"
