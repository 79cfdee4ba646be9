# stas-vm: timeout=300
# stafd and stacd next to udevd and nvme-cli's own autoconnect (bookworm's nvme-cli 2.3 ships
# 70-nvmf-autoconnect.rules and nvmf-connect@.service, which run `nvme connect-all` on every
# discovery-log-change AEN). While stafd runs it shadows the rule, so an AEN ends with exactly
# one controller per subsystem; when it stops, nvme-cli's rule is back (and the next AEN is
# nvme-cli's: the control that shows the rule would have run). A discovery controller made by
# hand gets nvme-cli's connect from stafd itself while stafd shadows the rule.
set -e
# "COUNT SUBSYSNQN" of the subsystem of every kernel I/O controller
per_subsys() { for c in $(nvme_ctrls io); do cat "/sys/class/nvme/$c/subsysnqn"; done | sort | uniq -c; }

rule=/usr/lib/udev/rules.d/70-nvmf-autoconnect.rules
check test -f "$rule"
check test -f /usr/lib/systemd/system/nvmf-connect@.service
expect_eq "$(systemctl is-active systemd-udevd.service)" active "udevd"
nvmet_modules
nvmet_setup 2
stas_install
conf_set /etc/stas/stafd.conf Controllers "controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009"
check systemctl restart stafd.service stacd.service
check wait_for '[ "$(nvme_ctrls io | wc -l)" -eq 2 ]' 60
shadow=/run/udev/rules.d/70-nvmf-autoconnect.rules
check test -f "$shadow"
expect_match "$(head -n1 "$shadow")" '^# Written by stafd' "the shadow's first line"
check udevadm control --reload

for i in 3 4; do
    log "subsystem $i joins the target: one AEN to stafd's DC"
    nvmet_add_subsys "$i"
    t0=$(_cs)
    nvmet_link "$i" "$NVMET_PORT_DISC4"
    check wait_for "[ \"\$(nvme_ctrls io | wc -l)\" -eq $i ]" 30
    log "subsystem $i connected after $(( ($(_cs) - t0) * 10 )) ms"
done
# whatever udev and nvme-cli would do comes within a few seconds of the AEN: let it settle
check udevadm settle --timeout=30
sleep 5
per_subsys
expect_eq "$(per_subsys | awk '$1 != 1' | wc -l)" 0 "subsystems with more than one controller"
expect_eq "$(nvme_ctrls io | wc -l)" 4 "I/O controllers"
connects() { journalctl -b --no-pager | grep -c 'nvmf-connect@' || true; }
expect_eq "$(connects)" 0 "journal lines of nvmf-connect@ units"
expect_eq "$(nvme_ctrls discovery | wc -l)" 1 "discovery controllers"

log "stafd stops: its shadow goes, nvme-cli's rule serves again"
check systemctl stop stafd.service
check test ! -e "$shadow"
check test -f "$rule"
expect_eq "$(nvme_ctrls io | wc -l)" 4 "I/O controllers after the stop"
# the control: the same AEN now reaches nvme-cli's rule, and its nvmf-connect@ connects
nvmet_add_subsys 5
nvmet_link 5 "$NVMET_PORT_DISC4"
check wait_for '[ "$(nvme_ctrls io | wc -l)" -eq 5 ]' 60
expect_ge "$(connects)" 1 "journal lines of nvmf-connect@ units (nvme-cli's rule at work)"
journalctl -b --no-pager | grep 'nvmf-connect@' | head -n 3

log "a discovery controller made by hand (nvme discover -p) while stafd shadows the rule: its AEN"
log "  is passed to nvme-cli's nvmf-connect@ by stafd itself (systemctl from the hardened unit)"
check systemctl start stafd.service
check wait_for 'test -f /run/udev/rules.d/70-nvmf-autoconnect.rules' 20
check udevadm control --reload
before=" $(nvme_ctrls discovery | tr '\n' ' ') "
check nvme discover -p -t tcp -a ::1 -s 8009 > /dev/null
hand=""
for c in $(nvme_ctrls discovery); do case $before in *" $c "*) ;; *) hand=$c ;; esac; done
expect_ne "$hand" "" "the hand-made discovery controller"
nvmet_add_subsys 6
nvmet_link 6 "$NVMET_PORT_DISC6"
check wait_for "journalctl -b -u stafd.service --no-pager | grep -q 'not managed by stafd: starting nvmf-connect'" 30
check wait_for "journalctl -b --no-pager | grep -q 'Started nvmf-connect@--device.x3d$hand'" 30
check wait_for '[ -n "$(for c in $(nvme_ctrls io); do grep -l subsys6 /sys/class/nvme/$c/subsysnqn; done)" ]' 60
journalctl -b -u stafd.service --no-pager | grep 'nvmf-connect' | tail -n 2
log "done"
