# stas-vm: subsystems=64 timeout=300
# Scale check of the target: nvmet serves STAS_VM_SUBSYSTEMS subsystems (64 unless
# --subsystems says otherwise; 256 works too), every port lists all of them, and
# nvme connect-all brings up one live I/O controller per subsystem.
set -e
N=$STAS_VM_SUBSYSTEMS
nvmet_setup "$N"
expect_eq "$(ls "$NVMET/subsystems" | wc -l)" "$N" "subsystems in configfs"
for addr in 127.0.0.1 ::1; do
    for svc in 8009 4420; do
        expect_eq "$(nvme_discover_count "$addr" "$svc")" "$N" "NVM subsystems listed by $addr:$svc"
    done
done

log "nvme connect-all -t tcp -a 127.0.0.1 -s 8009"
t0=$(_cs)
check nvme connect-all -t tcp -a 127.0.0.1 -s 8009
check wait_for '[ "$(nvme_ctrls io | wc -l)" -eq "$N" ]' $((N / 2 + 30))
log "$N I/O controllers in $(( ($(_cs) - t0) * 10 )) ms"
live=0
for c in $(nvme_ctrls io); do
    [ "$(cat /sys/class/nvme/"$c"/state)" = live ] && live=$((live + 1))
done
expect_eq "$live" "$N" "live I/O controllers"
expect_eq "$(ls /sys/class/nvme-subsystem | wc -l)" "$N" "nvme-subsystem entries"

check nvme disconnect-all
check wait_for '[ -z "$(nvme_ctrls)" ]' $((N / 2 + 30))
log "done"
