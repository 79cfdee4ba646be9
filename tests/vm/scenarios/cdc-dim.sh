# stas-vm: subsystems=2 timeout=240 kernels=6.1,6.12
# TP8010 registration with a discovery controller on the wire: stas-cdc as the fabric's CDC
# (127.0.0.1:8010). nvme-cli's `nvme dim` and stafd register the same host, and the DIM
# bytes are compared. stafd registers on connect, again after stas-cdc drops the connection
# and the kernel reconnects, deregisters before the disconnect when the DC leaves
# stafd.conf, and deregisters when it stops with persistent connections off.
set -e
. "$STAS_VM_SCENARIO_DIR/cdc-common.inc"
trap cdc_all_dump EXIT
nvmet_setup 2
{ cdc_self; cdc_entry 1; } | cdc_log
cdc_start --dctype cdc

log "1: nvme-cli registers the host: a persistent connection to the CDC (header and data digests on), then nvme dim"
inst=$(fabrics_connect "transport=tcp,traddr=127.0.0.1,trsvcid=$CDC_PORT,nqn=$DISC_NQN,hostnqn=$(cat /etc/nvme/hostnqn),hostid=$(cat /etc/nvme/hostid),hdr_digest,data_digest")
inst=${inst#instance=}; inst=${inst%%,*}
expect_eq "$(cat /sys/class/nvme/nvme$inst/dctype)" cdc "dctype the kernel read from stas-cdc's Identify"
expect_eq "$(cat /sys/class/nvme/nvme$inst/cntrltype)" discovery "cntrltype"
expect_eq "$(cdc_ev icreq | head -n1 | cdc_val hdgst)-$(cdc_ev icreq | head -n1 | cdc_val ddgst)" true-true "digests the host asked for"
check nvme dim --task=register --device="nvme$inst"
check wait_for '[ $(cdc_n dim) -eq 1 ]' 5
nvme disconnect -d "nvme$inst" > /dev/null
check wait_for '[ -z "$(cdc_dev)" ]' 10

log "2: stafd registers once on connect"
start_system_bus
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=$CDC_PORT
CONF
stafd_start
check wait_for '[ $(cdc_n dim) -eq 2 ]' 15
sleep 2
expect_eq "$(cdc_n dim)" 2 "DIMs after stafd connected (nvme-cli's and stafd's)"
expect_eq "$(cdc_ev dim | tail -n1 | cdc_val task)" register "stafd's DIM task"

log "   DIM bytes: nvme-cli's (dim/0001.bin) and stafd's (dim/0002.bin) for the same host"
diffs=$(cmp -l "$CDC_DIR/dim/0001.bin" "$CDC_DIR/dim/0002.bin" 2>&1 || true)
if [ -n "$diffs" ]; then
    echo "$diffs" | head -n 40
    fail "stafd's DIM payload differs from nvme-cli's (cmp -l above: 1-based offset, octal bytes)"
fi
log "   identical: $(wc -c < "$CDC_DIR/dim/0002.bin") bytes (host NQN, host id, entity name and version, address family)"
ds=$(cdc_ev dim | tail -n1)
echo "   decoded: eid=$(echo "$ds" | cdc_val eid) ename=$(echo "$ds" | cdc_val ename) ever=$(echo "$ds" | cdc_val ever) adrfam=$(echo "$ds" | cdc_val adrfam)"
expect_eq "$(echo "$ds" | cdc_val eid)" "$(cat /etc/nvme/hostnqn)" "registered host NQN"

log "3: stas-cdc drops the connection; the kernel reconnects and stafd registers again"
conns=$(cdc_n connect)
cdc_drop
check wait_for "[ \$(cdc_n connect) -gt $conns ]" 20
check wait_for '[ $(cdc_tasks register) -eq 3 ]' 15
last_connect=$(cdc_ev connect | tail -n1 | cdc_val seq)
last_dim=$(cdc_ev dim | tail -n1 | cdc_val seq)
[ "$last_dim" -gt "$last_connect" ] || fail "the re-registration (seq $last_dim) is not after the reconnect (seq $last_connect)"

log "4: the DC leaves stafd.conf (SIGHUP): deregistration, then the disconnect"
# (a reload resyncs every connected DC, registration included, as nvme-stas does; the DC
# that leaves is deregistered after that)
dev=$(cdc_dev)
stafd_conf <<CONF
[Global]
reconnect-delay=1
CONF
kill -HUP "$STAFD_PID"
check wait_for '[ $(cdc_tasks deregister) -eq 1 ]' 15
check wait_for '[ -z "$(cdc_dev)" ]' 15
dereg=$(cdc_ev dim '"task":"deregister"' | cdc_val seq)
dereg_conn=$(cdc_ev dim '"task":"deregister"' | cdc_val conn)
closed=$(cdc_ev close "\"conn\":$dereg_conn," | cdc_val seq)
[ -n "$closed" ] || fail "no close of connection $dereg_conn recorded"
[ "$dereg" -lt "$closed" ] || fail "deregistration (seq $dereg) after the connection closed (seq $closed)"
log "   $dev: deregistered (seq $dereg) before its connection closed (seq $closed)"
stafd_stop

log "5: persistent connections off: stopping stafd deregisters (and a host symbolic name)"
# nvme-cli 2.3's nvme dim sends no symbolic name (it ignores config.json's hostsymname),
# so with one the bytes may differ from dim/0001.bin only where the extra attribute goes:
# TDL (offset 0), TEL (2048), NUMEXAT (2052), and the attribute appended at the end.
mkdir -p /etc/stas
printf '[Host]\nsymname=rack7-host\n' > /etc/stas/sys.conf
stafd_conf <<CONF
[Global]
reconnect-delay=1
persistent-connections=false
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=$CDC_PORT
CONF
regs=$(cdc_tasks register)
stafd_start stafd-2.log
check wait_for "[ \$(cdc_tasks register) -eq $((regs + 1)) ]" 15
sym=$(cdc_ev dim '"task":"register"' | tail -n1)
symfile=$CDC_DIR/$(echo "$sym" | cdc_val file)
echo "$sym" | grep -q '"type":2,"value":"rack7-host  "' || fail "no symbolic-name attribute \"rack7-host\" (padded to 12) in $symfile"
offsets=$(cmp -l "$CDC_DIR/dim/0001.bin" "$symfile" 2>/dev/null | awk '{print $1 - 1}' | tr '\n' ' ')
expect_eq "$offsets" "0 2048 2052 " "offsets where stafd's DIM with a symname differs from nvme-cli's"
expect_eq "$(wc -c < "$symfile")" 2092 "size with a 10-byte symname (an attribute of 4 + 12 bytes)"
stafd_stop
check wait_for '[ $(cdc_tasks deregister) -eq 2 ]' 5
check wait_for '[ -z "$(cdc_dev)" ]' 10
dereg=$(cdc_ev dim '"task":"deregister"' | tail -n1 | cdc_val seq)
dereg_conn=$(cdc_ev dim '"task":"deregister"' | tail -n1 | cdc_val conn)
closed=$(cdc_ev close "\"conn\":$dereg_conn," | cdc_val seq)
[ "$dereg" -lt "${closed:-0}" ] || fail "deregistration (seq $dereg) not before the close (seq ${closed:-none})"

log "registrations (seq, uptime, task, host, size, raw file):"
cdc_dims
expect_eq "$(cat "$CDC_DIR/registrations.json")" "[]" "registrations left at stas-cdc"
cdc_stop
trap - EXIT
log "done"
