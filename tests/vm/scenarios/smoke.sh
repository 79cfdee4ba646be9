# stas-vm: subsystems=4 timeout=120 kernels=6.1,6.12
# Smoke test of the rig: nvmet serves N subsystems on 127.0.0.1/::1 ports 8009 and
# 4420, nvme discover sees all of them on every port, and an nvme-cli connect of
# one I/O controller creates a namespace block device.
set -e
N=$STAS_VM_SUBSYSTEMS
nvmet_setup "$N"

log "discovery log of 127.0.0.1:8009:"
nvme discover -t tcp -a 127.0.0.1 -s 8009
for addr in 127.0.0.1 ::1; do
    for svc in 8009 4420; do
        expect_eq "$(nvme_discover_count "$addr" "$svc")" "$N" "NVM subsystems listed by $addr:$svc"
    done
done

SUB=$(nvmet_subnqn 1)
log "connect $SUB on 127.0.0.1:4420 with nvme-cli"
check nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$SUB"
check wait_for 'ls /dev/nvme*n1' 10
CTRL=$(nvme_ctrls io)
expect_match "$CTRL" '^nvme[0-9]+$' "I/O controller"
expect_eq "$(cat /sys/class/nvme/"$CTRL"/state)" live "state of $CTRL"
expect_eq "$(cat /sys/class/nvme/"$CTRL"/subsysnqn)" "$SUB" "subsysnqn of $CTRL"
expect_eq "$(cat /sys/class/nvme/"$CTRL"/transport)" tcp "transport of $CTRL"
DEV=$(ls /dev/nvme*n1 | head -n 1)
log "namespace block device: $DEV ($(cat /sys/block/"${DEV#/dev/}"/size) sectors)"
check dd if="$DEV" of=/dev/null bs=64k count=16
nvme list

echo "fabrics options: $(head -n 1 /dev/nvme-fabrics)"

check nvme disconnect -n "$SUB"
check wait_for '[ -z "$(nvme_ctrls)" ]' 10
log "smoke test done"
