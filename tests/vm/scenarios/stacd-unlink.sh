# stas-vm: subsystems=4 timeout=240
# Default disconnect-scope (only-stas-connections): unlinking a subsystem from the port
# whose discovery log stafd reads removes its entry, and stacd disconnects that I/O
# controller only; linking it back reconnects it (AEN -> stafd -> stacd) within seconds.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up "$N"
iocs > before.txt
D2=$(ioc_dev 2)
log "subsystem 2 is on $D2"

log "1: unlink subsystem 2 from 127.0.0.1:8009"
ev_start unlink
t0=$(_cs)
nvmet_unlink 2 127.0.0.1:8009
check wait_for "[ ! -e /sys/class/nvme/$D2 ]" 15
log "$D2 deleted $(( ($(_cs) - t0) * 10 )) ms after the unlink"
sleep 1
ev_stop
expect_eq "$(ev_count remove)" 1 "controllers removed"
expect_eq "$(ev_count add)" 0 "controllers created"
expect_eq "$(iocs | tr '\n' ' ')" "$(grep -v "^$D2 " before.txt | tr '\n' ' ')" "the other I/O controllers"
expect_eq "$(stacctl_devs | wc -l)" $((N - 1)) "stacctl lists"
stacctl --json ls | grep -q "$(nvmet_subnqn 2)\"" && fail "stacctl still lists subsystem 2"
grep -q "Disconnect initiated" "$STACD_LOG" || fail "no disconnect logged"

log "2: link it back"
t0=$(_cs)
nvmet_link 2 127.0.0.1:8009
check wait_for "[ -n \"\$(ioc_dev 2)\" ] && [ \$(live_iocs) -eq $N ]" 15
log "subsystem 2 live again on $(ioc_dev 2), $(( ($(_cs) - t0) * 10 )) ms after the link"
check wait_for "[ \$(stacctl_devs | wc -l) -eq $N ]" 5
expect_eq "$(iocs | grep -v " $(nvmet_subnqn 2)\$" | tr '\n' ' ')" "$(grep -v "^$D2 " before.txt | tr '\n' ' ')" "the others untouched"

stacd_stop
stafd_stop
trap - EXIT
log "done"
