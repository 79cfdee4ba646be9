# stas-vm: timeout=400
# The package on a host that ran nvme-stas 2.x: Debian 12 has no nvme-stas, so a stand-in
# nvme-stas_2.4.1 (its 2.x conffiles in /etc/stas, its programs and units) is built and
# installed here, and nvme-cli connects what nvme-stas would have connected. Installing stas
# replaces it (Conflicts/Replaces), keeps every file in /etc/stas and /etc/nvme byte for byte,
# and the daemons come up with the same kernel controllers. Then an upgrade over an edited
# conffile, a remove (conffiles and connections stay) and a purge.
set -e

nvmet_modules
nvmet_setup 2
hashes() { find /etc/stas /etc/nvme -type f | sort | xargs sha256sum; }
devices() { nvme_ctrls | sort | tr '\n' ' '; }

log "a stand-in nvme-stas 2.4.1 package"
pkg=/tmp/nvme-stas
mkdir -p "$pkg/DEBIAN" "$pkg/etc/stas" "$pkg/usr/sbin" "$pkg/usr/bin" "$pkg/usr/lib/systemd/system"
cat > "$pkg/DEBIAN/control" <<'CTL'
Package: nvme-stas
Version: 2.4.1-1
Architecture: all
Maintainer: stas test rig <root@localhost>
Description: stand-in for nvme-stas 2.x (test rig)
 Owns what nvme-stas 2.x's package owns in /etc/stas, and the same program and unit names.
CTL
printf '/etc/stas/stafd.conf\n/etc/stas/stacd.conf\n/etc/stas/sys.conf.doc\n' > "$pkg/DEBIAN/conffiles"
printf '# nvme-stas 2.x stafd.conf (stand-in)\n[Global]\ntron=false\n\n[Controllers]\n' > "$pkg/etc/stas/stafd.conf"
printf '# nvme-stas 2.x stacd.conf (stand-in)\n[Global]\ntron=false\n' > "$pkg/etc/stas/stacd.conf"
printf '# nvme-stas 2.x sys.conf documentation (stand-in)\n' > "$pkg/etc/stas/sys.conf.doc"
for p in usr/sbin/stafd usr/sbin/stacd usr/bin/stafctl usr/bin/stacctl usr/bin/stasadm; do
    printf '#!/bin/sh\necho "nvme-stas stand-in: $0"\n' > "$pkg/$p"; chmod 755 "$pkg/$p"
done
for d in stafd stacd; do
    printf '[Unit]\nDescription=nvme-stas stand-in %s\n[Service]\nExecStart=/bin/sleep infinity\n' "$d" \
        > "$pkg/usr/lib/systemd/system/$d.service"
done
check dpkg-deb --root-owner-group -b "$pkg" /tmp/nvme-stas_2.4.1-1_all.deb
check dpkg -i /tmp/nvme-stas_2.4.1-1_all.deb

log "the host as nvme-stas left it: its identity, an edited stafd.conf, a sys.conf, controllers connected"
nvme gen-hostnqn > /etc/nvme/hostnqn
sed 's/.*:uuid://' /etc/nvme/hostnqn > /etc/nvme/hostid
printf 'controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009\n' >> /etc/stas/stafd.conf
printf '[Host]\nnqn=file:///etc/nvme/hostnqn\nid=file:///etc/nvme/hostid\nsymname=rig-host\n' > /etc/stas/sys.conf
check nvme connect -t tcp -a 127.0.0.1 -s 8009 -n nqn.2014-08.org.nvmexpress.discovery
check nvme connect-all -t tcp -a 127.0.0.1 -s 8009
expect_eq "$(nvme_ctrls io | wc -l)" 2 "I/O controllers nvme-cli connected"
before=$(hashes); devs=$(devices)
echo "$before"

log "install stas over it"
rc=0; apt-get install -y "$STAS_VM_DEB" < /dev/null > /tmp/apt.log 2>&1 || rc=$?
cat /tmp/apt.log
expect_eq "$rc" 0 "apt-get install stas"
expect_eq "$(dpkg-query -W -f='${db:Status-Abbrev}' nvme-stas 2>/dev/null | tr -d ' ')" "rc" "nvme-stas (removed, its config kept)"
after=$(hashes)
[ "$after" = "$before" ] || { diff <(echo "$before") <(echo "$after") || true; fail "/etc/stas or /etc/nvme changed"; }
echo "ok: every file in /etc/stas and /etc/nvme is byte-identical"
check wait_for 'systemctl is-active --quiet stafd.service && systemctl is-active --quiet stacd.service' 60
check wait_for 'stacctl ls 2>/dev/null | grep -c "nqn.2024-01.io.example.stas:subsys" | grep -qx 2' 60
expect_match "$(stafctl ls)" '127\.0\.0\.1' "stafctl ls"
expect_match "$(stafctl status)" 'rig-host' "stafd's symname from the kept sys.conf"
sleep 3
expect_eq "$(devices)" "$devs" "kernel controllers (the same devices)"

log "upgrade over an edited conffile"
printf '\n# edited by the admin\n' >> /etc/stas/stacd.conf
edited=$(sha256sum /etc/stas/stacd.conf)
rc=0; apt-get install -y --reinstall "$STAS_VM_DEB" < /dev/null > /tmp/apt.log 2>&1 || rc=$?
cat /tmp/apt.log
expect_eq "$rc" 0 "reinstall"
expect_eq "$(sha256sum /etc/stas/stacd.conf)" "$edited" "the edited stacd.conf"
check wait_for 'systemctl is-active --quiet stacd.service' 60
expect_eq "$(devices)" "$devs" "kernel controllers after the upgrade"

log "remove: the daemons stop, the connections and the configuration stay"
check apt-get remove -y stas < /dev/null
expect_eq "$(systemctl is-active stafd.service stacd.service | sort -u | tr '\n' ' ')" "inactive " "units"
expect_eq "$(dpkg-query -W -f='${db:Status-Abbrev}' stas | tr -d ' ')" rc "stas"
check test -f /etc/stas/stafd.conf
expect_eq "$(devices)" "$devs" "kernel controllers after the remove"
log "purge: stas's conffiles go; the host identity and the admin's sys.conf stay"
check apt-get purge -y stas < /dev/null
check test ! -e /etc/stas/stacd.conf
check test -f /etc/nvme/hostnqn
check test -f /etc/stas/sys.conf
log "done"
