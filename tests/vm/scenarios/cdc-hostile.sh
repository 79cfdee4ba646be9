# stas-vm: subsystems=2 timeout=180
# A hostile discovery log on the wire: stas-cdc announces entries whose strings carry `,`,
# `=`, control characters or no terminator, and unknown transports, next to one good
# entry. stafd logs and skips each bad entry and uses the rest of the page (stacd logs and
# skips the unknown transport); stacd connects
# only the good subsystem; no option string with a bad value reaches /dev/nvme-fabrics
# (every one the daemons wrote is checked, and the kernel logged no fabrics error).
set -e
. "$STAS_VM_SCENARIO_DIR/cdc-common.inc"
trap cdc_all_dump EXIT
nvmet_setup 2
S1=$(nvmet_subnqn 1)
S2=$(nvmet_subnqn 2)
LONG=$(printf '%0300d' 0 | tr 0 a)
cdc_log <<EOF2
$(cdc_self)

[[entry]]   # 2: smuggles an option through traddr
traddr = "127.0.0.1,nr_io_queues=64"
trsvcid = "4420"
subnqn = "$S2"

[[entry]]   # 3: smuggles one through the NQN
traddr = "127.0.0.1"
trsvcid = "4420"
subnqn = "$S2,hostnqn=nqn.2014-08.org.evil:x"

[[entry]]   # 4: '=' in the NQN
traddr = "127.0.0.1"
trsvcid = "4420"
subnqn = "nqn.2024-01.io.example.stas:a=b"

[[entry]]   # 5: a control character in the service id
traddr = "127.0.0.1"
trsvcid = "4420\u0007"
subnqn = "$S2"

[[entry]]   # 6: a newline in the NQN
traddr = "127.0.0.1"
trsvcid = "4420"
subnqn = "$S2\nnr_io_queues=1"

[[entry]]   # 7: traddr fills its field, no terminator
traddr = "$LONG"
trsvcid = "4420"
subnqn = "$S2"

[[entry]]   # 8: an unknown transport
trtype = 200
traddr = "127.0.0.1"
trsvcid = "4420"
subnqn = "$S2"

[[entry]]   # 9: an empty NQN
traddr = "127.0.0.1"
trsvcid = "4420"
subnqn = ""

[[entry]]   # 10: a referral with a smuggled option
subtype = "referral"
traddr = "127.0.0.1,trsvcid=8009"
trsvcid = "8009"
subnqn = "$DISC_NQN"

# 11: the good one
$(cdc_entry 1)
EOF2
cdc_start
dmesg_mark=$(dmesg | wc -l)
cdc_stas

log "1: the good subsystem is connected, nothing else"
check wait_for '[ $(live_iocs) -eq 1 ]' 20
sleep 4
expect_eq "$(iocs | awk '{print $2}')" "$S1" "I/O controllers"
expect_eq "$(nvme_ctrls discovery | wc -l)" 1 "discovery controllers (no referral followed)"

log "2: stafd logged each bad entry as skipped"
grep 'discovery log entry skipped' "$STAFD_LOG" | sed 's/^.*index/   index/' | sort -u | head -n 20
skipped=$(grep 'discovery log entry skipped' "$STAFD_LOG" | grep -o 'index=[0-9]*' | sort -u | wc -l)
expect_ge "$skipped" 8 "distinct entries skipped"
grep 'controller skipped' "$STACD_LOG" | grep -o 'tid=.*' | head -n 3
grep -q 'controller skipped.*Invalid transport 200' "$STACD_LOG" || fail "stacd did not log the unknown transport"

log "3: what reached /dev/nvme-fabrics"
grep -h 'writing to /dev/nvme-fabrics' "$STAFD_LOG" "$STACD_LOG" | grep -o 'options=[^ ]*' | sort -u > written.txt
sed "s/^/   /" written.txt
# every option: a known name, and the address fields one of the good values
bad=$(sed "s/^options=//" written.txt | tr ',' '\n' | awk -F= -v s1="$S1" -v disc="$DISC_NQN" -v cdc="$CDC_PORT" '
    $1 == "nqn" { if ($2 != s1 && $2 != disc) print; next }
    $1 == "traddr" { if ($2 != "127.0.0.1") print; next }
    $1 == "trsvcid" { if ($2 != "4420" && $2 != cdc) print; next }
    $1 == "transport" { if ($2 != "tcp") print; next }
    $1 ~ /^(hostnqn|hostid|keep_alive_tmo|reconnect_delay)$/ && NF == 2 { next }
    { print }')
[ -z "$bad" ] || fail "unexpected options written: $bad"
for w in nr_io_queues=64 evil 'a=b' nr_io_queues=1 "$LONG"; do
    grep -q -- "$w" written.txt && fail "'$w' reached /dev/nvme-fabrics"
done
kerr=$(dmesg | tail -n +$((dmesg_mark + 1)) | grep -i 'nvme_fabrics\|unknown parameter\|no handler found' || true)
[ -z "$kerr" ] || fail "the kernel complained about an option string: $kerr"
kill -0 "$STAFD_PID" && kill -0 "$STACD_PID" || fail "a daemon died"
stacd_stop
stafd_stop
cdc_stop
trap - EXIT
log "done"
