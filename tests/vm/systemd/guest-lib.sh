# shellcheck shell=bash
# The systemd rig's guest library (tests/vm/systemd), sourced before every scenario (bash, as
# root, in a Debian 12 system booted with systemd; sourcing it again is a no-op).
#
# It loads the busybox rig's tests/vm/guest/lib.sh first, so everything documented there
# works here too: log, fail, check, expect_eq/ne/match/ge, wait_for, the nvmet_* target
# helpers, fabrics_connect, nvme_ctrls, nvme_discover_count, kernel_has_option. (Not
# start_system_bus or nvme_uevents_start: the system bus is the real one here, and udevadm
# monitor replaces busybox's uevent.) Then the systemd-specific helpers below.
#
# Environment (from the runner): STAS_VM_SCENARIO, STAS_VM_SCENARIO_DIR (/mnt/scen, read-only),
# STAS_VM_OUT (files copied back to the host), STAS_VM_DEB (the project's .deb in the share),
# STAS_VM_T_START (uptime when the runner started), STAS_VM_TIMEOUT, STAS_VM_SUBSYSTEMS.
#
# Reference
#   stas_install [DEB]          apt-get install the project's package (default $STAS_VM_DEB)
#                               offline, then reload HOSTNQN/HOSTID from /etc/nvme
#   nvmet_modules               modprobe what an nvmet TCP target on loopback and the
#                               nvme-tcp host need (null_blk with nr_devices=4 gb=1 for
#                               $NVMET_NS_DEV), and check that configfs has nvmet
#   unit_prop UNIT PROP         systemctl show -p PROP --value UNIT
#   unit_active UNIT            true if UNIT is active
#   wait_active UNIT [TIMEOUT]  wait (default 30 s) until UNIT is active; on timeout print its
#                               status and journal and fail
#   wait_inactive UNIT [TIMEOUT]
#   journal UNIT [ARGS...]      this boot's journal of UNIT (journalctl -b -u UNIT --no-pager)
#   system_wait [TIMEOUT]       systemctl is-system-running --wait (default 120 s); prints
#                               the state (running, degraded, ...)
#   failed_units                the failed units, one per line
#   as_user CMD [ARG...]        run CMD as the unprivileged user stasuser (runuser)
#   conf_set FILE SECTION LINE  append LINE to [SECTION] of an ini file (the section is added
#                               at the end if missing); e.g.
#                               conf_set /etc/stas/stafd.conf Controllers 'controller = transport=tcp;traddr=127.0.0.1'
#   uptime_s                    seconds of uptime (for timings)
#   json_rows KEY...            one line per object of the JSON on stdin (stafctl/stacctl --json):
#                               the values of KEY... separated by spaces ("-" if absent)
#   stacctl_paths               "SUBNQN TRADDR TRSVCID DEVICE" of every I/O controller that
#                               `stacctl --json ls -d` shows connected, sorted
#   ioc_paths                   the same fields for every live I/O controller in sysfs

[ -n "${STAS_VM_SDLIB_LOADED:-}" ] && return 0
STAS_VM_SDLIB_LOADED=1

STAS_VM_LIB_DIR=${STAS_VM_LIB_DIR:-/mnt/host/lib}
# shellcheck source=tests/vm/guest/lib.sh
. "$STAS_VM_LIB_DIR/lib.sh"

uptime_s() { cut -d' ' -f1 /proc/uptime; }

stas_install() {
    _si_deb=${1:-${STAS_VM_DEB:-}}
    if [ -z "$_si_deb" ] || [ ! -f "$_si_deb" ]; then fail "stas_install: no package ('${_si_deb}')"; fi
    # the package from the share: apt resolves its dependencies against what is installed
    # (the image has no package lists; every dependency must already be there)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confold "$_si_deb" < /dev/null > /tmp/stas-install.log 2>&1 || {
        cat /tmp/stas-install.log
        fail "apt-get install $_si_deb failed"
    }
    grep -E '^(Setting up|Unpacking|Processing|W:|E:)' /tmp/stas-install.log | grep -v "^W: Download is performed unsandboxed"
    HOSTNQN=$(cat /etc/nvme/hostnqn 2>/dev/null)
    HOSTID=$(cat /etc/nvme/hostid 2>/dev/null)
    export HOSTNQN HOSTID
    log "installed $(dpkg-query -W -f '${Package} ${Version}' stas 2>/dev/null)"
}

