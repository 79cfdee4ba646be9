# stas-vm: subsystems=5 timeout=240
# nvme-cli 3's ownership registry (/run/nvme/registry; DECISIONS.md item 19), with the
# guest's nvme-cli 2.3 as "another orchestrator" by hand: subsystems 3, 4 and 5 are
# connected with `nvme connect` before stas starts, then 3 is registered by hand as nbft's
# (as nvme-cli 3 would write the entry), 4 as discoverd's, and 5 left unowned.
# stafd and stacd then register what they connect (owner stas, with a seqnum, no temporary
# or trash entries left), adopt and claim the unowned one, and never adopt, disconnect or
# re-stamp the other orchestrators' controllers: not when their subsystems leave the
# discovery log, not when the daemons stop.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
REG=/run/nvme/registry

# nvme connect to subsystem $1 at 127.0.0.1:8009; prints the new controller's name.
by_hand() {
    _bh_before=" $(nvme_ctrls io | tr '\n' ' ') "
    nvme connect -t tcp -a 127.0.0.1 -s 8009 -n "$(nvmet_subnqn "$1")" -q "$HOSTNQN" -I "$HOSTID" > /dev/null ||
        fail "nvme connect to subsystem $1"
    for _bh_c in $(nvme_ctrls io); do
        case $_bh_before in *" $_bh_c "*) ;; *) echo "$_bh_c" ;; esac
    done
}

# The registry entry as nvme-cli 3 writes it: seqnum, owner.
register_by_hand() {
    mkdir -p "$REG/$1"
    cat /sys/kernel/uevent_seqnum > "$REG/$1/seqnum"
    echo "$2" > "$REG/$1/owner"
}

owner_of() {
    cat "$REG/$1/owner" 2>/dev/null || echo -
}

nvmet_setup "$N"
D3=$(by_hand 3); D4=$(by_hand 4); D5=$(by_hand 5)
[ -n "$D3" ] && [ -n "$D4" ] && [ -n "$D5" ] || fail "connecting by hand"
register_by_hand "$D3" nbft
register_by_hand "$D4" discoverd
log "by hand: subsystem 3 on $D3 (nbft), 4 on $D4 (discoverd), 5 on $D5 (unowned)"

stas_start

log "1: stacd holds 1, 2 and 5 (adopted); 3 and 4 are another's (3, a boot path, is shown)"
check wait_for "[ \$(live_iocs) -eq $N ] && [ \$(stacctl_devs | wc -l) -eq 4 ]" 30
D1=$(ioc_dev 1); D2=$(ioc_dev 2)
expect_eq "$(stacctl_devs | tr '\n' ' ')" "$(printf '%s\n' "$D1" "$D2" "$D3" "$D5" | sort | tr '\n' ' ')" "stacctl's controllers"
stacctl ls | grep -q "^$D3 .* nbft *\$" || fail "stacctl does not show $D3 with owner nbft"
DC=$(nvme_ctrls discovery | head -n 1)
[ -n "$DC" ] || fail "stafd has no discovery controller"
for d in "$DC" "$D1" "$D2"; do
    expect_eq "$(owner_of "$d")" stas "owner of $d (connected by stas)"
    expect_match "$(cat "$REG/$d/seqnum")" '^[0-9]+$' "seqnum of $d"
done
expect_eq "$(owner_of "$D5")" stas "owner of $D5 (adopted and claimed)"
expect_eq "$(owner_of "$D3")" nbft "owner of $D3"
expect_eq "$(owner_of "$D4")" discoverd "owner of $D4"
expect_eq "$(ls -A "$REG" | grep -c '^\.' || true)" 0 "temporary or trash entries"
grep -q "owned by discoverd" "$STACD_LOG" || fail "stacd did not say why it leaves $D4"

log "2: subsystems 1, 3 and 4 leave the discovery log: stacd disconnects only its own"
nvmet_unlink 1 127.0.0.1:8009
nvmet_unlink 3 127.0.0.1:8009
nvmet_unlink 4 127.0.0.1:8009
check wait_for "[ ! -e /sys/class/nvme/$D1 ]" 20
sleep 3
[ -e "/sys/class/nvme/$D3" ] || fail "$D3 (nbft's) was disconnected"
[ -e "/sys/class/nvme/$D4" ] || fail "$D4 (discoverd's) was disconnected"
expect_eq "$(owner_of "$D3") $(owner_of "$D4")" "nbft discoverd" "owners after the unlink"

log "3: stafd and stacd stop: the other orchestrators' controllers stay"
stacd_stop
stafd_stop
[ -e "/sys/class/nvme/$D3" ] || fail "$D3 was disconnected at exit"
[ -e "/sys/class/nvme/$D4" ] || fail "$D4 was disconnected at exit"
expect_eq "$(owner_of "$D3") $(owner_of "$D4")" "nbft discoverd" "owners at the end"
trap - EXIT
log "done"
