# shellcheck shell=sh
# stas VM guest helper library (busybox ash).
#
# Sourced automatically before every scenario (guest path /usr/lib/stas-vm/lib.sh;
# sourcing it again is a no-op). Everything here runs as root in the guest.
# Scenarios may use `set -e` (recommended): every helper returns 0 on success and
# calls fail (exit 1, with a message) when the target cannot be configured.
#
# Environment (set by the harness / guest init):
#   STAS_VM_SUBSYSTEMS   subsystem count asked for (--subsystems, scenario default, else 4)
#   STAS_VM_SCENARIO     scenario name;   STAS_VM_SCENARIO_DIR  its directory (read-only 9p)
#   STAS_VM_OUT          directory for extra artefacts; copied back to the host (kept with --keep)
#   STAS_VM_KERNEL       the kernel series the guest was booted with (--kernel): 6.1 or 6.12
#   HOSTNQN, HOSTID      the per-boot random host identity (/etc/nvme/hostnqn, /etc/nvme/hostid)
#   NVMET                /sys/kernel/config/nvmet
#   DISC_NQN             nqn.2014-08.org.nvmexpress.discovery
#   NVMET_SUBNQN_PREFIX  subsystem NQNs are ${NVMET_SUBNQN_PREFIX}1 .. N
#   NVMET_NS_DEV         backing device of every namespace nvmet_setup creates (/dev/nullb0;
#                        null_blk is loaded with nr_devices=4 gb=1, so nullb1..3 are spare)
#
# Target ports created by nvmet_setup (every subsystem is linked to all four; an
# nvmet port serves both the discovery log and I/O for what is linked to it):
#   id 1  127.0.0.1:8009  (NVMET_PORT_DISC4)     id 3  127.0.0.1:4420  (NVMET_PORT_IO4)
#   id 2  [::1]:8009      (NVMET_PORT_DISC6)     id 4  [::1]:4420      (NVMET_PORT_IO6)
# A PORT argument is a port id or an address: 127.0.0.1:8009, [::1]:4420.
# A SUBSYS argument is an index (3 -> ${NVMET_SUBNQN_PREFIX}3) or a full NQN.
#
# Reference
#   log MSG...                  print "[uptime] MSG"
#   fail MSG...                 print "FAIL: MSG" and exit 1 (from a $(...) subshell: only that
#                               subshell; in the --shell: back to the prompt)
#   check CMD [ARG...]          run CMD; "ok: CMD" or fail with its exit status
#   expect_eq ACTUAL EXPECTED [WHAT]       string equality
#   expect_ne ACTUAL UNEXPECTED [WHAT]
#   expect_match ACTUAL ERE [WHAT]         ACTUAL matches the extended regex ERE
#   expect_ge ACTUAL MIN [WHAT]            integer ACTUAL >= MIN
#   wait_for CMD TIMEOUT [INTERVAL]        eval CMD (quietly) every INTERVAL s (0.1) until it
#                               succeeds; returns 1 and says so after TIMEOUT s (may be fractional)
#   nvmet_setup [N]             N (default STAS_VM_SUBSYSTEMS) subsystems with one namespace each,
#                               any host allowed, the four ports above, all linked
#   nvmet_add_subsys SUBSYS [DEVICE]       one more subsystem (not linked to any port)
#   nvmet_add_port ID TRADDR TRSVCID [ADRFAM]   one more TCP port (adrfam guessed from TRADDR)
#   nvmet_add_port_tls ID TRADDR TRSVCID [TREQ]
#                               one more TCP port that requires TLS 1.3 (addr_tsas=tls1.3, so
#                               addr_treq reads "required"); TREQ "not required" also lets
#                               plain connections in. No subsystem is linked yet: nvmet_link.
#                               The target side's handshakes need tls_start too. (6.12)
#   nvmet_discovery_nqn NQN     the NQN of nvmet's discovery subsystem (configfs discovery_nqn;
#                               the well-known $DISC_NQN still works for discovery). (6.12)
#   nvmet_link SUBSYS PORT / nvmet_unlink SUBSYS PORT
#                               expose / hide a subsystem on a port; connected discovery
#                               controllers of that port get a discovery-log-change AEN
#                               (only once the host has read the log page since the last one)
#   nvmet_add_referral PORT TRADDR TRSVCID / nvmet_del_referral PORT TRADDR TRSVCID
#                               a discovery-subsystem referral in PORT's discovery log
#   nvmet_port_down PORT / nvmet_port_up PORT
#                               remove the port (listener and its connections go away:
#                               host controllers go to "connecting"), then restore it with
#                               the same address, TLS settings, links and referrals
#   nvmet_allow_host SUBSYS HOSTNQN        only the listed hosts may connect (and see it
#                               in discovery logs); repeat for more hosts
#   nvmet_disallow_host SUBSYS HOSTNQN / nvmet_allow_any_host SUBSYS
#   nvmet_teardown              remove every port, subsystem and host
#   nvmet_subnqn SUBSYS         print the subsystem NQN
#   fabrics_connect OPTIONS     write OPTIONS to /dev/nvme-fabrics, print the reply
#                               ("instance=N,cntlid=M"); returns 1 if the kernel refused.
#                               6.12 pairs hostnqn and hostid: pass hostnqn=$HOSTNQN,hostid=$HOSTID
#                               (a hostnqn without its hostid, or a known one with another, is refused)
#   nvme_ctrls [io|discovery]   print the nvmeN controller names, optionally of one type
#   nvme_discover_count TRADDR TRSVCID     number of "nvme subsystem" records in the
#                               discovery log (nvme discover; referrals/self not counted)
#   listsubsys_paths            "SUBNQN TRADDR TRSVCID DEVICE" of every live I/O path that
#                               nvme list-subsys shows, sorted
#   kernel_has_option NAME      true if /dev/nvme-fabrics lists NAME among the options it
#                               accepts (e.g. tls, keyring, tls_key, dhchap_secret, discovery)
#   tls_start                   start tlshd (-s, log in $PWD/tlshd.log, $TLSHD_LOG) and wait until
#                               it listens for the kernel's handshake requests; TLS connections
#                               (host and target side) fail with ESRCH/ECONNRESET without it.
#                               Fails on a kernel without NVMe/TCP TLS. (6.12)
#   tls_stop                    stop tlshd
#   tls_psk HOSTNQN SUBNQN      a random 32-byte PSK of type psk, identity
#                               "NVMe0R01 HOSTNQN SUBNQN", in the kernel's .nvme keyring; prints
#                               its serial (decimal; sysfs tls_key shows it as %08x). On loopback
#                               the one key serves both the host and the target. (6.12)
#   nvme_uevents_start [FILE] / nvme_uevents_stop
#                               log SUBSYSTEM=nvme uevents (one line each: ACTION DEVNAME
#                               NVME_EVENT/NVME_AEN ...) to FILE (/tmp/nvme-uevents.log)
#   start_system_bus [--strict] a private system-like dbus-daemon on the path socket
#                               /run/dbus/system_bus_socket; exports DBUS_SYSTEM_BUS_ADDRESS.
#                               Permissive policy by default; --strict uses a system.conf-like
#                               default-deny policy plus /usr/share/dbus-1/system.d/*.conf
#                               (the repo's dbus/*.conf are installed there)
#   stop_system_bus

