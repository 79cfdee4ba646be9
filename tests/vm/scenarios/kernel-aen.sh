# stas-vm: subsystems=2 timeout=180 kernels=6.1,6.12
# Discovery-log-change AENs seen through libstas (netlink uevent socket + proto::uevent):
#  - linking a subsystem on the port gives NVME_AEN=0x70f002 on the persistent DC;
#  - the AEN is masked until the log page is read with RAE cleared: a change without a read
#    gives no AEN;
#  - after libstas reads the log (its final header read clears RAE) the next change gives
#    a second AEN.
set -e
N=$STAS_VM_SUBSYSTEMS
nvmet_setup "$N"
KC=stas-kcheck
json_str() { sed -n "s/^ *\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" "$2" | head -n 1; }

# expect_aen NAME TIMEOUT ACTION...: listen, run ACTION, print the waiter's JSON; status of
# the waiter (0: AEN seen)
expect_aen() {
    _ea_name=$1 _ea_to=$2; shift 2
    rm -f "$_ea_name.ready"
    $KC wait-event "$DC" --kind aen --timeout "$_ea_to" --ready "$_ea_name.ready" > "$_ea_name.json" &
    _ea_pid=$!
    wait_for "[ -e $_ea_name.ready ]" 10 || fail "uevent listener did not start"
    "$@"
    _ea_rc=0
    wait "$_ea_pid" || _ea_rc=$?
    cat "$_ea_name.json"
    return "$_ea_rc"
}

$KC connect --traddr 127.0.0.1 --trsvcid 8009 --kato 30 > dc.json || fail "connect: $(cat dc.json)"
DC=$(json_str device dc.json)
expect_match "$DC" '^nvme[0-9]+$' "discovery controller"
log "initial log read by libstas (clears RAE)"
$KC dlp "$DC" > dlp0.json || fail "dlp: $(cat dlp0.json)"
expect_eq "$(grep -c '"subtype": "nvme"' dlp0.json)" "$N" "NVM subsystems before"

log "1: link subsystem $((N + 1)) on 127.0.0.1:8009 -> AEN"
nvmet_add_subsys $((N + 1))
expect_aen aen1 20 nvmet_link $((N + 1)) 127.0.0.1:8009 || fail "no AEN after linking"
grep -q '"aen": "0x70f002"' aen1.json || fail "AEN value"
grep -q '"disc_log_change": true' aen1.json || fail "AEN not classified as a discovery log change"

log "2: unlink without reading the log -> no AEN (masked until a read with RAE=0)"
if expect_aen aen2 6 nvmet_unlink $((N + 1)) 127.0.0.1:8009; then
    fail "an AEN arrived although the log was not read since the last one"
fi
echo "ok: no AEN while masked"

log "3: libstas reads the log (final read clears RAE), then link again -> second AEN"
$KC dlp "$DC" > dlp1.json || fail "dlp: $(cat dlp1.json)"
expect_eq "$(grep -c '"subtype": "nvme"' dlp1.json)" "$N" "NVM subsystems after the unlink"
expect_aen aen3 20 nvmet_link $((N + 1)) 127.0.0.1:8009 || fail "no second AEN after the log was read"
grep -q '"aen": "0x70f002"' aen3.json || fail "second AEN value"
$KC dlp "$DC" > dlp2.json || fail "dlp: $(cat dlp2.json)"
expect_eq "$(grep -c '"subtype": "nvme"' dlp2.json)" $((N + 1)) "NVM subsystems after the second link"

log "4: remove uevent parsed on delete"
expect_aen_remove() {
    rm -f rm.ready
    $KC wait-event "$DC" --kind remove --timeout 20 --ready rm.ready > rm.json &
    _er_pid=$!
    wait_for "[ -e rm.ready ]" 10 || fail "uevent listener did not start"
    $KC delete "$DC" > /dev/null || fail "delete $DC"
    wait "$_er_pid" || { cat rm.json; fail "no remove event for $DC"; }
    cat rm.json
}
expect_aen_remove
log "done"
