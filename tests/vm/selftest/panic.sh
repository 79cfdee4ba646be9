# stas-vm: timeout=30
# Harness self-test: a guest kernel crash must be reported as a failure.
log "crashing the guest kernel"
echo c > /proc/sysrq-trigger
sleep 10
