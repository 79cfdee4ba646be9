# stas-vm: subsystems=4 timeout=240
# SIGHUP re-reads stacd.conf: exclude= entries added to it disconnect exactly the I/O
# controllers they match (nothing else is touched); removing them reconnects those.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
CONF='[Global]
reconnect-delay=1'
stack_up "$N" "$CONF"
iocs > before.txt
D2=$(ioc_dev 2) D4=$(ioc_dev 4)
log "subsystems 2 and 4 are on $D2 and $D4"

log "1: SIGHUP with two exclude= lines"
printf '%s\n[Controllers]\nexclude = subsysnqn=%s\nexclude = transport=tcp;subsysnqn=%s\n' \
    "$CONF" "$(nvmet_subnqn 2)" "$(nvmet_subnqn 4)" | stacd_conf
ev_start exclude
kill -HUP "$STACD_PID"
check wait_for "[ ! -e /sys/class/nvme/$D2 ] && [ ! -e /sys/class/nvme/$D4 ]" 10
sleep 1
ev_stop
expect_eq "$(ev_count remove)" 2 "controllers removed"
expect_eq "$(ev_count add)" 0 "controllers created"
expect_eq "$(iocs | tr '\n' ' ')" "$(grep -v "^\($D2\|$D4\) " before.txt | tr '\n' ' ')" "the other I/O controllers"
expect_eq "$(stacctl_devs | wc -l)" $((N - 2)) "stacctl lists"
kill -0 "$STACD_PID" || fail "stacd died on SIGHUP"

log "2: SIGHUP without them: both come back"
echo "$CONF" | stacd_conf
kill -HUP "$STACD_PID"
check wait_for "[ \$(live_iocs) -eq $N ]" 15
check wait_for "[ \$(stacctl_devs | wc -l) -eq $N ]" 5

stacd_stop
stafd_stop
trap - EXIT
log "done"