[ -n "${STAS_VM_LIB_LOADED:-}" ] && return 0
STAS_VM_LIB_LOADED=1

NVMET=/sys/kernel/config/nvmet
DISC_NQN=nqn.2014-08.org.nvmexpress.discovery
NVMET_SUBNQN_PREFIX=${NVMET_SUBNQN_PREFIX:-nqn.2024-01.io.example.stas:subsys}
NVMET_NS_DEV=${NVMET_NS_DEV:-/dev/nullb0}
NVMET_PORT_DISC4=1 NVMET_PORT_DISC6=2 NVMET_PORT_IO4=3 NVMET_PORT_IO6=4
HOSTNQN=$(cat /etc/nvme/hostnqn 2>/dev/null)
HOSTID=$(cat /etc/nvme/hostid 2>/dev/null)
STAS_VM_SUBSYSTEMS=${STAS_VM_SUBSYSTEMS:-4}
STAS_VM_OUT=${STAS_VM_OUT:-/tmp}
STAS_VM_SCENARIO_DIR=${STAS_VM_SCENARIO_DIR:-/mnt/scen}
export NVMET DISC_NQN NVMET_SUBNQN_PREFIX NVMET_NS_DEV HOSTNQN HOSTID STAS_VM_SUBSYSTEMS STAS_VM_OUT \
    STAS_VM_SCENARIO_DIR NVMET_PORT_DISC4 NVMET_PORT_DISC6 NVMET_PORT_IO4 NVMET_PORT_IO6

# ------------------------------------------------------------------ logging, assertions

