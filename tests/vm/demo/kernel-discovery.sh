# stas-vm: subsystems=3 timeout=180
# Demonstration (run by tools/demo, not part of --all): libstas talks to a real kernel's
# NVMe/TCP host stack and reads the same discovery log page that nvme-cli reads.
set -e
nvmet_setup "$STAS_VM_SUBSYSTEMS"

log "host identity of this boot"
echo "hostnqn: $HOSTNQN"
echo "hostid:  $HOSTID"

log "options the kernel accepts on /dev/nvme-fabrics, as libstas reads them"
stas-kcheck options --names | tr '\n' ' '; echo

log "libstas connects the discovery controller at 127.0.0.1:8009"
stas-kcheck connect --traddr 127.0.0.1 --trsvcid 8009 --kato 30 | tee dc.json
DC=$(sed -n 's/^ *"device": "\(nvme[0-9]*\)".*/\1/p' dc.json | head -n 1)

log "the discovery log page of $DC, read by libstas (nvme-stas's D-Bus shape)"
stas-kcheck dlp "$DC" | tee dlp.json

log "the same page read by nvme-cli, and the entry-by-entry comparison"
nvme discover -t tcp -a 127.0.0.1 -s 8009 -o json > discover.json
stas-kcheck compare-dlp "$DC" discover.json

log "disconnect"
stas-kcheck delete "$DC"

log "stafd: the discovery daemon, configured with the same target on both addresses"
start_system_bus > /dev/null
mkdir -p /etc/stas
cat > /etc/stas/stafd.conf <<CONF
[Controllers]
controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009
controller = transport=tcp;traddr=::1;trsvcid=8009
CONF
cat /etc/stas/stafd.conf
stafd > stafd.log 2>&1 &
STAFD_PID=$!
check wait_for 'stafctl --json adlp 2>/dev/null | grep -c "\"subtype\": \"nvme\"" | grep -qx 6' 15
log "stafctl ls"
stafctl ls
log "stafctl adlp"
stafctl adlp
kill -TERM "$STAFD_PID"
wait "$STAFD_PID" || fail "stafd exited with status $?"
log "stafd stopped; its log:"
cat stafd.log
