# shellcheck shell=bash
# tests/vm/systemd/image.sh: the systemd rig's guest image, sourced by tests/vm/systemd/run.
# Everything that goes into the image is in this file and in image/ next to it; their
# contents, the package list, the kernel and busybox are the image's cache key, so an edit
# here rebuilds it (about a minute) and an edit of the runner or the scenarios does not.
#
# The image: a Debian 12 root file system built by mmdebstrap (variant apt) with
# SD_PKGS, the rig's cached 6.1 kernel's modules (depmod'ed: udev and kmod autoload them),
# a user "stasuser", no /etc/nvme/hostnqn or hostid, and stas-vm-scenario.service, as a
# sparse raw ext4 file made with mke2fs -d (no loop mount). Next to it a tiny busybox
# initramfs that mounts it (virtio-blk, ext4) and switch_roots to systemd.

# What the guest needs: systemd as PID 1 with udev and dbus, nvme-cli (with its udev rules
# and units: scenarios check that stas coexists with them), kmod, man-db and groff-base
# (man -l; systemd-analyze verify looks up Documentation= man pages), iproute2 and procps.
# util-linux (runuser, setpriv) and apt are in every Debian system.
SD_PKGS=(systemd systemd-sysv udev dbus kmod nvme-cli iproute2 procps util-linux man-db groff-base)
SD_SUITE=bookworm
SD_MIRRORS=(
    "deb http://deb.debian.org/debian $SD_SUITE main"
    "deb http://deb.debian.org/debian $SD_SUITE-updates main"
    "deb http://deb.debian.org/debian-security $SD_SUITE-security main"
)
# The ext4 file is sparse: this is its apparent size, not what it takes on disk.
SD_IMAGE_SIZE=2G
# Kernel module directories left out of the image: no such hardware in the guest, and
# 130 MB less to copy (the other 260 MB stay: udev and modprobe find what they look for).
SD_MODULES_SKIP=(kernel/sound kernel/drivers/gpu kernel/drivers/media kernel/drivers/net/wireless)
# What the initramfs loads to mount the root file system (with their dependency closure;
# ext4's crc32c comes from crc32c_generic: busybox has no modules.alias for the crypto API's
# request_module).
SD_INITRD_MODULES=(virtio_pci virtio_blk crc32c_generic ext4)
# Units that only cost boot time in a throwaway guest without such hardware: timers of a
# long-running system, the VT getty (the console is ttyS0), utmp records, pstore and DRM.
SD_MASK=(apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer man-db.timer fstrim.timer
         e2scrub_all.timer e2scrub_reap.service getty@tty1.service
         systemd-update-utmp.service systemd-update-utmp-runlevel.service
         systemd-pstore.service modprobe@efi_pstore.service modprobe@drm.service)
# Modules udev would load for the emulated CPU (-cpu max has SVM and AMD PowerNow!) and for
# the pc machine's built-in legacy devices (IDE, floppy, PS/2 mouse, SMBus); under TCG they
# only cost boot time.
SD_BLACKLIST=(kvm kvm_amd kvm_intel powernow_k8 acpi_cpufreq pcspkr floppy ata_piix ata_generic
              psmouse i2c_piix4)
# Loaded early by systemd-modules-load (in parallel with the rest of sysinit) instead of by
# the runner: the 9p share it mounts first.
SD_MODULES_LOAD=(9pnet_virtio 9p)