# _cs: uptime in centiseconds (no fork)
_cs() {
    read -r _cs_u _cs_rest < /proc/uptime
    echo $(( ${_cs_u%.*} * 100 + 1${_cs_u#*.} - 100 ))
}
# _to_cs SECONDS: "2", "2.5", "0.25" -> centiseconds
_to_cs() {
    case $1 in
        *.*) _tc_i=${1%%.*}; _tc_f=${1#*.}00; _tc_f=${_tc_f%"${_tc_f#??}"}
             echo $(( ${_tc_i:-0} * 100 + 1$_tc_f - 100 )) ;;
        *) echo $(( $1 * 100 )) ;;
    esac
}

log() {
    read -r _log_u _log_rest < /proc/uptime
    echo "[$_log_u] $*"
}

fail() {
    echo "FAIL: $*" >&2
    # in the interactive --shell, abort the command line instead of ending the VM
    case $- in *i*) kill -INT $$; return 1 ;; esac
    exit 1
}

check() {
    if "$@"; then
        echo "ok: $*"
    else
        fail "exit status $? from: $*"
    fi
}

expect_eq() {
    if [ "$1" = "$2" ]; then echo "ok: ${3:-value} = '$2'"; else fail "${3:-value}: expected '$2', got '$1'"; fi
}

expect_ne() {
    if [ "$1" != "$2" ]; then echo "ok: ${3:-value} = '$1' (not '$2')"; else fail "${3:-value}: should not be '$2'"; fi
}

expect_match() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then
        echo "ok: ${3:-value} matches /$2/"
    else
        fail "${3:-value}: '$1' does not match /$2/"
    fi
}

expect_ge() {
    case $1 in ''|*[!0-9]*) fail "${3:-value}: '$1' is not a number" ;; esac
    if [ "$1" -ge "$2" ]; then echo "ok: ${3:-value} = $1 (>= $2)"; else fail "${3:-value}: expected >= $2, got $1"; fi
}

wait_for() {
    _wf_cmd=$1
    _wf_end=$(( $(_cs) + $(_to_cs "${2:-10}") ))
    while :; do
        if eval "$_wf_cmd" > /dev/null 2>&1; then
            return 0
        fi
        if [ "$(_cs)" -ge "$_wf_end" ]; then
            echo "wait_for: timed out after ${2:-10} s: $_wf_cmd" >&2
            return 1
        fi
        sleep "${3:-0.1}"
    done
}

# ------------------------------------------------------------------ nvmet target

nvmet_subnqn() {
    case $1 in
        nqn.*) echo "$1" ;;
        ''|*[!0-9]*) fail "nvmet_subnqn: '$1' is neither an index nor an NQN" ;;
        *) echo "$NVMET_SUBNQN_PREFIX$1" ;;
    esac
}

_adrfam() {
    case $1 in *:*) echo ipv6 ;; *) echo ipv4 ;; esac
}

# _port_id PORT: port id of a live port, or of one saved by nvmet_port_down
_port_id() {
    case $1 in
        '') fail "missing PORT argument" ;;
        *[!0-9]*)
            _pi_svc=${1##*:}; _pi_addr=${1%:*}; _pi_addr=${_pi_addr#\[}; _pi_addr=${_pi_addr%\]}
            for _pi_d in "$NVMET"/ports/* /run/stas-vm/ports/*; do
                [ -f "$_pi_d/addr_traddr" ] || continue
                if [ "$(cat "$_pi_d/addr_traddr")" = "$_pi_addr" ] && [ "$(cat "$_pi_d/addr_trsvcid")" = "$_pi_svc" ]; then
                    echo "${_pi_d##*/}"
                    return 0
                fi
            done
            fail "no nvmet port with address $1" ;;
        *) echo "$1" ;;
    esac
}

_port_attrs() { # DIR ID TRADDR TRSVCID [ADRFAM]
    echo tcp > "$1/addr_trtype" &&
    echo "${5:-$(_adrfam "$3")}" > "$1/addr_adrfam" &&
    echo "$3" > "$1/addr_traddr" &&
    echo "$4" > "$1/addr_trsvcid" || fail "cannot configure nvmet port $2 ($3:$4)"
}

