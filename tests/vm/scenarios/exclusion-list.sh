# stas-vm: subsystems=2 timeout=300
# nvme-cli 3's exclusion list (/etc/nvme/exclusions.conf; DECISIONS.md item 19) is read
# before every connect: an entry written while an I/O controller waits in stacd's retry
# timer (its port down, the kernel gave up on it) keeps the retries from connecting it when
# the port is back; removing the entry lets the next retry connect it. The other
# subsystem, never excluded, comes back at once. Takes about 80 s: stacd retries 3 s
# after a failure, once more 3 s later, then every 60 s (nvme-stas's timers).
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up "$N" '[Global]
reconnect-delay=1
ctrl-loss-tmo=2'
NQN1=$(nvmet_subnqn 1)
D1=$(ioc_dev 1)

log "1: port 127.0.0.1:8009 down until the kernel gives up on the I/O controllers"
port_outage 127.0.0.1:8009 "[ ! -e /sys/class/nvme/$D1 ]" 20
# stacd's first retry (3 s) fails while the port is down; the next is 60 s later.
check wait_for "grep -q 'Failed to connect' '$STACD_LOG'" 20

log "2: exclude subsystem 1, then the port comes back"
mkdir -p /etc/nvme
printf '[exclusions]\nexclusion = transport=tcp;traddr=127.0.0.1;nqn=%s\n' "$NQN1" > /etc/nvme/exclusions.conf
nvmet_port_up 127.0.0.1:8009
check wait_for "[ \$(live_iocs) -eq $((N - 1)) ]" 90
check wait_for "grep -q \"excluded by the host's exclusion list\" '$STACD_LOG'" 90
[ -z "$(ioc_dev 1)" ] || fail "subsystem 1 was connected although excluded"
log "subsystem 1 not connected: $(grep -c "excluded by the host's exclusion list" "$STACD_LOG") excluded attempt(s)"

log "3: the entry is removed: the next retry connects it"
rm /etc/nvme/exclusions.conf
check wait_for "[ \$(live_iocs) -eq $N ]" 90
[ -n "$(ioc_dev 1)" ] || fail "subsystem 1 not connected"

stacd_stop
stafd_stop
trap - EXIT
log "done"
