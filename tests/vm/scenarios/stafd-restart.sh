# stas-vm: subsystems=4 timeout=240
# Warm restart: stafd stopped (persistent connections kept) and started again adopts the
# kernel's discovery controllers: no new controller, same devices, no entry lost, and the
# cached entries are served at once from the state file.
set -e
. "$STAS_VM_SCENARIO_DIR/stafd-common.inc"
nvmet_setup "$STAS_VM_SUBSYSTEMS"
nvmet_add_referral 127.0.0.1:8009 ::1 8009
start_system_bus
stafd_conf <<CONF
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
CONF
stafd_start
trap stafd_dump EXIT
check wait_for 'dlp_json ::1 | grep -q "\"subtype\": \"nvme\""' 15
check wait_for 'dlp_json 127.0.0.1 | grep -q "\"subtype\": \"referral\""' 5
stafctl ls
before_ctrls=$(ls /sys/class/nvme | tr '\n' ' ')
dlp_json 127.0.0.1 > dlp4-before.json
dlp_json ::1 > dlp6-before.json
stafd_stop
STATE=/run/stafd/last-known-config.toml
[ -s "$STATE" ] || fail "no state file at $STATE"
head -n 20 "$STATE"
expect_eq "$(ls /sys/class/nvme | tr '\n' ' ')" "$before_ctrls" "connections kept while stafd is down"

log "restart"
stafd_start stafd2.log
# Served from the state file before anything was read again:
dlp_json 127.0.0.1 > dlp4-early.json
expect_eq "$(json_values subnqn < dlp4-early.json | tr '\n' ' ')" "$(json_values subnqn < dlp4-before.json | tr '\n' ' ')" "cached entries at start"
check wait_for '[ "$(stafctl --json ls | json_values device | wc -l)" -eq 2 ]' 10
sleep 2
stafctl ls
expect_eq "$(ls /sys/class/nvme | tr '\n' ' ')" "$before_ctrls" "no new controller after the restart"
grep -q 'adopted existing kernel controller' stafd2.log || fail "nothing adopted"
if grep -q 'Connection established' stafd2.log; then fail "stafd connected anew"; fi
dlp_json 127.0.0.1 > dlp4-after.json
dlp_json ::1 > dlp6-after.json
expect_eq "$(json_values subnqn < dlp4-after.json | tr '\n' ' ')" "$(json_values subnqn < dlp4-before.json | tr '\n' ' ')" "127.0.0.1 entries"
expect_eq "$(json_values subnqn < dlp6-after.json | tr '\n' ' ')" "$(json_values subnqn < dlp6-before.json | tr '\n' ' ')" "::1 entries"
STAFD_LOG=stafd2.log
stafd_stop
trap - EXIT
log "done"