nvmet_add_port() {
    [ $# -ge 3 ] || fail "usage: nvmet_add_port ID TRADDR TRSVCID [ADRFAM]"
    mkdir "$NVMET/ports/$1" || fail "cannot create nvmet port $1"
    _port_attrs "$NVMET/ports/$1" "$@"
}

nvmet_add_port_tls() {
    [ $# -ge 3 ] || fail "usage: nvmet_add_port_tls ID TRADDR TRSVCID [TREQ]"
    mkdir "$NVMET/ports/$1" || fail "cannot create nvmet port $1"
    if [ ! -f "$NVMET/ports/$1/addr_tsas" ]; then
        rmdir "$NVMET/ports/$1"
        fail "nvmet_add_port_tls: nvmet of kernel $(uname -r) has no addr_tsas (no NVMe/TCP TLS; --kernel 6.12 has)"
    fi
    _port_attrs "$NVMET/ports/$1" "$1" "$2" "$3"
    # the kernel takes tsas only once trtype is tcp, and treq only after tsas
    _tls_port_attrs "$NVMET/ports/$1" "$1" tls1.3 "${4:-}"
}

_tls_port_attrs() { # DIR ID TSAS [TREQ]
    echo "$3" > "$1/addr_tsas" || fail "cannot set addr_tsas=$3 on nvmet port $2"
    if [ -n "${4:-}" ]; then
        echo "$4" > "$1/addr_treq" || fail "cannot set addr_treq='$4' on nvmet port $2"
    fi
}

nvmet_discovery_nqn() {
    [ $# -eq 1 ] || fail "usage: nvmet_discovery_nqn NQN"
    [ -f "$NVMET/discovery_nqn" ] ||
        fail "nvmet_discovery_nqn: nvmet of kernel $(uname -r) has no discovery_nqn attribute (--kernel 6.12 has)"
    # printf, not echo: the kernel stores the NQN up to the newline and returns that length,
    # so the shell writes the newline again on its own, which the kernel refuses (EINVAL)
    printf %s "$1" > "$NVMET/discovery_nqn" || fail "cannot set nvmet's discovery_nqn to $1"
    _dq_now=$(cat "$NVMET/discovery_nqn")
    [ "$_dq_now" = "$1" ] || fail "nvmet's discovery_nqn is '$_dq_now' after writing '$1'"
}

nvmet_add_subsys() {
    _as_nqn=$(nvmet_subnqn "$1") || fail "bad argument: '$1'"
    _as_d=$NVMET/subsystems/$_as_nqn
    mkdir "$_as_d" "$_as_d/namespaces/1" || fail "cannot create subsystem $_as_nqn"
    echo 1 > "$_as_d/attr_allow_any_host" &&
    echo "${2:-$NVMET_NS_DEV}" > "$_as_d/namespaces/1/device_path" &&
    echo 1 > "$_as_d/namespaces/1/enable" || fail "cannot configure subsystem $_as_nqn"
}

nvmet_setup() {
    _su_n=${1:-$STAS_VM_SUBSYSTEMS}
    case $_su_n in ''|*[!0-9]*) fail "nvmet_setup: bad subsystem count '$_su_n'" ;; esac
    [ -d "$NVMET" ] || fail "nvmet configfs is not mounted at $NVMET"
    _su_t0=$(_cs)
    # few forks: one mkdir and, per port, one ln for all N subsystems (N may be 256)
    _su_dirs="" _su_i=1
    while [ "$_su_i" -le "$_su_n" ]; do
        _su_dirs="$_su_dirs $NVMET/subsystems/$NVMET_SUBNQN_PREFIX$_su_i"
        _su_i=$((_su_i + 1))
    done
    _su_ns=""
    for _su_d in $_su_dirs; do _su_ns="$_su_ns $_su_d/namespaces/1"; done
    # shellcheck disable=SC2086
    mkdir $_su_dirs $_su_ns || fail "nvmet_setup: cannot create subsystems"
    for _su_d in $_su_dirs; do
        echo 1 > "$_su_d/attr_allow_any_host" &&
        echo "$NVMET_NS_DEV" > "$_su_d/namespaces/1/device_path" &&
        echo 1 > "$_su_d/namespaces/1/enable" || fail "nvmet_setup: cannot configure $_su_d"
    done
    nvmet_add_port "$NVMET_PORT_DISC4" 127.0.0.1 8009
    nvmet_add_port "$NVMET_PORT_DISC6" ::1 8009
    nvmet_add_port "$NVMET_PORT_IO4" 127.0.0.1 4420
    nvmet_add_port "$NVMET_PORT_IO6" ::1 4420
    for _su_p in "$NVMET_PORT_DISC4" "$NVMET_PORT_DISC6" "$NVMET_PORT_IO4" "$NVMET_PORT_IO6"; do
        # shellcheck disable=SC2086
        ln -s $_su_dirs "$NVMET/ports/$_su_p/subsystems/" || fail "nvmet_setup: cannot link port $_su_p"
    done
    log "nvmet: $_su_n subsystem(s) on 127.0.0.1 and ::1, ports 8009 and 4420 ($(( ($(_cs) - _su_t0) * 10 )) ms)"
}

nvmet_link() {
    _ln_nqn=$(nvmet_subnqn "$1") || fail "bad argument: '$1'"
    _ln_p=$(_port_id "$2") || fail "bad argument: '$2'"
    ln -s "$NVMET/subsystems/$_ln_nqn" "$NVMET/ports/$_ln_p/subsystems/$_ln_nqn" ||
        fail "cannot link $_ln_nqn to port $_ln_p"
}

nvmet_unlink() {
    _ln_nqn=$(nvmet_subnqn "$1") || fail "bad argument: '$1'"
    _ln_p=$(_port_id "$2") || fail "bad argument: '$2'"
    rm "$NVMET/ports/$_ln_p/subsystems/$_ln_nqn" || fail "cannot unlink $_ln_nqn from port $_ln_p"
}

nvmet_add_referral() {
    [ $# -ge 3 ] || fail "usage: nvmet_add_referral PORT TRADDR TRSVCID"
    _rf_p=$(_port_id "$1") || fail "bad argument: '$1'"
    _rf_d=$NVMET/ports/$_rf_p/referrals/ref-$2-$3
    mkdir "$_rf_d" || fail "cannot create referral $2:$3 on port $_rf_p"
    _port_attrs "$_rf_d" "$_rf_p" "$2" "$3"
    echo 1 > "$_rf_d/enable" || fail "cannot enable referral $2:$3 on port $_rf_p"
}

nvmet_del_referral() {
    [ $# -ge 3 ] || fail "usage: nvmet_del_referral PORT TRADDR TRSVCID"
    _rf_p=$(_port_id "$1") || fail "bad argument: '$1'"
    rmdir "$NVMET/ports/$_rf_p/referrals/ref-$2-$3" || fail "cannot remove referral $2:$3 from port $_rf_p"
}

nvmet_port_down() {
    _pd_p=$(_port_id "$1") || fail "bad argument: '$1'"
    _pd_d=$NVMET/ports/$_pd_p _pd_s=/run/stas-vm/ports/$_pd_p
    [ -d "$_pd_d" ] || fail "nvmet port $_pd_p does not exist"
    rm -rf "$_pd_s"
    mkdir -p "$_pd_s/referrals"
    for _pd_a in addr_trtype addr_adrfam addr_traddr addr_trsvcid; do cat "$_pd_d/$_pd_a" > "$_pd_s/$_pd_a"; done
    # a TLS port's tsas and treq (kernels with NVMe/TCP TLS)
    if [ -f "$_pd_d/addr_tsas" ] && [ "$(cat "$_pd_d/addr_tsas")" != none ]; then
        cat "$_pd_d/addr_tsas" > "$_pd_s/addr_tsas"
        cat "$_pd_d/addr_treq" > "$_pd_s/addr_treq"
    fi
    ls "$_pd_d/subsystems" > "$_pd_s/subsystems"
    for _pd_r in "$_pd_d"/referrals/*; do
        [ -d "$_pd_r" ] || continue
        mkdir "$_pd_s/referrals/${_pd_r##*/}"
        for _pd_a in addr_trtype addr_adrfam addr_traddr addr_trsvcid enable; do
            cat "$_pd_r/$_pd_a" > "$_pd_s/referrals/${_pd_r##*/}/$_pd_a"
        done
        rmdir "$_pd_r"
    done
    rm -f "$_pd_d"/subsystems/*
    rmdir "$_pd_d" || fail "cannot remove nvmet port $_pd_p"
}

nvmet_port_up() {
    _pu_p=$(_port_id "$1") || fail "bad argument: '$1'"
    _pu_d=$NVMET/ports/$_pu_p _pu_s=/run/stas-vm/ports/$_pu_p
    [ -d "$_pu_s" ] || fail "nvmet port $_pu_p was not taken down with nvmet_port_down"
    mkdir "$_pu_d" || fail "cannot re-create nvmet port $_pu_p"
    _port_attrs "$_pu_d" "$_pu_p" "$(cat "$_pu_s/addr_traddr")" "$(cat "$_pu_s/addr_trsvcid")" "$(cat "$_pu_s/addr_adrfam")"
    if [ -f "$_pu_s/addr_tsas" ]; then
        _tls_port_attrs "$_pu_d" "$_pu_p" "$(cat "$_pu_s/addr_tsas")" "$(cat "$_pu_s/addr_treq")"
    fi
    for _pu_r in "$_pu_s"/referrals/*; do
        [ -d "$_pu_r" ] || continue
        mkdir "$_pu_d/referrals/${_pu_r##*/}"
        for _pu_a in addr_trtype addr_adrfam addr_traddr addr_trsvcid enable; do
            cat "$_pu_r/$_pu_a" > "$_pu_d/referrals/${_pu_r##*/}/$_pu_a"
        done
    done
    _pu_l=""
    while read -r _pu_n; do _pu_l="$_pu_l $NVMET/subsystems/$_pu_n"; done < "$_pu_s/subsystems"
    if [ -n "$_pu_l" ]; then
        # shellcheck disable=SC2086
        ln -s $_pu_l "$_pu_d/subsystems/" || fail "cannot re-link subsystems to port $_pu_p"
    fi
    rm -rf "$_pu_s"
}

nvmet_allow_host() {
    [ $# -eq 2 ] || fail "usage: nvmet_allow_host SUBSYS HOSTNQN"
    _ah_nqn=$(nvmet_subnqn "$1") || fail "bad argument: '$1'"
    _ah_s=$NVMET/subsystems/$_ah_nqn
    echo 0 > "$_ah_s/attr_allow_any_host" || fail "cannot clear allow_any_host of $_ah_nqn"
    [ -d "$NVMET/hosts/$2" ] || mkdir "$NVMET/hosts/$2" || fail "cannot create nvmet host $2"
    [ -e "$_ah_s/allowed_hosts/$2" ] || ln -s "$NVMET/hosts/$2" "$_ah_s/allowed_hosts/$2" ||
        fail "cannot allow $2 on $_ah_nqn"
}

nvmet_disallow_host() {
    [ $# -eq 2 ] || fail "usage: nvmet_disallow_host SUBSYS HOSTNQN"
    _ah_nqn=$(nvmet_subnqn "$1") || fail "bad argument: '$1'"
    rm "$NVMET/subsystems/$_ah_nqn/allowed_hosts/$2" || fail "host $2 was not allowed on $_ah_nqn"
}

nvmet_allow_any_host() {
    _ah_nqn=$(nvmet_subnqn "$1") || fail "bad argument: '$1'"
    rm -f "$NVMET/subsystems/$_ah_nqn"/allowed_hosts/*
    echo 1 > "$NVMET/subsystems/$_ah_nqn/attr_allow_any_host" || fail "cannot set allow_any_host on $_ah_nqn"
}

nvmet_teardown() {
    for _td_p in "$NVMET"/ports/*; do
        [ -d "$_td_p" ] || continue
        rm -f "$_td_p"/subsystems/*
        for _td_r in "$_td_p"/referrals/*; do
            if [ -d "$_td_r" ]; then rmdir "$_td_r" || fail "cannot remove referral $_td_r"; fi
        done
        rmdir "$_td_p" || fail "cannot remove port $_td_p"
    done
    for _td_s in "$NVMET"/subsystems/*; do
        [ -d "$_td_s" ] || continue
        rm -f "$_td_s"/allowed_hosts/*
        for _td_n in "$_td_s"/namespaces/*; do
            if [ -d "$_td_n" ]; then rmdir "$_td_n" || fail "cannot remove namespace $_td_n"; fi
        done
        rmdir "$_td_s" || fail "cannot remove subsystem $_td_s"
    done
    for _td_h in "$NVMET"/hosts/*; do
        if [ -d "$_td_h" ]; then rmdir "$_td_h" || fail "cannot remove host $_td_h"; fi
    done
    rm -rf /run/stas-vm/ports
    return 0
}

# ------------------------------------------------------------------ host side

fabrics_connect() {
    exec 3<> /dev/nvme-fabrics || return 1
    if printf '%s' "$1" >&3 2>/dev/null; then
        read -r _fc_reply <&3 || true
        exec 3>&-
        echo "$_fc_reply"
        return 0
    fi
    exec 3>&-
    echo "fabrics_connect: the kernel refused: $1 (see dmesg)" >&2
    return 1
}

nvme_ctrls() {
    for _nc_c in /sys/class/nvme/nvme*; do
        [ -e "$_nc_c" ] || continue
        if [ -z "${1:-}" ] || [ "$(cat "$_nc_c/cntrltype" 2>/dev/null)" = "$1" ]; then echo "${_nc_c##*/}"; fi
    done
}

nvme_discover_count() {
    [ $# -eq 2 ] || fail "usage: nvme_discover_count TRADDR TRSVCID"
    _dc_out=$(nvme discover -t tcp -a "$1" -s "$2" 2>&1) || fail "nvme discover -t tcp -a $1 -s $2 failed: $_dc_out"
    printf '%s\n' "$_dc_out" | grep -c '^subtype: *nvme subsystem'
}

listsubsys_paths() {
    nvme list-subsys -o json | awk -F'"' -v disc="$DISC_NQN" '
        $2 == "NQN" { nqn = $4 }
        $2 == "Name" && $4 ~ /^nvme[0-9]+$/ { dev = $4 }
        $2 == "Address" { addr = $4 }
        $2 == "State" && $4 == "live" && nqn != disc {
            a = ""; s = ""; n = split(addr, kv, ",")
            for (i = 1; i <= n; i++) {
                if (kv[i] ~ /^traddr=/) a = substr(kv[i], 8)
                if (kv[i] ~ /^trsvcid=/) s = substr(kv[i], 9)
            }
            print nqn, a, s, dev }' | sort
}

kernel_has_option() {
    [ $# -eq 1 ] || fail "usage: kernel_has_option NAME"
    # reading /dev/nvme-fabrics gives one line: the options the kernel accepts ("tls,keyring=%d,...")
    head -n 1 /dev/nvme-fabrics 2>/dev/null | tr ',' '\n' | sed 's/=.*//' | grep -qxF -- "$1"
}

nvme_uevents_start() {
    NVME_UEVENTS_LOG=${1:-/tmp/nvme-uevents.log}
    export NVME_UEVENTS_LOG
    : > "$NVME_UEVENTS_LOG"
    {
        echo '#!/bin/sh'
        echo '[ "$SUBSYSTEM" = nvme ] || exit 0'
        echo 'read -r u _ < /proc/uptime'
        echo 'echo "$u $ACTION $DEVNAME${NVME_EVENT:+ NVME_EVENT=$NVME_EVENT}${NVME_AEN:+ NVME_AEN=$NVME_AEN}${NVME_TRADDR:+ $NVME_TRADDR:$NVME_TRSVCID}" \'
        echo "    >> '$NVME_UEVENTS_LOG'"
    } > /run/stas-vm/uevent-hook
    chmod +x /run/stas-vm/uevent-hook
    uevent /run/stas-vm/uevent-hook &
    NVME_UEVENTS_PID=$!
    sleep 0.2   # let the netlink listener bind
}

nvme_uevents_stop() {
    if [ -n "${NVME_UEVENTS_PID:-}" ]; then kill "$NVME_UEVENTS_PID" 2>/dev/null || true; fi
    NVME_UEVENTS_PID=
}

# ------------------------------------------------------------------ NVMe/TCP TLS (6.12)

# _tlshd_listening: tlshd ($TLSHD_PID) has joined the handshake family's multicast group; until
# then the kernel fails a handshake request with ESRCH. Its generic netlink socket (protocol 16
# in /proc/net/netlink, found by inode: libnl binds a random port id) shows the group in Groups.
_tlshd_listening() {
    _tl_ino=" $(ls -l "/proc/$TLSHD_PID/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')"
    awk -v ino="$_tl_ino" '$2 == 16 && $4 != "00000000" && index(ino, " " $10 " ") { f = 1 } END { exit !f }' /proc/net/netlink
}

tls_start() {
    if [ -n "${TLSHD_PID:-}" ] && kill -0 "$TLSHD_PID" 2>/dev/null; then return 0; fi
    kernel_has_option tls ||
        fail "tls_start: kernel $(uname -r) has no NVMe/TCP TLS (no 'tls' option in /dev/nvme-fabrics; --kernel 6.12 has)"
    command -v tlshd > /dev/null || fail "tls_start: no tlshd in this guest (only the --kernel 6.12 guest has it)"
    # tlshd links the kernel's .nvme keyring into its session keyring when it starts
    [ -d /sys/module/nvme_keyring ] || modprobe nvme-keyring || fail "tls_start: cannot load nvme-keyring"
    TLSHD_LOG=$PWD/tlshd.log
    tlshd -s -c /etc/tlshd.conf > "$TLSHD_LOG" 2>&1 &
    TLSHD_PID=$!
    export TLSHD_PID TLSHD_LOG
    wait_for '! kill -0 "$TLSHD_PID" || _tlshd_listening' 10 || true
    kill -0 "$TLSHD_PID" 2>/dev/null || fail "tls_start: tlshd exited: $(cat "$TLSHD_LOG")"
    _tlshd_listening || fail "tls_start: tlshd (pid $TLSHD_PID) does not listen for handshakes after 10 s: $(cat "$TLSHD_LOG")"
    log "tlshd up (pid $TLSHD_PID, log $TLSHD_LOG)"
}

tls_stop() {
    if [ -n "${TLSHD_PID:-}" ]; then
        kill "$TLSHD_PID" 2>/dev/null || true
        wait_for "! kill -0 $TLSHD_PID" 5 || true
    fi
    TLSHD_PID=
}

tls_psk() {
    [ $# -eq 2 ] || fail "usage: tls_psk HOSTNQN SUBNQN"
    command -v keyctl > /dev/null || fail "tls_psk: no keyctl in this guest (only the --kernel 6.12 guest has it)"
    _tp_id="NVMe0R01 $1 $2"
    _tp_key=$(head -c 32 /dev/urandom | keyctl padd psk "$_tp_id" %:.nvme) ||
        fail "tls_psk: keyctl padd psk '$_tp_id' %:.nvme failed (no .nvme keyring: kernel without NVMe/TCP TLS?)"
    log "PSK $_tp_key in .nvme: $_tp_id" >&2
    echo "$_tp_key"
}

# ------------------------------------------------------------------ D-Bus

start_system_bus() {
    [ -n "${STAS_VM_BUS_PID:-}" ] && return 0
    _sb_conf=/run/stas-vm/system-bus.conf
    mkdir -p /run/dbus /usr/share/dbus-1/system.d
    rm -f /run/dbus/system_bus_socket
    {
        echo '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"'
        echo ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">'
        echo '<busconfig>'
        echo '  <type>system</type>'
        echo '  <listen>unix:path=/run/dbus/system_bus_socket</listen>'
        echo '  <auth>EXTERNAL</auth>'
        if [ "${1:-}" = --strict ]; then
            # like Debian's /usr/share/dbus-1/system.conf: deny by default, policies from system.d
            echo '  <policy context="default">'
            echo '    <deny own="*"/> <deny send_type="method_call"/>'
            echo '    <allow send_type="signal"/> <allow send_requested_reply="true" send_type="method_return"/>'
            echo '    <allow send_requested_reply="true" send_type="error"/>'
            echo '    <allow receive_type="method_call"/> <allow receive_type="method_return"/>'
            echo '    <allow receive_type="error"/> <allow receive_type="signal"/>'
            echo '    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>'
            echo '    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>'
            echo '    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>'
            echo '    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>'
            echo '  </policy>'
            echo '  <includedir>/usr/share/dbus-1/system.d</includedir>'
        else
            echo '  <policy context="default">'
            echo '    <allow user="*"/> <allow own="*"/>'
            echo '    <allow send_destination="*" eavesdrop="true"/> <allow receive_sender="*"/> <allow eavesdrop="true"/>'
            echo '  </policy>'
        fi
        echo '</busconfig>'
    } > "$_sb_conf"
    # line 1: address, line 2: pid
    _sb_out=$(dbus-daemon --config-file="$_sb_conf" --fork --print-address=1 --print-pid=1 2>/tmp/dbus-daemon.err) ||
        fail "dbus-daemon did not start: $(cat /tmp/dbus-daemon.err)"
    STAS_VM_BUS_PID=$(printf '%s\n' "$_sb_out" | sed -n 2p)
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
    export DBUS_SYSTEM_BUS_ADDRESS STAS_VM_BUS_PID
    wait_for '[ -S /run/dbus/system_bus_socket ]' 5 || fail "no system bus socket"
    log "system bus up (pid $STAS_VM_BUS_PID${1:+, $1}): DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS"
}

stop_system_bus() {
    if [ -n "${STAS_VM_BUS_PID:-}" ]; then
        kill "$STAS_VM_BUS_PID" 2>/dev/null || true
        wait_for "! kill -0 $STAS_VM_BUS_PID" 5 || true
    fi
    STAS_VM_BUS_PID=
    rm -f /run/dbus/system_bus_socket 2>/dev/null || true
}
