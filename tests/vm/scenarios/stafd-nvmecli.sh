# stas-vm: subsystems=2 timeout=180
# Living next to nvme-cli's autoconnect (§5.14): while stafd runs it shadows nvme-cli's
# udev rule in /run/udev/rules.d (FC rule only) and removes it at exit; a log-change AEN on
# a persistent discovery controller that stafd does not manage (made with
# `nvme discover -p`) starts nvmf-connect@--device\x3dnvmeN.service through systemctl.
# The guest has no systemd: a stand-in /usr/bin/systemctl records its arguments.
set -e
. "$STAS_VM_SCENARIO_DIR/stafd-common.inc"
nvmet_setup "$STAS_VM_SUBSYSTEMS"
start_system_bus
mkdir -p /usr/bin /run/udev/rules.d
cat > /usr/bin/systemctl <<'SH'
#!/bin/sh
echo "$*" >> /tmp/systemctl.calls
SH
chmod +x /usr/bin/systemctl
rm -f /tmp/systemctl.calls /run/udev/rules.d/70-nvmf-autoconnect.rules

stafd_conf <<CONF
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
CONF
stafd_start
trap stafd_dump EXIT
RULE=/run/udev/rules.d/70-nvmf-autoconnect.rules
check wait_for "[ -s $RULE ]" 5
cat "$RULE"
grep -q 'SUBSYSTEM=="fc"' "$RULE" || fail "the shadow has no FC rule"
if grep -q 'SUBSYSTEM=="nvme"' "$RULE"; then fail "the shadow keeps nvme-cli's NVMe rule"; fi

log "a persistent DC made by nvme-cli on ::1 (not in stafd.conf)"
nvme discover -p -t tcp -a ::1 -s 8009 > /dev/null || fail "nvme discover -p failed"
OTHER=""
for d in /sys/class/nvme/nvme*; do
    case "$(cat "$d/address")" in *traddr=::1,*) OTHER=$(basename "$d") ;; esac
done
expect_match "$OTHER" '^nvme[0-9]+$' "nvme-cli's discovery controller"

N=$STAS_VM_SUBSYSTEMS
log "link a subsystem on [::1]:8009: AEN on nvme-cli's DC, which gets nvmf-connect"
nvmet_add_subsys $((N + 1))
nvmet_link $((N + 1)) '[::1]:8009'
check wait_for '[ -s /tmp/systemctl.calls ]' 10
cat /tmp/systemctl.calls
expect_eq "$(grep -c . /tmp/systemctl.calls)" 1 "systemctl calls"
expect_eq "$(cat /tmp/systemctl.calls)" \
    "--quiet --no-block restart nvmf-connect@--device\\x3d$OTHER.service" "systemctl arguments"

log "link it on 127.0.0.1:8009: stafd's own DC re-reads; no nvmf-connect for it"
nvmet_link $((N + 1)) 127.0.0.1:8009
check wait_for 'dlp_json 127.0.0.1 | grep -q "$(nvmet_subnqn $((N + 1)))"' 5
sleep 1
expect_eq "$(grep -c . /tmp/systemctl.calls)" 1 "systemctl calls"

stafd_stop
trap - EXIT
[ ! -e "$RULE" ] || fail "the shadow rule was not removed at exit"
log "an administrator's own override is never touched"
echo "# admin" > "$RULE"
stafd_start stafd2.log
stafd_stop
expect_eq "$(cat "$RULE")" "# admin" "administrator's override"
log "done"
