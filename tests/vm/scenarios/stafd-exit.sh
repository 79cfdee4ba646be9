# stas-vm: subsystems=2 timeout=180
# persistent-connections=false: on SIGTERM (and SIGINT) stafd disconnects its discovery
# controllers before it exits; the state file is still written.
set -e
. "$STAS_VM_SCENARIO_DIR/stafd-common.inc"
nvmet_setup "$STAS_VM_SUBSYSTEMS"
start_system_bus
stafd_conf <<CONF
[Discovery controller connection management]
persistent-connections=false
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
controller = transport=tcp;traddr=::1;trsvcid=8009
CONF
stafd_start
trap stafd_dump EXIT
check wait_for '[ "$(ls /sys/class/nvme | wc -l)" -eq 2 ]' 10
check wait_for 'dlp_json ::1 | grep -q "\"subtype\": \"nvme\""' 10
stafd_stop
expect_eq "$(ls /sys/class/nvme | wc -l)" 0 "controllers left after SIGTERM"
[ -s /run/stafd/last-known-config.toml ] || fail "no state file"
expect_eq "$(grep -c '^\[\[dc\]\]' /run/stafd/last-known-config.toml)" 2 "DCs in the state file"

log "SIGINT behaves the same"
stafd_start stafd2.log
check wait_for '[ "$(ls /sys/class/nvme | wc -l)" -eq 2 ]' 10
kill -INT "$STAFD_PID"
wait "$STAFD_PID" || fail "stafd exited with status $?"
expect_eq "$(ls /sys/class/nvme | wc -l)" 0 "controllers left after SIGINT"
trap - EXIT
log "done"
