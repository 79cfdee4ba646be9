# stas-vm: subsystems=2 timeout=240
# SIGHUP re-reads stafd.conf: an added exclude= disconnects (and forgets) that DC and emits
# dc_removed; the other DC keeps its connection; removing the exclusion brings it back.
set -e
. "$STAS_VM_SCENARIO_DIR/stafd-common.inc"
nvmet_setup "$STAS_VM_SUBSYSTEMS"
start_system_bus
CONF='[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
controller = transport=tcp;traddr=::1;trsvcid=8009'
echo "$CONF" | stafd_conf
sig_start
stafd_start
trap stafd_dump EXIT
check wait_for '[ "$(stafctl --json ls | json_values device | wc -l)" -eq 2 ]' 10
stafctl ls
V4=$(dc_field 127.0.0.1 device)
V6=$(dc_field ::1 device)
log "DCs: 127.0.0.1 on $V4, ::1 on $V6"
expect_ne "$V4" "$V6" "two kernel controllers"
check wait_for 'dlp_json ::1 | grep -q "\"subtype\": \"nvme\""' 10

log "SIGHUP with exclude=traddr=::1"
printf '%s\nexclude = traddr=::1\n' "$CONF" | stafd_conf
kill -HUP "$STAFD_PID"
check wait_for "[ ! -e /sys/class/nvme/$V6 ]" 5
check wait_for '[ "$(sig_count dc_removed)" -ge 1 ]' 5
expect_eq "$(stafctl --json ls | json_values device)" "$V4" "only the 127.0.0.1 DC is left"
expect_eq "$(dlp_json ::1 | tr -d ' \n')" "[]" "the excluded DC has no log pages any more"
expect_eq "$(cat /sys/class/nvme/$V4/state)" live "the other DC keeps its connection"
kill -0 "$STAFD_PID" || fail "stafd died on SIGHUP"

log "SIGHUP without the exclusion: the DC comes back"
echo "$CONF" | stafd_conf
kill -HUP "$STAFD_PID"
check wait_for 'dlp_json ::1 | grep -q "\"subtype\": \"nvme\""' 10
expect_eq "$(stafctl --json ls | json_values device | wc -l)" 2 "both DCs again"
expect_eq "$(ls /sys/class/nvme | wc -l)" 2 "two kernel controllers"

stafd_stop
trap - EXIT
log "done"
