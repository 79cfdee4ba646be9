# stas-vm: timeout=5
# Harness self-test: must be reported as a timeout.
log "sleeping past the 5 s timeout"
sleep 600
