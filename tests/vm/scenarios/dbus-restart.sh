# stas-vm: subsystems=4 timeout=300
# dbus-daemon restarted under running stafd and stacd, which run under a stand-in for
# systemd's Restart=on-failure (faults-common.inc: restarted 2 s after a non-zero exit).
# Each daemon exits 1 with one line ("<daemon>: lost the D-Bus connection: …") and keeps
# every kernel connection; restarted, it comes back on the new bus and adopts them: the
# kernel's controllers (device names, controller ids, transport ids) are identical before
# and after, no nvme uevent adds or removes one, and stafctl ls / stacctl ls answer again.
# stafd runs with persistent-connections=false: an exit for a restart keeps its DC anyway.
# Figures: time from the new bus to each daemon answering on it.
set -e
. "$STAS_VM_SCENARIO_DIR/faults-common.inc"
N=$STAS_VM_SUBSYSTEMS
stack_up_supervised "$N" "[Discovery controller connection management]
persistent-connections=false"
wait_for "converged" $((30 + N * 2)) 0.5 || { ctrl_ids; fail "the stack did not come up"; }
check wait_for "[ \$(stacctl_paths | wc -l) -eq $N ]" 30
ctrl_ids > before.txt
cat before.txt
staf_pid=$(sv_pid stafd)
stac_pid=$(sv_pid stacd)

ev_start dbus-restart
log "restarting dbus-daemon"
stop_system_bus
start_system_bus
t_bus=$(_cs)
# Each daemon answers again only if it exited on the lost bus and was restarted.
wait_for 'stafctl ls > /dev/null 2>&1' 60 || fail "stafd is not back on the bus"
t_staf=$(_cs)
wait_for 'stacctl ls > /dev/null 2>&1' 60 || fail "stacd is not back on the bus"
t_stac=$(_cs)
sv_started_since stafd "$staf_pid" || fail "stafd answers but was not restarted"
sv_started_since stacd "$stac_pid" || fail "stacd answers but was not restarted"
for d in stafd stacd; do
    expect_eq "$(head -n 1 $d.exits | cut -d' ' -f1)" 1 "$d's exit status on the lost bus"
    expect_eq "$(grep -c "^$d: lost the D-Bus connection: " $d.log)" 1 "'$d: lost the D-Bus connection' lines"
    grep "^$d: lost the D-Bus connection: " $d.log
    # The loss is told once: no other error (the log's own ERROR record of the same line aside).
    grep -E ' (ERROR|WARN) ' $d.log || true
    expect_eq "$(grep -c ' ERROR ' $d.log)" 1 "ERROR records in $d.log"
done

# Settled: stacd lists every controller connected, stafd its DC with its log.
check wait_for "[ \$(stacctl_paths | wc -l) -eq $N ]" 30
check wait_for 'dlp_json 127.0.0.1 | grep -q "\"subtype\": \"nvme\""' 30
stafctl ls
stacctl ls
ev_stop
ctrl_ids > after.txt
expect_eq "$(tr '\n' ' ' < after.txt)" "$(tr '\n' ' ' < before.txt)" "kernel controllers (device, cntlid, state, kind, transport id)"
expect_eq "$(ev_count add)" 0 "controllers created"
expect_eq "$(ev_count remove)" 0 "controllers removed"
grep -q 'adopted existing kernel controller' stafd.log || fail "stafd adopted nothing"
log "FIGURES: back on the new bus after $(( (t_staf - t_bus) * 10 )) ms (stafd)," \
    "$(( (t_stac - t_bus) * 10 )) ms (stacd); restarts: stafd $(sv_restarts stafd), stacd $(sv_restarts stacd)"

sv_stop stacd
sv_stop stafd
trap - EXIT
log "done"
