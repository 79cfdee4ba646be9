# stas-vm: subsystems=16 timeout=1800
# Benchmark (prints figures; not a pass/fail scenario, so it lives outside scenarios/ and
# `--all` does not run it). Run by tools/bench, one boot per N. With nvmet serving N
# subsystems on 127.0.0.1:8009, R repetitions of three contenders that connect the SAME N
# I/O controllers (127.0.0.1:8009, one per subsystem, kernel defaults for every option):
#   floor     stas-floor connect: N sequential writes to /dev/nvme-fabrics (the kernel's cost)
#   nvme-cli  nvme connect-all -t tcp -a 127.0.0.1 -s 8009
#   stas      stafd + stacd from cold start (fresh private bus, no state in /run), stafd.conf
#             naming the discovery controller 127.0.0.1:8009
#   stas-2dc  the same with a second discovery controller, 127.0.0.2:8009 (an nvmet port with
#             no subsystem): once converged, one more subsystem is linked to both ports at
#             once, so two DCs announce one change; timed until both new controllers are live
# Each is timed from its launch until N I/O controllers are live in /sys/class/nvme (polled
# every 20 ms by stas-floor run). For stas also: each daemon's start -> bus name owned (and
# its own split of the time from main to the name, from its `ready` log line), CPU
# (utime + stime) and peak RSS (VmHWM) at convergence, RSS and CPU ticks over 2 s of idleness,
# and "link one more subsystem (AEN) -> its controller live".
# Between runs every controller is deleted and /sys/class/nvme is empty.
#
# Output: one line per measurement, on stdout and in $STAS_VM_OUT/results.txt:
#   RESULT n=N rep=R contender=floor|nvme-cli|stas|stas-aen|stas-2dc|exec seconds=S|n/a key=value...
# Kernel command line (STAS_VM_APPEND): stas_bench.reps=R (default 2),
#   stas_bench.contenders=floor,nvme-cli,stas (default: all three).
set -e
N=$STAS_VM_SUBSYSTEMS
arg() { sed -n "s/.*stas_bench\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
REPS=$(arg reps); REPS=${REPS:-2}
CONTENDERS=$(arg contenders | tr ',' ' '); CONTENDERS=${CONTENDERS:-floor nvme-cli stas stas-2dc}
RESULTS=$STAS_VM_OUT/results.txt
# generous: a contender that does not converge in this time is reported as failed / n/a
T_KERNEL=$((30 + N))
T_STAS=$((60 + N))

result() {
    echo "RESULT n=$N $*" | tee -a "$RESULTS"
}

# kv KEY FILE [PREFIX]: the value of KEY=... on the first line of FILE (that starts with
# PREFIX, default "run " or "proc "); n/a if there is none
kv() {
    _kv=$(grep -E "^(${3:-run|proc}) " "$2" 2>/dev/null | sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" | head -n 1)
    echo "${_kv:-n/a}"
}

# controllers: "NQN ADDRESS" of every live I/O controller, sorted (no fork per controller)
io_set() {
    for c in /sys/class/nvme/nvme*; do
        [ -e "$c/cntrltype" ] || continue
        read -r t < "$c/cntrltype"; read -r s < "$c/state"
        if [ "$t" != io ] || [ "$s" != live ]; then continue; fi
        read -r q < "$c/subsysnqn"; read -r a < "$c/address"
        echo "$q ${a%%,src_addr=*}"
    done | sort
}

# the N controllers every contender must produce
i=1; : > expected.set; : > connect.txt
while [ "$i" -le "$N" ]; do
    q=$NVMET_SUBNQN_PREFIX$i
    echo "$q traddr=127.0.0.1,trsvcid=8009" >> expected.set
    echo "nqn=$q,transport=tcp,traddr=127.0.0.1,trsvcid=8009,hostnqn=$HOSTNQN,hostid=$HOSTID" >> connect.txt
    i=$((i + 1))
done
sort -o expected.set expected.set

check_set() { # WHAT
    io_set > got.set
    if ! cmp -s got.set expected.set; then
        echo "--- expected vs got (live I/O controllers after $1)"; diff expected.set got.set | head -n 20
        fail "$1 did not produce exactly the $N expected I/O controllers"
    fi
}

teardown() {
    stas-floor disconnect-all --timeout $((60 + N)) > disconnect.out || { cat disconnect.out; fail "controllers left behind"; }
    log "teardown: $(cat disconnect.out)"
    # let the target finish releasing its side before the next contender starts
    sleep 1
}

# gone PID: the process has exited (gone, or a zombie nobody reaped)
gone() {
    [ ! -e "/proc/$1/stat" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# bus_time NAME FILE: realtime epoch at which NAME got an owner (dbus-monitor output)
bus_time() {
    awk -v n="\"$1\"" '
        /member=NameOwnerChanged/ { split($2, t, "="); time = t[2]; k = 0; next }
        /^ *string / { k++; v[k] = $2; if (k == 3 && v[1] == n && v[3] != "\"\"") { print time; exit } }' "$2"
}

sub_epoch() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == "n/a") print "n/a"; else printf "%.3f\n", a - b }'; }

log "benchmark: N=$N, $REPS repetition(s), contenders: $CONTENDERS"
log "guest: $(nproc) vCPU, $(sed -n 's/MemTotal: *//p' /proc/meminfo), kernel $(uname -r), $(nvme version | head -n 1)"
nvmet_setup "$N"
# one more subsystem, not linked yet: the AEN test links it to 127.0.0.1:8009 (and unlinks it after)
AEN_SUB=$((N + 1))
AEN_NQN=$(nvmet_subnqn "$AEN_SUB")
nvmet_add_subsys "$AEN_SUB"
# the second discovery controller of stas-2dc: a port of its own. nvmet listens on a port
# once a subsystem is linked to it: the one linked here admits no host, so the host's
# discovery log of the port lists no subsystem
PORT_2DC=5
nvmet_add_port "$PORT_2DC" 127.0.0.2 8009
nvmet_add_subsys $((N + 2))
echo 0 > "$NVMET/subsystems/$(nvmet_subnqn $((N + 2)))/attr_allow_any_host"
nvmet_link $((N + 2)) "$PORT_2DC"
expect_eq "$(nvme_discover_count 127.0.0.1 8009)" "$N" "NVM subsystems in the discovery log of 127.0.0.1:8009"
expect_eq "$(nvme_ctrls | wc -l)" 0 "controllers before the first run"

# context for the start-up figures: what starting a process and exiting costs in this guest
for i in 1 2 3; do
    stas-floor run --live 0 --wait-exit -- stafd --version > run.out 2>&1
    result "rep=$i contender=exec seconds=$(kv stafd.exit_seconds run.out) what=stafd--version"
done

# the bus floor: a process that only connects to the bus and owns a name, then exits
start_system_bus > /dev/null
for i in 1 2 3; do
    stas-floor run --live 0 --wait-exit -- stas-floor bus-name org.nvmexpress.staf > run.out 2>&1 || cat run.out
    result "rep=$i contender=bus seconds=$(kv stas-floor.exit_seconds run.out) what=stas-floor-bus-name"
done
stop_system_bus

mkdir -p /etc/stas
stafd_conf() { # [2dc]
    {
        echo "[Controllers]"
        echo "controller = transport=tcp;traddr=127.0.0.1;trsvcid=8009"
        [ "${1:-}" != 2dc ] || echo "controller = transport=tcp;traddr=127.0.0.2;trsvcid=8009"
    } > /etc/stas/stafd.conf
}
: > /etc/stas/stacd.conf

# split DAEMON: "main_ms=MS split=STEP:MS,..." from DAEMON's `ready` line (DAEMON.conv)
split() {
    sed -n "s/.* $1 ready startup_ms=\([0-9.]*\) split=\([^ ]*\).*/$1_main_ms=\1 $1_split=\2/p" "$1.conv" | head -n 1
}

# timeline TAG EPOCH FILE...: the daemons' log lines (FILE: stafd.conv, the log up to
# convergence) as seconds since EPOCH (the launch, or the AEN's link); of each kind of message
# (its text without key=value fields) only the first and the last, with the count. TAG
# TIMELINE prints every line, AEN only those of the 1.9 s from EPOCH on (then the
# daemons are stopped).
timeline() {
    _tag=$1 _t0=$2; shift 2
    for f in "$@"; do
        awk -v t0="$_t0" -v who="${f%.*}" -v from="$([ "$_tag" = AEN ] && echo -0.001 || echo -1e9)" \
            -v to="$([ "$_tag" = AEN ] && echo 1.9 || echo 1e9)" '
            $1 ~ /^[0-9-]+T[0-9:.]+Z$/ {
                split(substr($1, 12, 15), h, ":"); t = h[1] * 3600 + h[2] * 60 + h[3]
                rel = t - (t0 % 86400); if (rel < -43200) rel += 86400
                if (rel < from || rel > to) next
                msg = $0; sub(/^[^ ]+ +[A-Z]+ +/, "", msg)
                kind = msg; gsub(/ [a-z_]+=.*/, "", kind); gsub(/[0-9]+/, "#", kind)
                if (!(kind in first)) { first[kind] = sprintf("%+.3f %s: %s", rel, who, msg); order[++k] = kind }
                last[kind] = sprintf("%+.3f %s: %s", rel, who, msg); cnt[kind]++
            }
            END { for (i = 1; i <= k; i++) { c = order[i]; print first[c]
                      if (cnt[c] > 1) print last[c] "  (last of " cnt[c] ")" } }' "$f"
    done | sort -n | sed "s/^/$_tag n=$N rep=$rep /"
}

run_floor() { # REP
    stas-floor run --live "$N" --timeout "$T_KERNEL" --wait-exit -- \
        stas-floor connect connect.txt > run.out 2> run.err || { cat run.out run.err; fail "floor run failed"; }
    check_set floor
    result "rep=$1 contender=floor seconds=$(kv seconds run.out) exit_seconds=$(kv stas-floor.exit_seconds run.out) inner_seconds=$(kv seconds run.out floor) cpu=$(kv cpu_seconds run.out floor) utime=$(kv utime run.out floor) stime=$(kv stime run.out floor)"
    teardown
}

run_nvmecli() { # REP
    stas-floor run --live "$N" --timeout "$T_KERNEL" --wait-exit -- \
        nvme connect-all -t tcp -a 127.0.0.1 -s 8009 > run.out 2> run.err || { cat run.out run.err; fail "nvme connect-all run failed"; }
    [ "$(kv nvme.status run.out)" = 0 ] || { cat run.err; fail "nvme connect-all exited with $(kv nvme.status run.out)"; }
    check_set "nvme connect-all"
    result "rep=$1 contender=nvme-cli seconds=$(kv seconds run.out) exit_seconds=$(kv nvme.exit_seconds run.out) cpu=$(kv nvme.cpu run.out) utime=$(kv nvme.utime run.out) stime=$(kv nvme.stime run.out)"
    teardown
}

stop_daemons() {
    for p in $STAS_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $STAS_PIDS; do wait_for "gone $p" 30 || { kill -KILL "$p" 2>/dev/null || true; log "pid $p killed"; }; done
    STAS_PIDS=
}

run_stas() { # REP [2dc]
    rep=$1 mode=${2:-}
    stafd_conf "$mode"
    rm -rf /run/stafd /run/stacd
    stop_system_bus
    start_system_bus > /dev/null
    dbus-monitor --system "type='signal',member='NameOwnerChanged',arg0namespace='org.nvmexpress'" > names.log 2>&1 &
    mon=$!
    sleep 0.5
    rc=0
    stas-floor run --live "$N" --timeout "$T_STAS" --fail-on-exit --pids pids --logs . -- stafd + stacd \
        > run.out 2> run.err || rc=$?
    # figures at convergence (or at the failure), before anything else happens
    STAS_PIDS=$(cut -d' ' -f2 pids | tr '\n' ' ')
    fpid=$(sed -n 's/^stafd //p' pids); cpid=$(sed -n 's/^stacd //p' pids)
    stas-floor proc "$fpid" > stafd.proc 2>&1 || true
    stas-floor proc "$cpid" > stacd.proc 2>&1 || true
    cp stafd.log stafd.conv; cp stacd.log stacd.conv   # the logs up to convergence
    # each thread's CPU at convergence
    for d in stafd stacd; do sed -n "s/^task /TASK n=$N rep=$rep $d /p" "$d.proc"; done
    t0=$(kv start_epoch run.out)
    # the bus names (a daemon may own its name after the controllers are live, or, when the
    # other daemon failed, still be starting): give each running daemon up to 5 s
    for d in staf stac; do
        p=$(sed -n "s/^${d}d //p" pids)
        gone "$p" || wait_for "[ -n \"\$(bus_time org.nvmexpress.$d names.log)\" ]" 5 2>/dev/null || true
    done
    kill "$mon" 2>/dev/null || true
    fbus=$(sub_epoch "$(bus_time org.nvmexpress.staf names.log)" "$t0")
    cbus=$(sub_epoch "$(bus_time org.nvmexpress.stac names.log)" "$t0")
    # CPU sampled by stas-floor run at convergence
    figures="stafd_bus=$fbus stacd_bus=$cbus stafd_cpu=$(kv stafd.cpu run.out) stacd_cpu=$(kv stacd.cpu run.out)"
    figures="$figures stafd_utime=$(kv stafd.utime run.out) stafd_stime=$(kv stafd.stime run.out) stacd_utime=$(kv stacd.utime run.out) stacd_stime=$(kv stacd.stime run.out)"
    figures="$figures stafd_hwm_kb=$(kv hwm_kb stafd.proc) stacd_hwm_kb=$(kv hwm_kb stacd.proc)"
    figures="$figures $(split stafd) $(split stacd) stafd_threads=$(kv threads stafd.proc) stacd_threads=$(kv threads stacd.proc)"
    if [ "$rc" != 0 ]; then
        cat run.out
        st=$(kv stacd.status run.out)
        if [ "$st" != n/a ]; then reason=stacd-exited-$st; else reason=$(kv seconds run.out); fi
        [ "$(kv stafd.status run.out)" = n/a ] || reason="$reason,stafd-exited-$(kv stafd.status run.out)"
        echo "--- stacd.log (last 10 lines)"; tail -n 10 stacd.log
        result "rep=$rep contender=stas seconds=n/a reason=$reason live=$(kv live run.out) $figures"
        result "rep=$rep contender=stas-aen seconds=n/a reason=$reason"
    elif [ "$mode" = 2dc ]; then
        check_set "stafd + stacd with two DCs"
        # one change, two DCs: the subsystem linked to both ports in one step
        stas-floor run --live $((N + 2)) --timeout 30 --wait-exit -- sh -c \
            "ln -s $NVMET/subsystems/$AEN_NQN $NVMET/ports/$NVMET_PORT_DISC4/subsystems/$AEN_NQN && ln -s $NVMET/subsystems/$AEN_NQN $NVMET/ports/$PORT_2DC/subsystems/$AEN_NQN" > aen.out 2>&1 || true
        a=$(kv seconds aen.out)
        case $a in [0-9]*) ;; *) cat aen.out; a=n/a ;; esac
        aen_t0=$(kv start_epoch aen.out)
        sleep 2
        result "rep=$rep contender=stas-2dc seconds=$a"
    else
        check_set "stafd + stacd"
        result "rep=$rep contender=stas seconds=$(kv seconds run.out) $figures"
        # AEN: link one more subsystem; time until its controller is live
        stas-floor run --live $((N + 1)) --timeout 30 --wait-exit -- \
            ln -s "$NVMET/subsystems/$AEN_NQN" "$NVMET/ports/$NVMET_PORT_DISC4/subsystems/$AEN_NQN" > aen.out 2>&1 || true
        a=$(kv seconds aen.out)
        case $a in [0-9]*) ;; *) cat aen.out; a=n/a ;; esac
        aen_t0=$(kv start_epoch aen.out)
        # idleness after convergence: CPU ticks over 2 s, resident memory
        stas-floor proc "$fpid" > f1.proc; stas-floor proc "$cpid" > c1.proc
        sleep 2
        stas-floor proc "$fpid" > f2.proc; stas-floor proc "$cpid" > c2.proc
        idle() { awk -v a="$(kv cpu_seconds "$1")" -v b="$(kv cpu_seconds "$2")" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%d\n", (b - a) * 100 + 0.5 }'; }
        result "rep=$rep contender=stas-aen seconds=$a stafd_idle_ticks=$(idle f1.proc f2.proc) stacd_idle_ticks=$(idle c1.proc c2.proc) stafd_idle_rss_kb=$(kv rss_kb f2.proc) stacd_idle_rss_kb=$(kv rss_kb c2.proc) stafd_idle_threads=$(kv threads f2.proc) stacd_idle_threads=$(kv threads c2.proc) stafd_idle_anon_kb=$(kv rss_anon_kb f2.proc) stacd_idle_anon_kb=$(kv rss_anon_kb c2.proc) stafd_idle_file_kb=$(kv rss_file_kb f2.proc) stacd_idle_file_kb=$(kv rss_file_kb c2.proc) stafd_cpu_total=$(kv cpu_seconds f2.proc) stacd_cpu_total=$(kv cpu_seconds c2.proc)"
    fi
    stop_daemons
    timeline TIMELINE "$t0" stafd.conv stacd.conv
    [ -z "${aen_t0:-}" ] || [ "$aen_t0" = n/a ] || timeline AEN "$aen_t0" stafd.log stacd.log
    aen_t0=
    cp stafd.log "$STAS_VM_OUT/stafd-n$N-rep$rep.log" 2>/dev/null || true
    cp stacd.log "$STAS_VM_OUT/stacd-n$N-rep$rep.log" 2>/dev/null || true
    rm -f "$NVMET/ports/$NVMET_PORT_DISC4/subsystems/$AEN_NQN" "$NVMET/ports/$PORT_2DC/subsystems/$AEN_NQN"
    teardown
    stop_system_bus
}

rep=1
while [ "$rep" -le "$REPS" ]; do
    for c in $CONTENDERS; do
        log "rep $rep/$REPS: $c"
        case $c in
            floor) run_floor "$rep" ;;
            nvme-cli) run_nvmecli "$rep" ;;
            stas) run_stas "$rep" ;;
            stas-2dc) run_stas "$rep" 2dc ;;
            *) fail "unknown contender $c" ;;
        esac
    done
    rep=$((rep + 1))
done
log "benchmark done"
