# stas-vm: subsystems=2 timeout=240
# stas-vm-nbft: --host-nqn nqn.2014-08.org.nvmexpress:uuid:0b6a5a3e-0000-4000-8000-00000000b007 --host-id 0b6a5a3e-0000-4000-8000-00000000b007 --hfi mac=52:54:00:00:b0:07,ip=127.0.0.1/8 --discovery uri=nvme+tcp://127.0.0.1:8009/,hfi=1 --ssns traddr=127.0.0.1,trsvcid=8009,nqn=nqn.2024-01.io.example.stas:subsys1,hfi=1,discovery=1
# A host that boots from NVMe/TCP, on a real kernel with a real ACPI table: the rig gives
# qemu an NBFT (stas-nbft, the line above) naming the rig's discovery controller and
# subsystem 1 as the boot path. The subsystem is connected by hand as an initramfs would
# (nvme connect with the table's parameters, no registry entry). Then stafd (2.x layout,
# persistent-connections=false) connects the table's DC with origin nbft, and stacd shows
# the boot controller with owner nbft and connects subsystem 2 itself. The boot controller
# is never disconnected: not when its subsystem leaves the log, not when the daemons exit;
# nor is the NBFT's DC at stafd's exit.
set -e
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
T=/sys/firmware/acpi/tables/NBFT
[ -r "$T" ] || fail "the guest kernel shows no $T (qemu -acpitable)"
log "the firmware's table: $(wc -c < "$T") bytes"
stas-nbft --show "$T"
# The installer wrote the firmware's identity to /etc/nvme, as on a real boot-from-SAN host.
BOOT_NQN=nqn.2014-08.org.nvmexpress:uuid:0b6a5a3e-0000-4000-8000-00000000b007
BOOT_ID=0b6a5a3e-0000-4000-8000-00000000b007
echo "$BOOT_NQN" > /etc/nvme/hostnqn
echo "$BOOT_ID" > /etc/nvme/hostid
nvmet_setup 2
S1=$(nvmet_subnqn 1)
expect_eq "$S1" nqn.2024-01.io.example.stas:subsys1 "the boot subsystem's NQN (the table names it)"

log "1: the initramfs connects the boot path"
check nvme connect -t tcp -a 127.0.0.1 -s 8009 -n "$S1" --hostnqn="$BOOT_NQN" --hostid="$BOOT_ID"
BOOT=$(ioc_dev 1)
[ -n "$BOOT" ] || fail "no boot controller"
log "boot controller: $BOOT"
[ ! -e "/run/nvme/registry/$BOOT" ] || fail "the boot controller has a registry entry"

log "2: stafd connects the table's DC (origin nbft); stacd shows the boot controller (owner nbft)"
start_system_bus
stafd_conf <<CONF
[Global]
reconnect-delay=1
[Discovery controller connection management]
persistent-connections=false
CONF
printf '[Global]\nreconnect-delay=1\n' | stacd_conf
trap both_dump EXIT
ev_start run
stafd_start
stacd_start
wait_for "stafctl --json ls -d | json_rows traddr origin connected | grep -qx '127.0.0.1 nbft True'" 30 ||
    fail "the NBFT's DC is not connected with origin nbft"
stafctl ls
DC=$(stafctl --json ls | json_values device | grep -v '^nvme?$' | head -n1)
log "NBFT DC: $DC"
wait_for "[ \$(live_iocs) -eq 2 ]" 40 || fail "$(live_iocs) I/O controllers live, expected 2"
stacctl ls | tee ls.txt
grep -q "^$BOOT .*$S1  *nbft *\$" ls.txt || fail "stacctl does not show $BOOT with owner nbft"
expect_eq "$(iocs | awk -v s="$S1" '$2 == s' | wc -l)" 1 "controllers of the boot subsystem (no second connection)"
# nvme-cli sees the same: one path of the boot subsystem, the boot controller.
nvme list-subsys > subsys.txt
cat subsys.txt
expect_eq "$(awk -v s="NQN=$S1" '/^nvme-subsys/ { on = index($0, s) > 0 } on && / tcp / { print $2 }' subsys.txt)" "$BOOT" \
    "nvme list-subsys: the boot subsystem's paths"

log "3: the boot subsystem leaves the log: its controller stays"
check nvme get-log "/dev/$DC" -i 0x70 -l 16 > /dev/null
nvmet_unlink 1 127.0.0.1:8009
wait_for "! stafctl --json dlp -a 127.0.0.1 -s 8009 | grep -q '$S1'" 20 || fail "the log still lists the boot subsystem"
sleep 5
[ -e "/sys/class/nvme/$BOOT" ] || fail "the boot controller $BOOT was removed"
nvmet_link 1 127.0.0.1:8009
wait_for "[ \"\$(cat /sys/class/nvme/$BOOT/state)\" = live ]" 40 || fail "the boot controller did not come back"

log "4: both daemons exit: the boot controller and the NBFT's DC stay"
stacd_stop
stafd_stop
trap - EXIT
ev_stop
[ -e "/sys/class/nvme/$BOOT" ] || fail "the boot controller $BOOT was removed at exit"
[ -e "/sys/class/nvme/$DC" ] || fail "the NBFT's DC $DC was disconnected at exit"
expect_eq "$(ev_count remove)" 0 "controllers removed during the run"
grep -q "not disconnecting\|Disconnect" stafd.log stacd.log && grep "not disconnecting\|Disconnect" stafd.log stacd.log
log "done"
