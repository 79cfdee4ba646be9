# stas-vm: subsystems=64 timeout=600
# Benchmark companion (prints figures, not pass/fail): what the daemons pay for controllers
# they do not connect themselves. The floor connects N I/O controllers (127.0.0.1:4420) three
# times: with no daemon running, then with stafd and stacd running idle (no discovery
# controller configured, nothing to connect), so that their CPU time is only their reaction
# to the kernel's uevents. Also: the uevents one connect produces, and the CPU time of
# reading every controller from sysfs (stas-kcheck topology).
#   tests/vm/run [--subsystems N] tests/vm/bench/uevent-cost.sh
set -e
N=$STAS_VM_SUBSYSTEMS
nvmet_setup "$N"
i=1; : > connect.txt
while [ "$i" -le "$N" ]; do
    echo "nqn=$NVMET_SUBNQN_PREFIX$i,transport=tcp,traddr=127.0.0.1,trsvcid=4420,hostnqn=$HOSTNQN,hostid=$HOSTID" >> connect.txt
    i=$((i + 1))
done
cpu() { stas-floor proc "$1" | sed -n 's/.* cpu_seconds=\([0-9.]*\) .*/\1/p'; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }
per() { awk -v s="$1" -v n="$N" 'BEGIN { printf "%.1f\n", 1000 * s / n }'; }

log "1: the floor alone, and the uevents of the connects"
cat > /run/stas-vm/allhook <<'H'
#!/bin/sh
echo "$SUBSYSTEM $ACTION${NVME_EVENT:+ NVME_EVENT=$NVME_EVENT}" >> /tmp/all-uevents.log
H
chmod +x /run/stas-vm/allhook
: > /tmp/all-uevents.log
uevent /run/stas-vm/allhook &
UP=$!
sleep 0.3
stas-floor connect connect.txt | tee floor.out
sleep 1
kill "$UP"
echo "RESULT n=$N what=floor-alone $(sed -n 's/^floor //p' floor.out)"
echo "uevents: $(wc -l < /tmp/all-uevents.log) for $N connects:"
sort /tmp/all-uevents.log | uniq -c
stas-floor disconnect-all
sleep 1

log "2: the same with stafd and stacd running idle"
start_system_bus > /dev/null
mkdir -p /etc/stas
printf '[Global]\n' > /etc/stas/stafd.conf
: > /etc/stas/stacd.conf
stafd > stafd.log 2>&1 &
F=$!
stacd > stacd.log 2>&1 &
C=$!
sleep 3
f0=$(cpu "$F"); c0=$(cpu "$C")
stas-floor connect connect.txt | tee floor.out
sleep 2
f1=$(cpu "$F"); c1=$(cpu "$C")
df=$(delta "$f0" "$f1"); dc=$(delta "$c0" "$c1")
echo "RESULT n=$N what=idle-daemons-during-connects stafd_cpu=$df stacd_cpu=$dc stafd_ms_per_ctrl=$(per "$df") stacd_ms_per_ctrl=$(per "$dc") floor_$(sed -n 's/^floor .*\(cpu_seconds=[0-9.]*\).*/\1/p' floor.out)"
f0=$f1; c0=$c1
stas-floor disconnect-all
sleep 2
f1=$(cpu "$F"); c1=$(cpu "$C")
echo "RESULT n=$N what=idle-daemons-during-disconnects stafd_cpu=$(delta "$f0" "$f1") stacd_cpu=$(delta "$c0" "$c1")"
kill "$F" "$C"

log "3: reading every controller from sysfs"
stas-floor connect connect.txt > /dev/null
for k in 1 2; do
    stas-floor run --live 0 --wait-exit -- stas-kcheck topology > topo.out 2>&1
    stas-floor run --live 0 --wait-exit -- stas-kcheck options --names > base.out 2>&1
    t=$(sed -n 's/^run .* stas-kcheck.cpu=\([0-9.]*\).*/\1/p' topo.out)
    b=$(sed -n 's/^run .* stas-kcheck.cpu=\([0-9.]*\).*/\1/p' base.out)
    echo "RESULT n=$N what=topology-read rep=$k cpu=$t baseline_cpu=$b ms_per_ctrl=$(per "$(delta "$b" "$t")")"
done
stas-floor disconnect-all