# ensure_sd_image: sets SD_IMAGE (the ext4 file) and SD_INITRD; builds them unless cached.
# Needs KVER/KDIR (ensure_kernel) and PKGROOT (ensure_pkgs: busybox).
ensure_sd_image() {
    local here key dir
    here=$(dirname "${BASH_SOURCE[0]}")
    key=$( { cat "${BASH_SOURCE[0]}" "$here"/image/* "$VMDIR/host/moddeps.py"
             echo "${SD_PKGS[*]} / ${SD_MIRRORS[*]} / $KVER $(cat "$KDIR/version")"
             head -n1 "$CACHE/pkgs/.done"; grep '^busybox' "$CACHE/pkgs/.done"
           } | sha256sum | cut -c1-16)
    dir=$CACHE/systemd
    SD_IMAGE=$dir/rootfs-$KVER-$key.ext4
    SD_INITRD=$dir/initrd-$KVER-$key.cpio
    SD_MANIFEST=$dir/rootfs-$KVER-$key.packages
    if [ -f "$SD_IMAGE" ] && [ -f "$SD_INITRD" ] && [ -z "${STAS_VM_REFRESH:-}" ]; then
        return 0
    fi
    ensure_host_pkg mmdebstrap mmdebstrap
    ensure_host_pkg e2fsprogs mke2fs
    mkdir -p "$dir"
    local t t1 b r; t=$(now)
    b=$(mktemp -d "$dir/build.XXXXXX")
    r=$b/root
    say "building the Debian $SD_SUITE image (mmdebstrap: ${SD_PKGS[*]})"
    local -a inc=(); local p
    for p in "${SD_PKGS[@]}"; do inc+=(--include="$p"); done
    if ! mmdebstrap --variant=apt "${inc[@]}" "$SD_SUITE" "$r" "${SD_MIRRORS[@]}" > "$b/mmdebstrap.log" 2>&1; then
        tail -n 30 "$b/mmdebstrap.log" >&2
        rm -rf "$b"
        die "mmdebstrap failed"
    fi
    say "mmdebstrap took $(elapsed "$t") s"
    t1=$(now)
    sd_customize "$r"
    chroot "$r" dpkg-query -W -f '${Package} ${Version}\n' > "$b/packages"
    # -d copies the tree (owners, modes, times, hard links) into the new file system
    # (1.47.0 cannot take a tarball); root_owner makes / root's, not the caller's
    if ! mke2fs -q -F -t ext4 -L stas-vm -E root_owner=0:0 -d "$r" "$b/rootfs.ext4" "$SD_IMAGE_SIZE" > "$b/mke2fs.log" 2>&1; then
        cat "$b/mke2fs.log" >&2
        rm -rf "$b"
        die "mke2fs -d failed"
    fi
    sd_initrd "$b/initrd"
    # drop the older images and initrds of this kernel, then publish the new ones
    rm -f "$dir"/rootfs-"$KVER"-*.ext4 "$dir"/rootfs-"$KVER"-*.packages "$dir"/initrd-"$KVER"-*.cpio
    mv "$b/packages" "$SD_MANIFEST"
    mv "$b/initrd.cpio" "$SD_INITRD"
    mv "$b/rootfs.ext4" "$SD_IMAGE"
    rm -rf "$b"
    say "image $SD_IMAGE: $(du -m "$SD_IMAGE" | cut -f1) MB used of $SD_IMAGE_SIZE (sparse), $(wc -l < "$SD_MANIFEST") packages; customised and written in $(elapsed "$t1") s, $(elapsed "$t") s in all"
}

# sd_customize ROOT: everything the rig changes in the mmdebstrap tree
sd_customize() {
    local r=$1 here m
    here=$(dirname "${BASH_SOURCE[0]}")
    # the rig's kernel modules, depmod'ed by the image's own kmod (modules.alias: autoload)
    local md=$r/usr/lib/modules/$KVER
    mkdir -p "$md"
    local -a ex=()
    for m in "${SD_MODULES_SKIP[@]}"; do ex+=(--exclude="./$m"); done
    (cd "$KDIR/modules" && tar -cf - "${ex[@]}" .) | tar -xf - -C "$md"
    chroot "$r" depmod -a "$KVER" || die "depmod in the image failed"

    printf 'blacklist %s\n' "${SD_BLACKLIST[@]}" > "$r/etc/modprobe.d/stas-vm.conf"
    printf '%s\n' "${SD_MODULES_LOAD[@]}" > "$r/etc/modules-load.d/stas-vm.conf"

    # first-boot provisioning is what scenarios test: nvme-cli's postinst wrote these
    rm -f "$r/etc/nvme/hostnqn" "$r/etc/nvme/hostid"
    # an unprivileged user for the clients' D-Bus policy checks
    chroot "$r" useradd --create-home --shell /bin/bash stasuser || die "useradd stasuser failed"
    echo stas-vm > "$r/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 stas-vm\n::1 localhost ip6-localhost ip6-loopback\n' > "$r/etc/hosts"
    # a fixed machine ID (an empty one means "first boot": presets, firstboot); the kernel
    # command line gives every boot its own (systemd.machine_id=)
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$r/etc/machine-id"; echo >> "$r/etc/machine-id"
    # the journal in memory only: the disk is a throwaway overlay anyway
    mkdir -p "$r/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' > "$r/etc/systemd/journald.conf.d/stas-vm.conf"
    # no fsync per unpacked file (the disk is a throwaway overlay): dpkg's unpack of the
    # package is seconds faster under TCG
    echo force-unsafe-io > "$r/etc/dpkg/dpkg.cfg.d/stas-vm-unsafe-io"
    # no mandb run when a package with man pages is installed (man -l and man NAME work without
    # the index; a trigger's mandb costs seconds under TCG)
    rm -f "$r/var/lib/man-db/auto-update"
    # the console: a root shell (autologin) on ttyS0 for --shell; masked on the kernel command
    # line of the other boots (systemd.mask=serial-getty@ttyS0.service)
    mkdir -p "$r/etc/systemd/system/serial-getty@ttyS0.service.d"
    printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %%I $TERM\n' \
        > "$r/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
    # the scenario runner
    install -D -m 755 "$here/image/bootstrap" "$r/usr/lib/stas-vm/bootstrap"
    install -m 644 "$here/image/stas-vm-scenario.service" "$r/etc/systemd/system/"
    systemctl --root="$r" --quiet enable stas-vm-scenario.service || die "cannot enable stas-vm-scenario.service"
    for m in "${SD_MASK[@]}"; do
        systemctl --root="$r" --quiet mask "$m" 2>/dev/null || true
    done
    # ConditionNeedsUpdate= (ldconfig, systemd-hwdb-update, journal catalog...) compares /usr
    # with /etc/.updated and /var/.updated, which systemd-update-done writes at the end of the
    # first boot, into the throwaway overlay: without them every boot would rebuild the hwdb.
    local ts
    ts=$(stat -c %.9Y "$r/usr"); ts=${ts/./}
    for m in etc var; do
        printf '# This file was created by systemd-update-done. Its only\n# purpose is to hold a timestamp of the time this directory\n# was updated. See man:systemd-update-done.service(8).\nTIMESTAMP_NSEC=%s\n' \
            "$ts" > "$r/$m/.updated"
        touch -r "$r/usr" "$r/$m/.updated"
    done
    # apt's binary caches, so that every boot's apt-get install does not rebuild them
    chroot "$r" apt-cache gencaches > /dev/null || die "apt-cache gencaches in the image failed"
    rm -f "$r/var/log/"*.log
}

# sd_initrd OUT: OUT.cpio, busybox and the modules that mount the root file system
sd_initrd() {
    local r=$1 m
    mkdir -p "$r"/{bin,dev,proc,sys,newroot,etc,lib/modules}
    cp "$PKGROOT/bin/busybox" "$r/bin/busybox"
    for m in sh mount umount insmod sleep mkdir cut switch_root poweroff cat; do ln -s busybox "$r/bin/$m"; done
    install -m 755 "$(dirname "${BASH_SOURCE[0]}")/image/init" "$r/init"
    python3 "$VMDIR/host/moddeps.py" "$KDIR/modules" /dev/null "${SD_INITRD_MODULES[@]}" > "$r/etc/modules.raw"
    while read -r m; do
        mkdir -p "$r/lib/modules/$(dirname "$m")"
        cp "$KDIR/modules/$m" "$r/lib/modules/$m"
        echo "$m"
    done < "$r/etc/modules.raw" > "$r/etc/modules"
    rm "$r/etc/modules.raw"
    pack "$r" "$r.cpio"
}
