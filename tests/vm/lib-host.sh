# shellcheck shell=bash
# tests/vm/lib-host.sh: host-side helpers shared by the real-kernel rigs (tests/vm/run, the
# busybox initramfs guest, and tests/vm/systemd/run, the Debian/systemd guest). Sourced; the
# caller sets CACHE (the download cache) and, for ensure_kernel, KSERIES, before calling them.
# A change here is part of the cache keys of both rigs' guests.

# message prefix of say/die
SAY_PREFIX=${SAY_PREFIX:-stas-vm}
say() { printf '%s: %s\n' "$SAY_PREFIX" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SAY_PREFIX" "$*" >&2; exit 2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
section() { printf '%s\n' "---- $*"; }

# scenario_opt FILE KEY: value of KEY in the scenario's "# stas-vm: key=value ..." line
scenario_opt() {
    sed -n 's/^# stas-vm:[[:space:]]*//p' "$1" | tr -s ' \t' '\n' | sed -n "s/^$2=//p" | tail -n1
}

# Packages whose files go into the guest. Their dependencies are fetched too,
# unless the host already has them installed (the host's copies are used then).
GUEST_PKGS=(busybox-static nvme-cli dbus-daemon dbus-bin)

# kernel_series SERIES: how the kernel package of SERIES (6.1 or 6.12) is chosen (the meta
# package's dependency, else the highest version apt-cache knows) and where ensure_kernel
# records it; sets KMETA, KPKG_RE, KCURRENT. Returns 1 for an unknown series.
kernel_series() {
    case $1 in
        6.1) KMETA=linux-image-amd64; KPKG_RE='linux-image-6\.1\.0-[0-9]+-amd64'; KCURRENT=current ;;
        6.12) KMETA=linux-image-6.12-amd64; KPKG_RE='linux-image-6\.12\.[0-9]+\+deb12-amd64'; KCURRENT=current-6.12 ;;
        *) return 1 ;;
    esac
}

# ---------------------------------------------------------------- host setup
APT_UPDATED=0
apt_update_once() {
    [ $APT_UPDATED = 1 ] && return 0
    say "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
}
host_has_pkg() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

# ensure_host_pkg PKG CMD: install PKG on the host (without recommends) unless dpkg knows it
ensure_host_pkg() {
    if ! dpkg -s "$1" >/dev/null 2>&1; then
        apt_update_once
        say "installing $1"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" \
            > "$CACHE/apt-install.log" 2>&1 || { cat "$CACHE/apt-install.log" >&2; die "apt-get install $1 failed"; }
    fi
    command -v "$2" >/dev/null || die "$2 not found after installing $1"
}

apt_download() { # DIR PKG...: download .debs into DIR
    (cd "$1" && shift && apt-get download -qq -o APT::Sandbox::User=root "$@" >&2) || die "apt-get download $* failed"
}

