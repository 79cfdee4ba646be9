# stas-vm: subsystems=2 timeout=180 kernels=6.1,6.12
# The TREQ rule (DECISIONS.md item 22) with a discovery controller on the wire: stas-cdc
# announces subsystem 1 with TREQ "secure channel required" and TSAS TLS 1.3, and
# subsystem 2 with TREQ "not required" (TLS offered). On 6.1, whose host has no `tls`
# option, stacd does not connect subsystem 1, says why once, and does not retry; on 6.12
# it connects it over TLS (tlshd, a PSK in the .nvme keyring, an nvmet TLS port) and the
# kernel shows the key. Subsystem 2 is connected in plaintext on both.
set -e
. "$STAS_VM_SCENARIO_DIR/cdc-common.inc"
trap cdc_all_dump EXIT
nvmet_setup 2
HOSTNQN=$(cat /etc/nvme/hostnqn)
if kernel_has_option tls; then
    TLS=1
    nvmet_add_port_tls 5 127.0.0.1 4430
    nvmet_link 1 5
    key=$(tls_psk "$HOSTNQN" "$(nvmet_subnqn 1)")
    tls_start
    S1_PORT=4430
else
    TLS=0
    S1_PORT=4420
fi
log "kernel $(uname -r): tls option $( [ $TLS = 1 ] && echo listed || echo absent)"
{ cdc_self; cdc_entry 1 $S1_PORT 'treq = 1
tsas = "\u0002"'; cdc_entry 2 4420 'treq = 2
tsas = "\u0002"'; } | cdc_log
cdc_start
cdc_stas

log "1: subsystem 2 (TLS not required) is connected in plaintext"
check wait_for "ioc_paths | grep -q '^$(nvmet_subnqn 2) 127.0.0.1 4420 '" 20
s2_opts=$(written "$STACD_LOG" "$(nvmet_subnqn 2)" | head -n1)
echo "   $s2_opts"
echo "$s2_opts" | grep -q ',tls\(,\|$\)' && fail "subsystem 2 was connected with tls"

if [ $TLS = 0 ]; then
    log "2: subsystem 1 requires a secure channel; this kernel cannot: not connected, said once"
    check wait_for "grep -q 'secure channel' '$STACD_LOG'" 10
    sleep 8
    grep 'secure channel' "$STACD_LOG" | sed 's/^/   /'
    expect_eq "$(grep -c 'secure channel' "$STACD_LOG")" 1 "warnings about subsystem 1"
    expect_eq "$(written "$STACD_LOG" "$(nvmet_subnqn 1)" | wc -l)" 0 "connect attempts for subsystem 1"
    expect_eq "$(live_iocs)" 1 "I/O controllers"
else
    log "2: subsystem 1 requires a secure channel: connected with tls over the TLS port"
    check wait_for "ioc_paths | grep -q '^$(nvmet_subnqn 1) 127.0.0.1 4430 '" 20
    s1_opts=$(written "$STACD_LOG" "$(nvmet_subnqn 1)" | head -n1)
    echo "   $s1_opts"
    echo "$s1_opts" | grep -q ',tls\(,\|$\)' || fail "subsystem 1 was not connected with tls"
    dev=$(ioc_dev 1)
    expect_eq "$(cat /sys/class/nvme/$dev/tls_key)" "$(printf '%08x' "$key")" "$dev tls_key (the PSK's serial)"
    grep -q "handshake" tlshd.log 2>/dev/null && grep "handshake" tlshd.log | tail -n 2 | sed 's/^/   tlshd: /'
fi
stacd_stop
stafd_stop
cdc_stop
trap - EXIT
log "done"
