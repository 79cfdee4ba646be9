# stas-vm: subsystems=2 timeout=180 kernels=6.1,6.12
# PLEO and TP8013 with a discovery controller on the wire: stas-cdc as a DDC with a unique
# discovery NQN that supports port-local entries only (PLEOS). stafd connects it with the
# `discovery` option, asks Supported Log Pages, then reads the log with LSP PLEO, so stacd
# sees (and connects) only the port-local subsystem; after a restart stafd adopts the
# kernel's connection instead of making a new one.
set -e
. "$STAS_VM_SCENARIO_DIR/cdc-common.inc"
trap cdc_all_dump EXIT
UNQN=nqn.2024-01.io.example.stas:ddc1
nvmet_setup 2
{ cdc_self '"epcsd"' "$UNQN"; cdc_entry 1; cdc_entry 2 4420 'port-local = false'; } | cdc_log
cdc_start --dctype ddc --nqn "$UNQN"

log "1: stafd connects the unique-NQN DDC"
start_system_bus
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=$CDC_PORT;nqn=$UNQN
CONF
printf '[Global]\nreconnect-delay=1\n' | stacd_conf
stafd_start
stacd_start
check wait_for '[ -n "$(cdc_dev)" ]' 15
dev=$(cdc_dev)
opts=$(written "$STAFD_LOG" "$UNQN" | head -n1)
echo "   connect options: $opts"
echo "$opts" | grep -q ',discovery\(,\|$\)' || fail "the unique-NQN DC was not connected with the discovery option"
expect_eq "$(cat /sys/class/nvme/$dev/subsysnqn)" "$UNQN" "$dev subsysnqn"
expect_eq "$(cat /sys/class/nvme/$dev/cntrltype)" discovery "$dev cntrltype"
expect_eq "$(cat /sys/class/nvme/$dev/dctype)" ddc "$dev dctype"
expect_eq "$(cdc_ev connect | cdc_val subnqn)" "$UNQN" "NQN in the Fabrics Connect"

log "2: Supported Log Pages, then the discovery log with LSP PLEO"
check wait_for '[ $(cdc_n get-log-page "\"lid\":112") -ge 1 ]' 15
cdc_ev get-log-page | while read -r l; do
    echo "   get log page: lid $(echo "$l" | cdc_val lid) lsp $(echo "$l" | cdc_val lsp) rae $(echo "$l" | cdc_val rae) len $(echo "$l" | cdc_val len)"
done
expect_ge "$(cdc_n get-log-page '"lid":0,')" 1 "Supported Log Pages reads"
expect_eq "$(cdc_n get-log-page '"lid":112,' | tr -d ' ')" "$(cdc_n get-log-page '"lid":112,.*"lsp":2,')" "discovery log reads with LSP PLEO (0x2)"
check wait_for '[ $(live_iocs) -eq 1 ]' 20
sleep 2
expect_eq "$(iocs | awk '{print $2}')" "$(nvmet_subnqn 1)" "I/O controllers (only the port-local subsystem)"
expect_eq "$(stafctl --json dlp -a 127.0.0.1 -s $CDC_PORT -n "$UNQN" | json_values subnqn | grep -c stas:subsys)" 1 "subsystem entries stafd publishes"

log "3: stafd restarts and adopts the DC"
accepts=$(cdc_n accept)
stafd_stop
stafd_start stafd-2.log
check wait_for "stafctl --json ls -d | grep -q '\"device\": \"$dev\"'" 15
sleep 2
expect_eq "$(cdc_dev)" "$dev" "the kernel's DC after the restart"
expect_eq "$(cdc_n accept)" "$accepts" "connections stas-cdc accepted (none new)"
grep -q "adopt" stafd-2.log && grep "adopt" stafd-2.log | head -n 3
stacd_stop
stafd_stop
cdc_stop
trap - EXIT
log "done"
