# stas-vm: subsystems=3 timeout=300
# The upgrade from /etc/stas (2.x layout) to /etc/nvme (3.x layout) on a real kernel.
# A 2.x host with a configured DC (with a kato override), a configured I/O controller with
# overrides (and the 2.x implicit port 8009), a stacd exclusion and a symname connects its
# controllers; `stasadm migrate --write` writes the 3.x files; the daemons restart on the
# 3.x layout and adopt every controller without a disconnect; then, connecting afresh from
# the 3.x files, the daemons write the very same option strings to /dev/nvme-fabrics and
# the kernel shows the same controllers with the same attributes. A second migrate changes
# nothing. A broken nvme-stas.conf fails --check-config with file:line, and a reload with it
# keeps the running configuration.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
nvmet_setup 3
start_system_bus
S1=$(nvmet_subnqn 1)
S3=$(nvmet_subnqn 3)
mkdir -p /etc/stas
printf '[Host]\nsymname=rig-host\n' > /etc/stas/sys.conf
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009;kato=20
CONF
stacd_conf <<CONF
[Global]
reconnect-delay=1
nr-io-queues=2
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;nqn=$S1;ctrl-loss-tmo=120
exclude = transport=tcp;traddr=127.0.0.1;nqn=$S3
CONF
trap both_dump EXIT

# Every kernel controller with what it was connected with (no device names: they change
# when the controllers are connected again).
kernel_view() {
    for _kv_c in /sys/class/nvme/nvme*; do
        [ -e "$_kv_c" ] || continue
        _kv_l=""
        for _kv_a in cntrltype subsysnqn address kato ctrl_loss_tmo reconnect_delay \
            fast_io_fail_tmo queue_count sqsize hostnqn hostid; do
            _kv_v=$(cat "$_kv_c/$_kv_a" 2>/dev/null || echo -)
            _kv_l="$_kv_l $_kv_a=$_kv_v"
        done
        echo "$_kv_l"
    done | sort
}
# The option strings the daemons wrote to /dev/nvme-fabrics (logged with --tron).
written() {
    grep -h 'writing to /dev/nvme-fabrics' "$@" | sed 's/.*options=//' | sort -u
}
layout_of() {
    "$1" --json status | sed -n 's/.*"configuration layout": *"\([^"]*\)".*/\1/p'
}
wait_stack() {
    wait_for "[ \$(live_iocs) -eq 2 ] && [ \$(stacctl --json ls -d | grep -c '\"connected\": \"True\"') -eq 2 ]" 40 ||
        fail "$(live_iocs) I/O controllers live, expected 2 (subsystems 1 and 2; 3 excluded)"
    wait_for "stafctl --json ls -d | grep -q '\"connected\": \"True\"'" 20 || fail "the DC is not connected"
}

log "1: the 2.x layout connects the DC and subsystems 1 and 2 (3 is excluded)"
stafd_start stafd-2x.log
stacd_start stacd-2x.log
wait_stack
expect_eq "$(layout_of stafctl)" 2.x "stafd's layout"
expect_eq "$(layout_of stacctl)" 2.x "stacd's layout"
kernel_view | tee before.txt
expect_eq "$(grep -c 'cntrltype=io' before.txt)" 2 "I/O controllers"
grep -q "cntrltype=discovery .*kato=20 " before.txt || fail "the DC's kato=20 override did not reach the kernel"
grep -q "subsysnqn=$S1 address=traddr=127.0.0.1,trsvcid=8009.* ctrl_loss_tmo=120 " before.txt ||
    fail "the configured IOC (implicit port 8009, ctrl-loss-tmo=120) is not as configured"
expect_eq "$(grep -c 'queue_count=3' before.txt)" 2 "nr-io-queues=2 on both IOCs"
written stafd-2x.log stacd-2x.log > opts-2x.txt
cat opts-2x.txt
expect_eq "$(wc -l < opts-2x.txt)" 3 "distinct option strings (1 DC, 2 IOCs)"
iocs > devs-before.txt
nvme list-subsys > nvmecli-before.txt

