# stas-vm: timeout=60
# Every workspace binary the harness copied in (target/release) is on PATH and
# the dynamic loader finds all its libraries in the guest.
set -e
bins=$(cat /etc/stas-vm/binaries)
[ -n "$bins" ] || fail "no project binaries in the guest (cargo build --release --workspace --bins)"
for b in $bins; do
    p=$(command -v "$b") || fail "$b is not on PATH"
    out=$(/lib64/ld-linux-x86-64.so.2 --list "$p" 2>&1) || fail "the loader cannot load $p: $out"
    case $out in *"not found"*) fail "missing libraries for $b: $out" ;; esac
    echo "ok: $p ($(wc -c < "$p") bytes) loads"
done
for t in nvme dbus-daemon dbus-send busybox; do check command -v "$t"; done
expect_eq "$(find / -xdev -name '*nvmf*.rules' | wc -l)" 0 "nvme-cli udev rules in the guest"
