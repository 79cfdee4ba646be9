# stas-vm: subsystems=2 timeout=240
# Referrals: a referral added to the configured DC's log is followed (new DC, origin
# referral, same host fields); hostile referral entries are logged and skipped and never
# reach /dev/nvme-fabrics; a referral that goes away removes its DC.
set -e
. "$STAS_VM_SCENARIO_DIR/stafd-common.inc"
nvmet_setup "$STAS_VM_SUBSYSTEMS"
start_system_bus
stafd_conf <<CONF
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
CONF
sig_start
stafd_start
trap stafd_dump EXIT
check wait_for 'dlp_json 127.0.0.1 | grep -q "\"subtype\": \"nvme\""' 10

log "1: referral to [::1]:8009 on port 127.0.0.1:8009"
nvmet_add_referral 127.0.0.1:8009 ::1 8009
check wait_for 'dlp_json 127.0.0.1 | grep -q "\"subtype\": \"referral\""' 5
check wait_for 'dlp_json ::1 | grep -q "\"subtype\": \"nvme\""' 10
stafctl ls -d
stafctl --json ls -d > ls.json
expect_eq "$(json_values origin < ls.json | tr '\n' ' ')" "configured referral " "origins"
expect_eq "$(ls /sys/class/nvme | wc -l)" 2 "kernel controllers"
V6=$(dc_field ::1 device)
expect_eq "$(dc_field ::1 origin)" referral "origin of [::1]:8009"
expect_match "$V6" '^nvme[0-9]+$' "referral DC device"
expect_eq "$(cat /sys/class/nvme/$V6/hostnqn)" "$HOSTNQN" "host NQN inherited"

log "2: hostile referrals are skipped with a log line"
nvmet_add_referral 127.0.0.1:8009 '1.2.3.4,hostnqn=evil' 8009
d=$NVMET/ports/1/referrals/odd
mkdir "$d"
echo tcp > "$d/addr_trtype"; echo fc > "$d/addr_adrfam"
echo evil.example > "$d/addr_traddr"; echo 8009 > "$d/addr_trsvcid"; echo 1 > "$d/enable"
nvme discover -t tcp -a 127.0.0.1 -s 8009 | grep -E '^(traddr|subtype)' || true
check wait_for "grep -q 'discovery log entry skipped' $STAFD_LOG" 5
grep 'discovery log entry skipped' "$STAFD_LOG" | tail -n 2
check wait_for "grep -q 'controller skipped.*evil.example' $STAFD_LOG" 5
grep 'controller skipped' "$STAFD_LOG" | tail -n 2
sleep 2
expect_eq "$(ls /sys/class/nvme | wc -l)" 2 "no controller for the hostile entries"
if grep -h . /sys/class/nvme/*/address | grep -q evil; then fail "a hostile address reached the kernel"; fi
if stafctl --json ls | grep -q 'evil\|1\.2\.3\.4'; then fail "a hostile referral became a DC"; fi
kill -0 "$STAFD_PID" || fail "stafd died"

log "3: the referral goes away: its DC is removed"
rmdir "$d"
rmdir "$NVMET/ports/1/referrals/ref-1.2.3.4,hostnqn=evil-8009"
nvmet_del_referral 127.0.0.1:8009 ::1 8009
check wait_for "[ ! -e /sys/class/nvme/$V6 ]" 10
check wait_for '[ "$(sig_count dc_removed)" -ge 1 ]' 5
expect_eq "$(stafctl --json ls | json_values device | wc -l)" 1 "only the configured DC is left"

stafd_stop
trap - EXIT
log "done"
