# Harness self-test, deliberately kept out of scenarios/ (and so out of --all):
# it must fail, and `tests/vm/run tests/vm/selftest/fails.sh` must exit non-zero
# and show this output.
log "this scenario fails on purpose"
echo "some output before the failure"
expect_eq "$(uname -s)" "NotLinux" "kernel name"
echo "not reached"
