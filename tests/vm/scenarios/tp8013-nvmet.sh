# stas-vm: subsystems=2 timeout=180 kernels=6.12
# TP8013 on a real target (6.9+): nvmet's discovery NQN set to a unique NQN. stafd connects
# the DC configured with that NQN with the `discovery` option and adopts it after a
# restart; a DC configured with the well-known NQN reaches the same discovery subsystem
# (the kernel shows the unique NQN) and is matched to it after a restart, not connected twice.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
UNQN=nqn.2024-01.io.example.stas:nvmet-discovery
nvmet_setup 2
nvmet_discovery_nqn "$UNQN"
start_system_bus
trap both_dump EXIT
dcs() { nvme_ctrls discovery; }

log "1: a DC configured with the unique NQN"
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009;nqn=$UNQN
CONF
printf '[Global]\nreconnect-delay=1\n' | stacd_conf
stafd_start
stacd_start
check wait_for '[ $(dcs | wc -l) -eq 1 ]' 15
dev=$(dcs)
opts=$(written "$STAFD_LOG" "$UNQN" | head -n1)
echo "   connect options: $opts"
echo "$opts" | grep -q ',discovery\(,\|$\)' || fail "no discovery option for the unique NQN"
expect_eq "$(cat /sys/class/nvme/$dev/subsysnqn)" "$UNQN" "$dev subsysnqn"
check wait_for '[ $(live_iocs) -eq 2 ]' 20

log "2: stafd restarts and adopts it"
stafd_stop
stafd_start stafd-2.log
check wait_for "stafctl --json ls -d | grep -q '\"device\": \"$dev\"'" 15
sleep 2
expect_eq "$(dcs)" "$dev" "discovery controllers after the restart"

log "3: the same DC configured with the well-known NQN matches the kernel's unique-NQN controller"
stafd_stop
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
CONF
stafd_start stafd-3.log
sleep 4
dcs | sed 's/^/   /'
expect_eq "$(dcs | wc -l)" 1 "discovery controllers (no second connection)"
stafctl --json ls -d | grep -q '"device": "nvme' || fail "stafd shows no device for the DC"
expect_eq "$(live_iocs)" 2 "I/O controllers"
stacd_stop
stafd_stop
trap - EXIT
log "done"
