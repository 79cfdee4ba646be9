# stas-vm: subsystems=3 timeout=150
# The demonstration run by ./tools/demo (not part of --all): an nvmet target on 127.0.0.1 and
# ::1, stafd and stacd on a system-like D-Bus, what they report next to nvme-cli and sysfs,
# a subsystem linked while they run, a clean shutdown, and a one-line summary ("demo: ...").
# Every step is checked: the script fails if a controller the target exposes is not
# connected, if the linked subsystem is not connected within 30 s, or if a daemon fails.
# tools/demo puts the helpers of tests/vm/scenarios/*.inc next to this file.
set -e
[ -f "$STAS_VM_SCENARIO_DIR/stacd-common.inc" ] ||
    fail "run this with ./tools/demo (it copies tests/vm/scenarios/*.inc next to it)"
# shellcheck source=/dev/null
. "$STAS_VM_SCENARIO_DIR/stacd-common.inc"
N=$STAS_VM_SUBSYSTEMS
LINK_TIMEOUT=30

say() { printf '\n## %s\n' "$*"; }
show() {
    printf '$ %s\n' "$*"
    "$@" || fail "exit status $? from: $*"
}
# secs CENTISECONDS: "1.4"
secs() { echo "$(($1 / 100)).$(($1 % 100 / 10))"; }

# What the target exposes behind the discovery controllers of stafd.conf:
# "SUBNQN TRADDR TRSVCID" for every subsystem linked to one of those nvmet ports.
target_paths() {
    for _tp_p in "$NVMET"/ports/*; do
        _tp_a=$(cat "$_tp_p/addr_traddr") _tp_s=$(cat "$_tp_p/addr_trsvcid")
        grep -qF "traddr=$_tp_a;trsvcid=$_tp_s" /etc/stas/stafd.conf || continue
        for _tp_l in "$_tp_p"/subsystems/*; do
            [ -e "$_tp_l" ] && echo "${_tp_l##*/} $_tp_a $_tp_s"
        done
    done | sort
}
# What stafd's cached discovery log pages list: the same three fields.
stafd_paths() {
    stafctl --json adlp | json_rows subtype subnqn traddr trsvcid |
        awk '$1 == "nvme" { print $2, $3, $4 }' | sort
}
# Converged: stacd shows connected exactly what the kernel has live, and that is exactly
# what the target exposes (and not nothing).
converged() {
    _cv_t=$(target_paths)
    [ -n "$_cv_t" ] || return 1
    _cv_c=$(stacctl_paths)
    [ "$_cv_c" = "$(ioc_paths)" ] && [ "$(echo "$_cv_c" | cut -d' ' -f1-3)" = "$_cv_t" ]
}
# live_at_least N: the kernel has N or more live I/O controllers (no fork: polled often)
live_at_least() {
    _la_n=0
    for _la_c in /sys/class/nvme/nvme*; do
        read -r _la_t < "$_la_c/cntrltype" 2>/dev/null || continue
        [ "$_la_t" = io ] || continue
        read -r _la_s < "$_la_c/state" 2>/dev/null || continue
        [ "$_la_s" = live ] && _la_n=$((_la_n + 1))
    done
    [ "$_la_n" -ge "$1" ]
}
# converge TIMEOUT: wait until converged; LIVE_AT is the time (_cs) at which the kernel had
# every I/O controller live. The kernel's count is polled first: the other views cost D-Bus
# calls and forks, and polling them 10 times a second under TCG would slow down what is
# measured. Then every view must agree (within 5 s).
converge() {
    _cg_n=$(target_paths | wc -l)
    wait_for "live_at_least $_cg_n" "$1" || return 1
    LIVE_AT=$(_cs)
    wait_for converged 5
}
# Fail with the four views side by side.
not_converged() {
    echo "--- the target exposes:"; target_paths
    echo "--- stafd's log pages list:"; stafd_paths || true
    echo "--- stacctl shows connected:"; stacctl_paths || true
    echo "--- the kernel has live (sysfs):"; ioc_paths
    fail "$*"
}
# Every view agrees (the lists are left in *.txt).
agree() {
    target_paths > target.txt
    stafd_paths > stafd.txt
    stacctl_paths > stacctl.txt
    ioc_paths > sysfs.txt
    listsubsys_paths > list-subsys.txt
    expect_eq "$(cat stafd.txt)" "$(cat target.txt)" "stafd's log pages = what the target exposes" > /dev/null
    expect_eq "$(cut -d' ' -f1-3 stacctl.txt)" "$(cat target.txt)" "stacctl ls = what the target exposes" > /dev/null
    expect_eq "$(cat stacctl.txt)" "$(cat sysfs.txt)" "stacctl ls = sysfs (same devices)" > /dev/null
    expect_eq "$(cat list-subsys.txt)" "$(cat sysfs.txt)" "nvme list-subsys = sysfs" > /dev/null
    IOCS=$(wc -l < sysfs.txt)
}
# The nvmet ports, one line each, with the subsystems linked to them.
target_ports() {
    for _tp_p in "$NVMET"/ports/*; do
        # shellcheck disable=SC2012  # NQNs have no newlines
        _tp_l=$(ls "$_tp_p/subsystems" | sed "s/^$NVMET_SUBNQN_PREFIX/subsys/" | tr '\n' ' ')
        printf '  port %s  %s %-9s %-5s  %s\n' "${_tp_p##*/}" "$(cat "$_tp_p/addr_trtype")" \
            "$(cat "$_tp_p/addr_traddr")" "$(cat "$_tp_p/addr_trsvcid")" "${_tp_l:-(none)}"
    done
}

