# stas-vm: subsystems=3 timeout=240 kernels=6.1,6.12
# libstas kernel interface against the real kernel (stas-kcheck):
#  - the options query returns exactly what /dev/nvme-fabrics lists;
#  - libstas connects discovery controllers (IPv4 and IPv6) and an I/O controller;
#  - the discovery log it reads equals, entry by entry, `nvme discover -o json`;
#  - its topology equals `nvme list-subsys -o json`;
#  - a second connect of the same I/O controller is reported as already connected;
#  - the matching rules find the existing controllers; delete removes them.
set -e
N=$STAS_VM_SUBSYSTEMS
nvmet_setup "$N"
KC=stas-kcheck

# json_str KEY FILE: first "KEY": "value" of a stas-kcheck JSON document
json_str() { sed -n "s/^ *\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" "$2" | head -n 1; }

log "options: libstas vs /dev/nvme-fabrics"
$KC options > options.json || fail "stas-kcheck options: $(cat options.json)"
cat options.json
grep -q '"source": "kernel"' options.json || fail "options did not come from the kernel query"
head -n 1 /dev/nvme-fabrics | tr ',' '\n' | cut -d= -f1 | grep -v -e '^instance$' -e '^cntlid$' -e '^$' | sort > kernel-options.txt
$KC options --names | sort > libstas-options.txt
if ! cmp -s kernel-options.txt libstas-options.txt; then
    diff kernel-options.txt libstas-options.txt || true
    fail "option lists differ"
fi
echo "ok: $(wc -l < libstas-options.txt) options, identical to /dev/nvme-fabrics"

for addr in 127.0.0.1 ::1; do
    log "discovery controller on $addr:8009 (persistent, kato 30)"
    $KC connect --traddr "$addr" --trsvcid 8009 --kato 30 > dc.json || fail "connect: $(cat dc.json)"
    cat dc.json
    DC=$(json_str device dc.json)
    expect_match "$DC" '^nvme[0-9]+$' "discovery controller device"
    expect_eq "$(cat /sys/class/nvme/$DC/cntrltype)" discovery "cntrltype of $DC"
    expect_eq "$(cat /sys/class/nvme/$DC/kato)" 30 "kato of $DC"
    expect_eq "$(cat /sys/class/nvme/$DC/hostnqn)" "$HOSTNQN" "hostnqn of $DC"
    expect_eq "$(cat /sys/class/nvme/$DC/hostid)" "$HOSTID" "hostid of $DC"

    log "discovery log of $DC vs nvme discover -o json"
    $KC dlp "$DC" > dlp.json || fail "dlp: $(cat dlp.json)"
    expect_eq "$(grep -c '"subtype": "nvme"' dlp.json)" "$N" "NVM subsystem entries read by libstas"
    expect_eq "$(grep -c '"subtype": "discovery"' dlp.json)" 1 "current discovery subsystem entry"
    grep -q '"tsas": "{'"'"'sectype'"'"': '"'"'none'"'"'}"' dlp.json || fail "tsas dict string missing: $(cat dlp.json)"
    nvme discover -t tcp -a "$addr" -s 8009 -o json > discover.json || fail "nvme discover failed"
    $KC compare-dlp "$DC" discover.json > cmp.json || { cat cmp.json discover.json; fail "discovery logs differ"; }
    cat cmp.json
    case $addr in *:*) DC6=$DC ;; *) DC4=$DC ;; esac
done

log "I/O controller $(nvmet_subnqn 1) on 127.0.0.1:4420"
SUB=$(nvmet_subnqn 1)
$KC connect --io --traddr 127.0.0.1 --trsvcid 4420 --nqn "$SUB" > io.json || fail "connect: $(cat io.json)"
cat io.json
IO=$(json_str device io.json)
expect_match "$IO" '^nvme[0-9]+$' "I/O controller device"
check wait_for "ls -d /sys/class/nvme/$IO/nvme*n1" 10
expect_eq "$(cat /sys/class/nvme/$IO/cntrltype)" io "cntrltype of $IO"
expect_eq "$(cat /sys/class/nvme/$IO/subsysnqn)" "$SUB" "subsysnqn of $IO"

log "second connect of the same I/O controller"
if $KC connect --io --traddr 127.0.0.1 --trsvcid 4420 --nqn "$SUB" > dup.json; then
    fail "duplicate connect succeeded: $(cat dup.json)"
fi
cat dup.json
grep -q '"error_kind": "already-connected"' dup.json || fail "not reported as already connected"
grep -q '"errno": 114' dup.json || fail "errno is not EALREADY"

log "matching: existing controllers are found, spelled differently"
$KC match --io --traddr 127.0.0.1 --trsvcid 4420 --nqn "$SUB" > m.json || fail "no match for $IO: $(cat m.json)"
expect_eq "$(json_str device m.json)" "$IO" "match for the I/O controller"
$KC match --traddr 127.0.0.1 --trsvcid 8009 > m.json || fail "no match for $DC4: $(cat m.json)"
expect_eq "$(json_str device m.json)" "$DC4" "match for the IPv4 discovery controller"
$KC match --traddr 0:0:0:0:0:0:0:1 --trsvcid 8009 > m.json || fail "no match for $DC6: $(cat m.json)"
expect_eq "$(json_str device m.json)" "$DC6" "match for the IPv6 discovery controller (other spelling)"
$KC match --traddr 127.0.0.1 --trsvcid 8009 --host-iface lo > m.json || fail "host-iface lo should match via src_addr: $(cat m.json)"
if $KC match --traddr 127.0.0.1 --trsvcid 8009 --host-traddr 10.99.99.99 > m.json; then
    fail "a different host-traddr matched: $(cat m.json)"
fi
if $KC match --io --traddr 127.0.0.1 --trsvcid 4420 --nqn "$(nvmet_subnqn 2)" > m.json; then
    fail "another subsystem matched: $(cat m.json)"
fi
echo "ok: matching"

log "topology vs nvme list-subsys -o json"
$KC topology > topo.json || fail "topology: $(cat topo.json)"
cat topo.json
expect_eq "$(grep -c '"device": "nvme' topo.json)" "$(ls -d /sys/class/nvme/nvme* | wc -l)" "controllers in the topology"
grep -q '"src_addr": "127.0.0.1"' topo.json || fail "src_addr not parsed"
nvme list-subsys -o json > list-subsys.json || fail "nvme list-subsys failed"
cat list-subsys.json
$KC compare-topology list-subsys.json > cmp.json || { cat cmp.json; fail "topology differs from nvme list-subsys"; }
cat cmp.json

log "delete"
for d in "$IO" "$DC4" "$DC6"; do
    $KC delete "$d" > del.json || fail "delete $d: $(cat del.json)"
    check wait_for "[ ! -e /sys/class/nvme/$d ]" 10
done
expect_eq "$(nvme_ctrls | wc -l)" 0 "controllers left"
if $KC delete "$IO" > del.json; then fail "deleting a gone controller succeeded"; fi
cat del.json

log "errors: refused, rejected by the target"
if $KC connect --traddr 127.0.0.1 --trsvcid 9999 > e.json; then fail "connect to a closed port succeeded"; fi
grep -q '"error_kind": "refused"' e.json || fail "closed port not reported as refused: $(cat e.json)"
if $KC connect --io --traddr 127.0.0.1 --trsvcid 4420 --nqn nqn.2024-01.io.example:nope > e.json; then
    fail "connect to an unknown subsystem succeeded"
fi
grep -q '"error_kind": "rejected-by-target"' e.json || fail "unknown NQN not reported as rejected: $(cat e.json)"
echo "ok: error kinds"
log "done"