log "2: stasadm migrate: a dry run writes nothing, --write writes the 3.x files"
stasadm migrate > dry-run.txt
cat dry-run.txt
[ ! -e /etc/nvme/nvme-stas.conf ] || fail "the dry run wrote /etc/nvme/nvme-stas.conf"
grep -q '8009' dry-run.txt || fail "the dry run does not mention the implicit port 8009"
sha2x=$(cat /etc/stas/*.conf | md5sum)
stasadm migrate --write
for f in /etc/nvme/nvme-stas.conf /etc/nvme/stafd.conf /etc/nvme/stacd.conf /etc/nvme/exclusions.conf.d/stas.conf; do
    echo "--- $f"; cat "$f"
done
expect_eq "$(cat /etc/stas/*.conf | md5sum)" "$sha2x" "the 2.x files after migrate"
grep -q "^exclusion *= *.*nqn=$S3" /etc/nvme/exclusions.conf.d/stas.conf || fail "the exclusion was not carried over"
stafd --check-config | tee check-3x.txt
stacd --check-config

log "3: the daemons restart on the 3.x layout and adopt every controller, disconnecting nothing"
ev_start restart
stacd_stop
stafd_stop
stafd_start stafd-3x.log
stacd_start stacd-3x.log
wait_stack
sleep 3
ev_stop
expect_eq "$(ev_count remove)" 0 "controllers removed across the restart"
expect_eq "$(ev_count add)" 0 "controllers added across the restart"
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < devs-before.txt)" "I/O controllers after the restart"
nvme list-subsys > nvmecli-after.txt
diff nvmecli-before.txt nvmecli-after.txt || fail "nvme list-subsys differs across the restart"
echo "ok: nvme list-subsys is the same across the restart ($(grep -c ' tcp ' nvmecli-after.txt) paths)"
expect_eq "$(layout_of stafctl)" 3.x "stafd's layout"
expect_eq "$(layout_of stacctl)" 3.x "stacd's layout"
stafctl status | grep -q 'configuration layout.*3\.x' || fail "stafctl status does not show the layout"
expect_eq "$(stafctl --json status | sed -n 's/.*"symname": *"\([^"]*\)".*/\1/p')" rig-host "symname from [Host]"
grep -q 'configuration layout 3.x' stafd-3x.log || fail "stafd did not log its layout"

log "4: connected afresh from the 3.x files: the same option strings, the same kernel view"
stacd_stop
stafd_stop
check nvme disconnect-all
wait_for "[ -z \"\$(ls /sys/class/nvme/ 2>/dev/null)\" ]" 20 || fail "controllers left after disconnect-all"
stafd_start stafd-3x-fresh.log
stacd_start stacd-3x-fresh.log
wait_stack
written stafd-3x-fresh.log stacd-3x-fresh.log > opts-3x.txt
diff opts-2x.txt opts-3x.txt || fail "the 3.x layout writes other options than the 2.x layout"
echo "ok: the same $(wc -l < opts-3x.txt) option strings"
kernel_view > after.txt
diff before.txt after.txt || fail "the kernel's controllers differ"
echo "ok: the same kernel view"

log "5: a second migrate changes nothing"
stasadm migrate --write | tee second.txt
grep -q 'nothing to do' second.txt || fail "the second migrate was not a no-op"

log "6: a broken nvme-stas.conf: --check-config names file and line; a reload keeps the running configuration"
cp /etc/nvme/nvme-stas.conf good.conf
line=$(($(wc -l < good.conf) + 2))
printf '[Discovery Controller Defaults]\nkeep-alive-tmo = 30  # an inline comment\n' >> /etc/nvme/nvme-stas.conf
rc=0; stafd --check-config > check-broken.txt 2>&1 || rc=$?
cat check-broken.txt
expect_eq "$rc" 1 "stafd --check-config exit status"
grep -q "^/etc/nvme/nvme-stas.conf:$line: error" check-broken.txt || fail "no /etc/nvme/nvme-stas.conf:$line error"
iocs > devs-3x.txt
ev_start reload
kill -HUP "$STAFD_PID" "$STACD_PID"
wait_for "grep -q 'reload refused' '$STAFD_LOG' && grep -q 'reload refused' '$STACD_LOG'" 15 ||
    fail "the daemons did not refuse the broken configuration"
sleep 3
ev_stop
expect_eq "$(ev_count remove)" 0 "controllers removed after the refused reload"
kill -0 "$STAFD_PID" && kill -0 "$STACD_PID" || fail "a daemon died"
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < devs-3x.txt)" "I/O controllers after the refused reload"
cp good.conf /etc/nvme/nvme-stas.conf

stacd_stop
stafd_stop
trap - EXIT
log "done"
