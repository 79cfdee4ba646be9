# stas-vm: subsystems=2 timeout=180 kernels=6.12
# NVMe/TCP over TLS 1.3 end to end (6.7+ host and nvmet, tlshd from ktls-utils): nvmet
# port 127.0.0.1:4430 requires TLS, subsystem 1 is on it, PSKs for the discovery NQN and
# for subsystem 1 are in the .nvme keyring. stafd connects the DC over TLS (configured
# `tls=true`); its log says TREQ required / TSAS TLS 1.3, so stacd connects subsystem 1
# with `tls` too; sysfs shows both controllers' keys. nvme-cli 2.3 has no TLS options, so
# the cross-check is the kernel's own view (sysfs, nvme list-subsys).
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
nvmet_setup 2
nvmet_add_port_tls 5 127.0.0.1 4430
nvmet_link 1 5
HOSTNQN=$(cat /etc/nvme/hostnqn)
dkey=$(tls_psk "$HOSTNQN" nqn.2014-08.org.nvmexpress.discovery)
ikey=$(tls_psk "$HOSTNQN" "$(nvmet_subnqn 1)")
tls_start
start_system_bus
trap both_dump EXIT
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=4430;tls=true
CONF
printf '[Global]\nreconnect-delay=1\n' | stacd_conf
stafd_start
stacd_start

log "1: the DC over TLS"
check wait_for '[ $(nvme_ctrls discovery | wc -l) -eq 1 ]' 20
dc=$(nvme_ctrls discovery)
written "$STAFD_LOG" nqn.2014-08.org.nvmexpress.discovery | head -n1 | sed 's/^/   /'
expect_eq "$(cat /sys/class/nvme/$dc/tls_key)" "$(printf '%08x' "$dkey")" "$dc tls_key"
dlp_json 127.0.0.1 4430 | grep -E '"(treq|tsas|subnqn)"' | sed 's/^/   /'

log "2: subsystem 1, TLS required by its log entry: stacd connects it with tls"
check wait_for "ioc_paths | grep -q '^$(nvmet_subnqn 1) 127.0.0.1 4430 '" 20
opts=$(written "$STACD_LOG" "$(nvmet_subnqn 1)" | head -n1)
echo "   $opts"
echo "$opts" | grep -q ',tls\(,\|$\)' || fail "subsystem 1 was not connected with tls"
dev=$(ioc_dev 1)
expect_eq "$(cat /sys/class/nvme/$dev/tls_key)" "$(printf '%08x' "$ikey")" "$dev tls_key"
nvme list-subsys 2>/dev/null | sed 's/^/   /'
expect_eq "$(live_iocs)" 1 "I/O controllers (subsystem 2 is not on the TLS port)"
stacd_stop
stafd_stop
trap - EXIT
log "done"