nvmet_modules() {
    if ! { modprobe configfs && modprobe null_blk nr_devices=4 gb=1 && modprobe nvmet-tcp && modprobe nvme-tcp; }; then
        fail "nvmet_modules: modprobe failed"
    fi
    # systemd mounts configfs (sys-kernel-config.mount); mount it if that has not happened yet
    [ -d /sys/kernel/config/nvmet ] || mountpoint -q /sys/kernel/config ||
        mount -t configfs configfs /sys/kernel/config || true
    wait_for '[ -d /sys/kernel/config/nvmet ] && [ -b "$NVMET_NS_DEV" ]' 10 ||
        fail "nvmet_modules: no $NVMET or $NVMET_NS_DEV"
}

unit_prop() { systemctl show -p "$2" --value "$1"; }
unit_active() { systemctl is-active --quiet "$1"; }

_unit_dump() {
    echo "---- systemctl status $1"
    systemctl status --no-pager -l "$1" 2>&1 | head -n 30
    echo "---- journal of $1 (last 40 lines)"
    journal "$1" | tail -n 40
}

wait_active() {
    if ! wait_for "systemctl is-active --quiet '$1'" "${2:-30}" 0.2; then
        _unit_dump "$1"
        fail "$1 is not active after ${2:-30} s (it is $(systemctl is-active "$1"))"
    fi
}

wait_inactive() {
    if ! wait_for "! systemctl is-active --quiet '$1'" "${2:-30}" 0.2; then
        _unit_dump "$1"
        fail "$1 is still active after ${2:-30} s"
    fi
}

journal() {
    _jn_u=$1; shift
    journalctl -b --no-pager -o short-monotonic -u "$_jn_u" "$@"
}

system_wait() {
    timeout "${1:-120}" systemctl is-system-running --wait 2>/dev/null || true
}

failed_units() { systemctl list-units --failed --no-legend --plain | awk '{ print $1 }'; }

as_user() { runuser -u stasuser -- "$@"; }

conf_set() {
    [ $# -eq 3 ] || fail "usage: conf_set FILE SECTION LINE"
    [ -f "$1" ] || fail "conf_set: no $1"
    if grep -q "^\[$2\]" "$1"; then
        # after the section's last non-comment, non-empty line (or its header)
        awk -v sec="[$2]" -v line="$3" '
            { lines[NR] = $0 }
            $0 == sec { in_sec = 1; at = NR; next }
            /^\[/ { in_sec = 0 }
            in_sec && $0 !~ /^[[:space:]]*(#|$)/ { at = NR }
            END { for (i = 1; i <= NR; i++) { print lines[i]; if (i == at) print line } }' \
            "$1" > "$1.new" && cat "$1.new" > "$1" && rm -f "$1.new"
    else
        printf '\n[%s]\n%s\n' "$2" "$3" >> "$1"
    fi
}

json_rows() {
    awk -v keys="$*" '
        BEGIN { n = split(keys, k, " ") }
        /\{ *$/ { split("", r); next }
        /^ *\},? *$/ {
            line = ""
            for (i = 1; i <= n; i++) line = line (i > 1 ? " " : "") ((k[i] in r) && r[k[i]] != "" ? r[k[i]] : "-")
            print line; split("", r); next }
        match($0, /"[^"]*": *"[^"]*"/) { s = substr($0, RSTART, RLENGTH); split(s, kv, "\""); r[kv[2]] = kv[4] }'
}

stacctl_paths() {
    stacctl --json ls -d | json_rows subsysnqn traddr trsvcid device connected |
        awk '$5 == "True" && $4 ~ /^nvme[0-9]+$/ { print $1, $2, $3, $4 }' | sort
}


ioc_paths() {
    for _ip_c in /sys/class/nvme/nvme*; do
        [ "$(cat "$_ip_c/cntrltype" 2>/dev/null)" = io ] || continue
        [ "$(cat "$_ip_c/state" 2>/dev/null)" = live ] || continue
        _ip_a=$(cat "$_ip_c/address")
        _ip_t=${_ip_a#traddr=}; _ip_t=${_ip_t%%,*}
        _ip_s=${_ip_a#*trsvcid=}; _ip_s=${_ip_s%%,*}
        echo "$(cat "$_ip_c/subsysnqn") $_ip_t $_ip_s ${_ip_c##*/}"
    done | sort
}
