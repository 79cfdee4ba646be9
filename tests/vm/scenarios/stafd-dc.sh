# stas-vm: subsystems=4 timeout=240 kernels=6.1,6.12
# stafd end to end on a real kernel: a DC from stafd.conf connects and its log page on D-Bus
# equals `nvme discover` for the same target; linking a subsystem fires log_pages_changed
# and the entry shows within 2 s; a port outage and return reconnects (same kernel
# controller) and re-reads. Idle stafd uses no CPU.
set -e
. "$STAS_VM_SCENARIO_DIR/stafd-common.inc"
N=$STAS_VM_SUBSYSTEMS
nvmet_setup "$N"
start_system_bus
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
CONF
sig_start
stafd_start
trap stafd_dump EXIT

log "1: the configured DC connects and its log page is published"
check wait_for 'dlp_json 127.0.0.1 | grep -q "\"subnqn\": \"${NVMET_SUBNQN_PREFIX}$N\""' 10
stafctl ls
stafctl --json ls > ls.json
DEV=$(json_values device < ls.json)
expect_match "$DEV" '^nvme[0-9]+$' "DC device"
expect_eq "$(cat /sys/class/nvme/$DEV/cntrltype)" discovery "cntrltype of $DEV"
expect_eq "$(cat /sys/class/nvme/$DEV/kato)" 30 "kato of $DEV"
dlp_json 127.0.0.1 > dlp.json
nvme discover -t tcp -a 127.0.0.1 -s 8009 -o json > nd.json
expect_eq "$(json_values subnqn < dlp.json | tr '\n' ' ')" "$(json_values subnqn < nd.json | tr '\n' ' ')" "subsystem NQNs: stafd vs nvme discover"
expect_eq "$(json_values traddr < dlp.json | tr '\n' ' ')" "$(json_values traddr < nd.json | tr '\n' ' ')" "addresses: stafd vs nvme discover"
expect_eq "$(json_values trsvcid < dlp.json | tr '\n' ' ')" "$(json_values trsvcid < nd.json | tr '\n' ' ')" "ports: stafd vs nvme discover"
expect_eq "$(grep -c '"subtype": "nvme"' dlp.json)" "$N" "NVM entries on D-Bus"
check wait_for '[ "$(sig_count)" -ge 1 ]' 5

log "idle: no polling (CPU ticks over 3 s) and resident memory"
cpu() { awk '{ print $14 + $15 }' "/proc/$STAFD_PID/stat"; }
sleep 1
c0=$(cpu); sleep 3; c1=$(cpu)
log "stafd CPU ticks while idle: $((c1 - c0)); $(grep VmRSS "/proc/$STAFD_PID/status")"
# Not a performance assertion (that is tools/bench): only a busy loop (>10 % of a CPU) fails.
[ $((c1 - c0)) -le 30 ] || fail "stafd used $((c1 - c0)) ticks in 3 s of idleness (busy loop?)"

log "2: linking a subsystem: log_pages_changed and the new entry within 2 s"
before=$(sig_count)
nvmet_add_subsys $((N + 1))
nvmet_link $((N + 1)) 127.0.0.1:8009
check wait_for "dlp_json 127.0.0.1 | grep -q '\"subnqn\": \"${NVMET_SUBNQN_PREFIX}$((N + 1))\"'" 2
check wait_for "[ \$(sig_count) -gt $before ]" 2
grep -A9 'member=log_pages_changed' signals.log | tail -n 10
grep -q "string \"$DEV\"" signals.log || fail "log_pages_changed does not carry the device $DEV"
expect_eq "$(ls /sys/class/nvme | wc -l)" 1 "controllers (no extra connection for the AEN)"

log "3: port outage and return: the kernel reconnects the same controller; stafd re-reads"
nvmet_port_down 127.0.0.1:8009
check wait_for "[ \"\$(cat /sys/class/nvme/$DEV/state)\" != live ]" 15
before=$(sig_count)
sleep 2
nvmet_port_up 127.0.0.1:8009
check wait_for "[ \"\$(cat /sys/class/nvme/$DEV/state)\" = live ]" 30
check wait_for "[ \$(sig_count) -gt $before ]" 10
expect_eq "$(ls /sys/class/nvme)" "$DEV" "same kernel controller after the outage"
check wait_for "dlp_json 127.0.0.1 | grep -q '\"subnqn\": \"${NVMET_SUBNQN_PREFIX}$((N + 1))\"'" 5

stafd_stop
trap - EXIT
expect_eq "$(ls /sys/class/nvme)" "$DEV" "persistent connection kept on exit"
log "done"
