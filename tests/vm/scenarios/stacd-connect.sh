# stas-vm: subsystems=32 timeout=300 kernels=6.1,6.12
# stafd and stacd together on a real kernel: every subsystem stafd's discovery log lists
# gets its I/O controller, `stacctl ls` lists them with their devices (the same as sysfs),
# the parameters of stacd.conf reach the kernel, idle stacd uses no CPU, and stopping both
# daemons keeps every connection.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up "$N" '[Global]
reconnect-delay=1
ctrl-loss-tmo=120
nr-io-queues=1'

log "1: stacctl lists every I/O controller with its device"
# sysfs shows a controller live as soon as the kernel connected it; stacd records it when
# its connect returns, a moment later (under load, after the last ones' uevents)
check wait_for "[ \$(stacctl ls | grep -c '^nvme[0-9].* stas *\$') -eq $N ]" 15
stacctl ls > ls.txt
head -n 5 ls.txt
expect_eq "$(grep -c '^nvme[0-9]' ls.txt)" "$N" "table rows with a device"
iocs > sysfs.txt
expect_eq "$(wc -l < sysfs.txt)" "$N" "kernel I/O controllers"
expect_eq "$(stacctl_devs | tr '\n' ' ')" "$(awk '{ print $1 }' sysfs.txt | sort | tr '\n' ' ')" "stacctl devices = sysfs devices"
# Each row pairs the device with the subsystem sysfs shows for it, and the registry's owner
# (stas) in the last column.
while read -r dev nqn; do
    grep -q "^$dev .* $nqn  *stas *\$" ls.txt || fail "stacctl ls does not show $dev with $nqn, owned by stas"
done < sysfs.txt
echo "ok: every row pairs its device with its subsystem"
stacctl --json ls -d > ls-d.json
expect_eq "$(grep -c '"connected": "True"' ls-d.json)" "$N" "connected in ls -d"
expect_eq "$(grep -c '"dlpe.eflags.ncc": "False"' ls-d.json)" "$N" "each carries its log page entry"
D=$(ioc_dev 1)
expect_eq "$(cat /sys/class/nvme/$D/address | sed -n 's/.*trsvcid=\([0-9]*\).*/\1/p')" 8009 "connected where the DLPE says"
expect_eq "$(cat /sys/class/nvme/$D/queue_count)" 2 "nr-io-queues=1 (admin + 1 I/O queue)"
expect_eq "$(cat /sys/class/nvme/$D/ctrl_loss_tmo)" 120 "ctrl-loss-tmo from stacd.conf"

log "2: idle: no polling"
cpu() { awk '{ print $14 + $15 }' "/proc/$STACD_PID/stat"; }
sleep 2
c0=$(cpu); sleep 3; c1=$(cpu)
log "stacd CPU ticks while idle: $((c1 - c0)); total $c1 ticks; $(grep VmRSS "/proc/$STACD_PID/status")"
# Not a performance assertion (that is tools/bench): only a busy loop (>10 % of a CPU) fails.
[ $((c1 - c0)) -le 30 ] || fail "stacd used $((c1 - c0)) ticks in 3 s of idleness (busy loop?)"
stacctl status | head -n 12

log "3: stopping both daemons keeps every connection"
stacd_stop
stafd_stop
trap - EXIT
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < sysfs.txt)" "I/O controllers after both daemons stopped"
grep -q 'Disconnect initiated' stacd.log && fail "stacd disconnected something"
log "done"