say "The target: Linux nvmet in this guest's kernel ($(uname -r)), NVMe/TCP on loopback"
nvmet_setup "$N"
echo "subsystem NQNs are ${NVMET_SUBNQN_PREFIX}1..$N, one namespace each; every one is linked to every port:"
target_ports
start_system_bus --strict > /dev/null
echo "a system-like D-Bus (default-deny policy plus stas's own policy files): $DBUS_SYSTEM_BUS_ADDRESS"

say "Configuration: two discovery controllers, the same target over IPv4 and IPv6"
stafd_conf <<'CONF'
[Global]
reconnect-delay = 1
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
controller = transport=tcp;traddr=::1;trsvcid=8009
CONF
stacd_conf <<'CONF'
[Global]
# no [Controllers] and no exclusions: connect every I/O controller stafd discovers
reconnect-delay = 1
CONF
show stafd --check-config /etc/stas/stafd.conf
show stacd --check-config /etc/stas/stacd.conf
DCS=$(grep -c '^controller *=' /etc/stas/stafd.conf)
EXPECTED=$(target_paths | wc -l)
echo "behind these discovery controllers the target exposes $EXPECTED I/O controllers (subsystem x port) to connect"

say "Starting stafd and stacd"
trap both_dump EXIT
T0=$(_cs)
stafd_start
stacd_start
converge 30 || not_converged "stafd and stacd did not connect every I/O controller within 30 s"
T_CONV=$((LIVE_AT - T0))
log "every I/O controller live $(secs "$T_CONV") s after stafd was started, and stacctl shows them"
agree

say "What stafd found"
show stafctl ls
# a discovery controller that is not connected has the device "nvme?"
expect_eq "$(stafctl --json ls | json_rows device | grep -c '^nvme[0-9][0-9]*$')" "$DCS" "discovery controllers stafctl shows connected" > /dev/null
expect_eq "$(nvme_ctrls discovery | wc -l)" "$DCS" "discovery controllers in the kernel" > /dev/null
echo
show stafctl adlp

say "What stacd connected, and what nvme-cli sees"
show stacctl ls
echo
show nvme list-subsys
echo
echo "ok: stacctl ls, nvme list-subsys and sysfs show the same $IOCS live I/O controllers (same devices),"
echo "    exactly the subsystems the target exposes behind the $DCS discovery controllers"

NEW=$((N + 1))
say "Linking one more subsystem on the target's discovery ports, while the daemons run"
ioc_paths > before.txt
nvmet_add_subsys "$NEW"
T1=$(_cs)
NEW_NQN=$(nvmet_subnqn "$NEW")
show ln -s "$NVMET/subsystems/$NEW_NQN" "$NVMET/ports/$NVMET_PORT_DISC4/subsystems/"
show ln -s "$NVMET/subsystems/$NEW_NQN" "$NVMET/ports/$NVMET_PORT_DISC6/subsystems/"
echo "the target sends a discovery-log-change AEN to each connected discovery controller"
converge "$LINK_TIMEOUT" ||
    not_converged "the linked subsystem was not connected within $LINK_TIMEOUT s"
T_LINK=$((LIVE_AT - T1))
ADDED=$(ioc_paths | grep -vxF -f before.txt || true)
[ -n "$ADDED" ] || fail "no new I/O controller in sysfs"
log "$(echo "$ADDED" | wc -l) new I/O controller(s) live $(secs "$T_LINK") s after the link:"
echo "$ADDED" | while read -r _nqn _a _s dev; do
    echo "  /sys/class/nvme/$dev: $(cat "/sys/class/nvme/$dev/state"), $(cat "/sys/class/nvme/$dev/address"), $_nqn"
done
show stacctl ls
agree
echo "ok: stacctl ls = nvme list-subsys = sysfs = what the target exposes ($IOCS I/O controllers)"

say "Shutting down"
ioc_paths > final.txt
stacd_stop
stafd_stop
trap - EXIT
expect_eq "$(ioc_paths)" "$(cat final.txt)" "I/O controllers after both daemons stopped" > /dev/null
echo "the kernel keeps all $IOCS I/O controllers: as with nvme-stas, stopping the daemons disconnects nothing"

echo
echo "demo: $DCS discovery controllers, $IOCS of $(target_paths | wc -l) I/O controllers connected, converged in $(secs "$T_CONV") s (a new subsystem in $(secs "$T_LINK") s)"
