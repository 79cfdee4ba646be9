# stas-vm: subsystems=4 timeout=240
# A port outage shorter than ctrl-loss-tmo changes no connection: the kernel keeps the
# discovery and I/O controllers (connecting), stafd keeps its log pages, stacd keeps every
# I/O controller; when the port returns the kernel reconnects the same controllers.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up "$N" '[Global]
reconnect-delay=1
ctrl-loss-tmo=60'
iocs > before.txt
D1=$(ioc_dev 1)

# The DC stafd holds on that port (the only discovery controller here).
DC=$(for c in /sys/class/nvme/nvme*; do
    [ "$(cat "$c/subsysnqn")" = nqn.2014-08.org.nvmexpress.discovery ] && echo "${c##*/}"
done | head -n 1)
[ -n "$DC" ] || fail "no discovery controller in sysfs"

ev_start outage
log "1: port 127.0.0.1:8009 down for 15 s"
# stafd is paused while the port goes down (port_outage), so that it sees what a host sees
# in an outage: the connection lost, no log change.
port_outage 127.0.0.1:8009 "[ \"\$(cat /sys/class/nvme/$DC/state)\" != live ]" 15
check wait_for "[ \"\$(cat /sys/class/nvme/$D1/state)\" != live ]" 15
log "I/O controllers live during the outage: $(live_iocs)"
sleep 15
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "I/O controllers during the outage"
expect_eq "$(stacctl_devs | wc -l)" "$N" "stacctl lists"

log "2: port back"
nvmet_port_up 127.0.0.1:8009
check wait_for "[ \$(live_iocs) -eq $N ]" 30
sleep 3
ev_stop
expect_eq "$(iocs | tr '\n' ' ')" "$(tr '\n' ' ' < before.txt)" "same I/O controllers after the outage"
expect_eq "$(ev_count add)" 0 "controllers created"
expect_eq "$(ev_count remove)" 0 "controllers removed"
if grep -q "Disconnect initiated" "$STACD_LOG"; then fail "stacd disconnected something"; fi

stacd_stop
stafd_stop
trap - EXIT
log "done"