# The newest Debian kernel of the chosen series (6.1: linux-image-6.1.0-N-amd64, what
# linux-image-amd64 depends on; 6.12: linux-image-6.12.N+deb12-amd64 from bookworm-security,
# what linux-image-6.12-amd64 depends on), unpacked (not installed) into $CACHE/kernel/<kver>.
# Once cached, the same kernel is used (offline-safe; $CACHE/kernel/current for 6.1,
# current-6.12 for 6.12) until STAS_VM_REFRESH=1 or STAS_VM_KERNEL_PKG names another one.
ensure_kernel() {
    local pkg=${STAS_VM_KERNEL_PKG:-}
    if [ -n "$pkg" ] && [[ ${pkg#linux-image-} != "$KSERIES".* ]]; then
        say "note: STAS_VM_KERNEL_PKG=$pkg is not a $KSERIES kernel; ignored for --kernel $KSERIES"
        pkg=
    fi
    if [ -z "$pkg" ] && [ -z "${STAS_VM_REFRESH:-}" ] && [ -s "$CACHE/kernel/$KCURRENT" ]; then
        pkg=$(cat "$CACHE/kernel/$KCURRENT")
    fi
    if [ -z "$pkg" ]; then
        apt_update_once
        pkg=$(apt-cache depends "$KMETA" 2>/dev/null | sed -n 's/^ *Depends: //p' | grep -xE "$KPKG_RE" | head -n1)
        [ -n "$pkg" ] || pkg=$(apt-cache pkgnames "linux-image-$KSERIES." | grep -xE "$KPKG_RE" | sort -V | tail -n1)
        [ -n "$pkg" ] || die "no $KPKG_RE package found with apt-cache"
    fi
    KVER=${pkg#linux-image-}
    KDIR=$CACHE/kernel/$KVER
    if [ ! -f "$KDIR/.done" ]; then
        apt_update_once
        local t; t=$(now)
        say "fetching kernel $pkg (download, unpack, extract vmlinux)"
        rm -rf "$KDIR" "$KDIR.tmp"; mkdir -p "$KDIR.tmp/deb"
        apt_download "$KDIR.tmp/deb" "$pkg"
        dpkg -x "$KDIR.tmp/deb/"*.deb "$KDIR.tmp/root"
        # The uncompressed ELF boots through its PVH entry, ~3 s faster under TCG
        # than the bzImage (whose xz or zstd decompressor is slow there).
        python3 - "$KDIR.tmp/root/boot/vmlinuz-$KVER" "$KDIR.tmp/vmlinux" <<'PY' || die "cannot extract vmlinux from $pkg"
import lzma, struct, subprocess, sys
data = open(sys.argv[1], "rb").read()
# x86 boot protocol >= 2.08: the compressed kernel is payload_length bytes at payload_offset
# (0x248, 0x24c) from the protected-mode code, which follows the (setup_sects + 1) sectors of setup
if data[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", data, 0x206)[0] < 0x208:
    sys.exit(f"{sys.argv[1]}: not a bzImage of boot protocol 2.08 or later")
offset, length = struct.unpack_from("<II", data, 0x248)
start = ((data[0x1f1] or 4) + 1) * 512 + offset
payload = data[start:start + length]
if payload.startswith(b"\xfd7zXZ\x00"):            # 6.1; the decompressor ignores the size trailer
    out = lzma.LZMADecompressor().decompress(payload)
elif payload.startswith(b"\x28\xb5\x2f\xfd"):       # 6.12
    # the kernel build appends the uncompressed size (le32), which zstd rejects as garbage
    out = subprocess.run(["zstd", "-dcq"], input=payload[:-4], stdout=subprocess.PIPE, check=True).stdout
else:
    sys.exit(f"{sys.argv[1]}: unknown payload compression {payload[:6].hex()}")
if out[:4] != b"\x7fELF":
    sys.exit(f"{sys.argv[1]}: the decompressed payload is not an ELF vmlinux")
open(sys.argv[2], "wb").write(out)
PY
        mv "$KDIR.tmp/root/lib/modules/$KVER" "$KDIR.tmp/modules"
        cp "$KDIR.tmp/root/boot/config-$KVER" "$KDIR.tmp/config"
        dpkg-deb -f "$KDIR.tmp/deb/"*.deb Version > "$KDIR.tmp/version"
        rm -rf "$KDIR.tmp/root" "$KDIR.tmp/deb"
        touch "$KDIR.tmp/.done"; mv "$KDIR.tmp" "$KDIR"
        say "kernel $KVER ($(cat "$KDIR/version")) cached in $KDIR in $(elapsed "$t") s"
    fi
    echo "$pkg" > "$CACHE/kernel/$KCURRENT"
}

# fetch_debs DIR PKG...: apt-get download PKGs into DIR, and the dependencies that the host
# does not have installed; breadth first, one apt-get download per level of the tree
fetch_debs() {
    local dir=$1; shift
    local -a level=("$@") next; local -A seen=()
    local p deb d
    while [ ${#level[@]} -gt 0 ]; do
        for p in "${level[@]}"; do seen[$p]=1; done
        apt_download "$dir" "${level[@]}"
        next=()
        for p in "${level[@]}"; do
            deb=$(find "$dir" -name "${p}_*.deb" | head -n1)
            # first alternative of every dependency, without version or arch qualifiers
            for d in $(dpkg-deb -f "$deb" Pre-Depends Depends | sed -e 's/^[A-Za-z-]*: //' | tr ',' '\n' |
                       sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | grep -v '^$'); do
                [ -n "${seen[$d]:-}" ] || host_has_pkg "$d" || { seen[$d]=1; next+=("$d"); }
            done
        done
        level=("${next[@]}")
    done
}

# busybox-static, nvme-cli, dbus-daemon, dbus-bin (+ missing dependencies) unpacked
# into $CACHE/pkgs/root. Nothing is installed on the host: nvme-cli's postinst
# would write the host's /etc/nvme/hostnqn and its autoconnect rule/units.
ensure_pkgs() {
    PKGROOT=$CACHE/pkgs/root
    local want="${GUEST_PKGS[*]}"
    if [ -f "$CACHE/pkgs/.done" ] && [ "$(head -n1 "$CACHE/pkgs/.done")" = "$want" ] && [ -z "${STAS_VM_REFRESH:-}" ]; then
        return 0
    fi
    apt_update_once
    local t; t=$(now)
    say "fetching guest packages: $want"
    rm -rf "$CACHE/pkgs"; mkdir -p "$CACHE/pkgs/debs"
    fetch_debs "$CACHE/pkgs/debs" "${GUEST_PKGS[@]}"
    local deb
    mkdir -p "$PKGROOT"
    for deb in "$CACHE/pkgs/debs/"*.deb; do dpkg -x "$deb" "$PKGROOT"; done
    { echo "$want"; (cd "$CACHE/pkgs/debs" && ls); } > "$CACHE/pkgs/.done"
    say "guest packages cached in $CACHE/pkgs in $(elapsed "$t") s"
}

# ---------------------------------------------------------------- initramfs
BUSYBOX() { "$PKGROOT/bin/busybox" "$@"; }

# pack DIR OUT: newc cpio of DIR (the host has no cpio; busybox-static has one)
pack() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | BUSYBOX cpio -o -H newc 2>/dev/null) > "$2"; }

# boot_prepare NAME DIR SCENARIO MODE [LINE...]: what both runners' `boot` does first. Sets
# BOOT_SUBSYS and BOOT_TIMEOUT (the command line's SUBSYSTEMS and TIMEOUT, else the scenario
# header's, else DEFAULT_SUBSYSTEMS and DEFAULT_TIMEOUT) and writes the guest's environment
# file DIR/share/env (plus each LINE).
# shellcheck disable=SC2034  # BOOT_SUBSYS and BOOT_TIMEOUT are the runners'
boot_prepare() {
    local name=$1 dir=$2 scen=$3 mode=$4 subsys=$SUBSYSTEMS tmo=$TIMEOUT
    shift 4
    if [ -n "$scen" ]; then
        [ -n "$subsys" ] || subsys=$(scenario_opt "$scen" subsystems)
        [ -n "$tmo" ] || tmo=$(scenario_opt "$scen" timeout)
    fi
    BOOT_SUBSYS=${subsys:-$DEFAULT_SUBSYSTEMS}
    BOOT_TIMEOUT=${tmo:-$DEFAULT_TIMEOUT}
    mkdir -p "$dir/share/out"
    {
        echo "STAS_VM_MODE=$mode"
        echo "STAS_VM_SCENARIO=$name"
        echo "STAS_VM_SCENARIO_FILE=${scen:+/mnt/scen/$(basename "$scen")}"
        echo "STAS_VM_SUBSYSTEMS=$BOOT_SUBSYS"
        echo "STAS_VM_TIMEOUT=$BOOT_TIMEOUT"
        echo "STAS_VM_KERNEL=$KSERIES"
        [ $# = 0 ] || printf '%s\n' "$@"
    } > "$dir/share/env"
}

# boot_qemu DIR MODE SHELL_NOTE COMMAND...: runs the guest, COMMAND being qemu's command line.
# In shell mode interactively, after saying SHELL_NOTE; else with no input, killed after
# BOOT_TIMEOUT + BOOT_SLACK seconds, its console in DIR/console.log (and on stdout with
# VERBOSE=1). Sets BOOT_RC to qemu's (or timeout's) exit status.
# shellcheck disable=SC2034  # BOOT_RC is the runners'
boot_qemu() {
    local dir=$1 mode=$2 note=$3
    shift 3
    if [ "$mode" = shell ]; then
        say "$note"
        set +e; "$@"; BOOT_RC=$?; set -e
        return 0
    fi
    set +e
    if [ "$VERBOSE" = 1 ]; then
        timeout -k 5 $((BOOT_TIMEOUT + BOOT_SLACK)) "$@" < /dev/null 2>&1 | tee "$dir/console.log"
        BOOT_RC=${PIPESTATUS[0]}
    else
        timeout -k 5 $((BOOT_TIMEOUT + BOOT_SLACK)) "$@" < /dev/null > "$dir/console.log" 2>&1
        BOOT_RC=$?
    fi
    set -e
}

# boot_again_if_panicked NAME DIR SCENARIO: after a runner's `boot NAME DIR SCENARIO run`, when
# the guest kernel panicked before the scenario started, boot once more. That is a fault of the
# emulation, not of stas (seen once in CI: 6.12 under TCG with 2 vCPUs, an int3 oops in
# sched_clock_cpu as the kernel patched a static key at 3 s of uptime); a second panic, or
# one once the scenario runs, fails the scenario as before.
boot_again_if_panicked() {
    local log=$2/console.log
    grep -q 'Kernel panic' "$log" 2>/dev/null && ! grep -q 'stas-vm: scenario start' "$log" || return 0
    say "note: the guest kernel panicked while booting, before $1 started; booting again (first console: $2/console-boot1.log)"
    grep -m1 -E 'Oops|BUG:|Kernel panic' "$log" >&2 || true
    mv "$log" "$2/console-boot1.log"
    rm -rf "$2/share/out"
    boot "$1" "$2" "$3" run
}
