//! `stas-floor`: the measuring tools of the benchmark (`tests/vm/bench/bench.sh`, `tools/bench`).
//!
//! ```text
//! stas-floor connect [FILE]            the kernel floor: for each connect string (one a line,
//!                                      FILE or stdin) open /dev/nvme-fabrics, write, read the
//!                                      reply, close; sequentially; prints the elapsed time
//! stas-floor run --live N [--pids F] [--logs DIR] [--wait-exit] [--fail-on-exit]
//!                -- CMD [ARGS] [+ CMD [ARGS]]...
//!                                      spawn the commands (all at once) and poll /sys/class/nvme
//!                                      every 20 ms until N I/O controllers are live; prints the
//!                                      seconds from the spawn until then (and the realtime
//!                                      epoch of the spawn, to compare with other clocks)
//! stas-floor proc PID                  CPU seconds (utime + stime) and peak/current RSS of PID
//! stas-floor disconnect-all            delete every controller (in parallel), wait until
//!                                      /sys/class/nvme is empty
//! ```
//!
//! Output lines are `key=value` pairs, for the benchmark script to parse. Exit status: 0 success,
//! 1 the operation failed or timed out, 2 usage error.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

const FABRICS: &str = "/dev/nvme-fabrics";
const SYS_NVME: &str = "/sys/class/nvme";
/// USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on every Linux architecture we run on).
const USER_HZ: f64 = 100.0;

#[derive(Parser)]
#[command(
    name = "stas-floor",
    about = "Benchmark tools: the kernel floor, time-until-live, process CPU and memory"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write each connect string (one a line) to /dev/nvme-fabrics, sequentially.
    Connect {
        /// File of connect strings (default: stdin).
        file: Option<PathBuf>,
        /// Print the kernel's reply to every write.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Spawn commands and wait until N I/O controllers are live.
    Run {
        /// Number of live I/O controllers to wait for.
        #[arg(long)]
        live: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600.0)]
        timeout: f64,
        /// Poll interval in milliseconds.
        #[arg(long, default_value_t = 20)]
        interval_ms: u64,
        /// Write "NAME PID" lines of the spawned commands here.
        #[arg(long)]
        pids: Option<PathBuf>,
        /// Send each command's stdout and stderr to DIR/NAME.log (default: inherited).
        #[arg(long)]
        logs: Option<PathBuf>,
        /// After the controllers are live, wait for the commands to exit too (their exit times
        /// and statuses are reported in any case, if they exit while this runs).
        #[arg(long)]
        wait_exit: bool,
        /// A command exiting before the controllers are live is a failure: stop waiting.
        #[arg(long)]
        fail_on_exit: bool,
        /// The commands, separated by a lone `+`.
        #[arg(last = true, required = true)]
        cmds: Vec<String>,
    },
    /// CPU time and memory of a process.
    Proc {
        /// Process id.
        pid: u32,
    },
    /// The bus floor: connect to the system bus, own NAME (the bus's RequestName, as the
    /// daemons do) and exit. What a daemon that did nothing else would need to own its name.
    BusName {
        /// The well-known name.
        name: String,
    },
    /// Delete every NVMe controller in parallel and wait until none is left.
    DisconnectAll {
        /// Deleting threads.
        #[arg(long, default_value_t = 8)]
        threads: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600.0)]
        timeout: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Connect { file, verbose } => connect(file.as_deref(), verbose),
        Cmd::Run {
            live,
            timeout,
            interval_ms,
            pids,
            logs,
            wait_exit,
            fail_on_exit,
            cmds,
        } => run(&RunOpts {
            live,
            timeout: Duration::from_secs_f64(timeout),
            interval: Duration::from_millis(interval_ms),
            pids,
            logs,
            wait_exit,
            fail_on_exit,
            cmds,
        }),
        Cmd::Proc { pid } => proc_stats(pid),
        Cmd::BusName { name } => bus_name(&name),
        Cmd::DisconnectAll { threads, timeout } => {
            disconnect_all(threads.max(1), Duration::from_secs_f64(timeout))
        }
    };
    match res {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("stas-floor: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

// ------------------------------------------------------------------ connect (the floor)

/// One connect: open, one write, read the reply, close. Returns the reply.
fn fabrics_write(opts: &str) -> io::Result<String> {
    let mut f = OpenOptions::new().read(true).write(true).open(FABRICS)?;
    let n = f.write(opts.as_bytes())?;
    if n != opts.len() {
        return Err(io::Error::other(format!(
            "short write: {n} of {} bytes",
            opts.len()
        )));
    }
    let mut buf = [0u8; 512];
    let r = f.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..r]).trim_end().to_owned())
}

fn connect(file: Option<&Path>, verbose: bool) -> Result<bool> {
    let lines: Vec<String> = match file {
        Some(p) => BufReader::new(File::open(p).with_context(|| format!("open {}", p.display()))?)
            .lines()
            .collect::<io::Result<_>>()?,
        None => io::stdin().lock().lines().collect::<io::Result<_>>()?,
    };
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let start = Instant::now();
    let (mut ok, mut failed) = (0usize, 0usize);
    for l in &lines {
        match fabrics_write(l) {
            Ok(reply) => {
                ok += 1;
                if verbose {
                    println!("reply={reply}");
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("stas-floor: connect failed ({e}): {l}");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let (_, u, s) = cpu_times("self")?;
    println!(
        "floor connected={ok} failed={failed} seconds={secs:.3} cpu_seconds={:.2} utime={u:.2} stime={s:.2}",
        u + s
    );
    Ok(failed == 0)
}

// ------------------------------------------------------------------ run until live

struct RunOpts {
    live: usize,
    timeout: Duration,
    interval: Duration,
    pids: Option<PathBuf>,
    logs: Option<PathBuf>,
    wait_exit: bool,
    fail_on_exit: bool,
    cmds: Vec<String>,
}

/// Live I/O controllers, tracked incrementally: a controller once seen live is not re-read
/// (nothing disconnects I/O controllers during a measurement), so one poll costs a readdir
/// plus the state of the controllers still coming up. A name that disappears is forgotten, so
/// a reused name (nvme0 of a temporary discovery controller, then of an I/O controller) is
/// looked at afresh.
#[derive(Default)]
struct LiveWatch {
    kind: HashMap<String, bool>, // live controller name -> is an I/O controller
    live: HashSet<String>,
}

impl LiveWatch {
    fn count(&mut self) -> usize {
        let Ok(rd) = fs::read_dir(SYS_NVME) else {
            return self.live.len();
        };
        let mut seen = HashSet::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            seen.insert(name.clone());
            if self.live.contains(&name) || self.kind.get(&name) == Some(&false) {
                continue;
            }
            let dir = e.path();
            // cntrltype reads "reserved" until the controller is identified: decide (and
            // remember) only once the controller is live
            if !fs::read_to_string(dir.join("state")).is_ok_and(|s| s.trim() == "live") {
                continue;
            }
            let Ok(t) = fs::read_to_string(dir.join("cntrltype")) else {
                continue; // going away: next poll
            };
            let io = t.trim() == "io";
            self.kind.insert(name.clone(), io);
            if io {
                self.live.insert(name);
            }
        }
        self.kind.retain(|n, _| seen.contains(n));
        self.live.retain(|n| seen.contains(n));
        self.live.len()
    }
}

fn spawn_all(opts: &RunOpts) -> Result<Vec<(String, Child)>> {
    let mut children = Vec::new();
    for argv in opts.cmds.split(|a| a == "+") {
        let Some((prog, args)) = argv.split_first() else {
            bail!("empty command between '+' separators");
        };
        let name = Path::new(prog)
            .file_name()
            .map_or_else(|| prog.clone(), |n| n.to_string_lossy().into_owned());
        let mut cmd = Command::new(prog);
        cmd.args(args).stdin(Stdio::null());
        if let Some(dir) = &opts.logs {
            let log = File::create(dir.join(format!("{name}.log")))
                .with_context(|| format!("create {name}.log in {}", dir.display()))?;
            cmd.stdout(log.try_clone()?).stderr(log);
        }
        let child = cmd.spawn().with_context(|| format!("spawn {prog}"))?;
        children.push((name, child));
    }
    Ok(children)
}

fn run(opts: &RunOpts) -> Result<bool> {
    let mut watch = LiveWatch::default();
    let before = watch.count();
    let start_epoch = epoch_now();
    let start = Instant::now();
    let mut children = spawn_all(opts)?;
    if let Some(p) = &opts.pids {
        let text: String = children
            .iter()
            .map(|(n, c)| format!("{n} {}\n", c.id()))
            .collect();
        fs::write(p, text).with_context(|| format!("write {}", p.display()))?;
    }
    let mut exited: Vec<Option<(f64, String)>> = vec![None; children.len()];
    // last CPU sample of each command (read before reaping: a zombie's is final)
    let mut cpu: Vec<Option<(f64, f64)>> = vec![None; children.len()];
    let mut live_at = None;
    let mut failed = false;
    loop {
        for (i, (_, c)) in children.iter_mut().enumerate() {
            if exited[i].is_none() {
                if let Ok((_, u, s)) = cpu_times(&c.id().to_string()) {
                    cpu[i] = Some((u, s));
                }
                if let Some(st) = c.try_wait()? {
                    exited[i] = Some((start.elapsed().as_secs_f64(), status_str(st)));
                }
            }
        }
        let n = watch.count();
        if live_at.is_none() && n >= opts.live {
            live_at = Some(start.elapsed().as_secs_f64());
        }
        let all_exited = exited.iter().all(Option::is_some);
        if live_at.is_some() && (!opts.wait_exit || all_exited) {
            break;
        }
        if live_at.is_none() && opts.fail_on_exit && exited.iter().any(Option::is_some) {
            failed = true;
            break;
        }
        if start.elapsed() >= opts.timeout {
            break;
        }
        thread::sleep(opts.interval);
    }
    let n = watch.count();
    let mut line = format!(
        "run start_epoch={start_epoch:.6} live_before={before} live={n} wanted={}",
        opts.live
    );
    match live_at {
        Some(t) => line.push_str(&format!(" seconds={t:.3}")),
        None => line.push_str(&format!(
            " seconds={} after={:.3}",
            if failed { "exited" } else { "timeout" },
            start.elapsed().as_secs_f64()
        )),
    }
    for (i, (name, c)) in children.iter().enumerate() {
        line.push_str(&format!(" {name}.pid={}", c.id()));
        if exited[i].is_none() {
            if let Ok((_, u, s)) = cpu_times(&c.id().to_string()) {
                cpu[i] = Some((u, s));
            }
        }
        if let Some((u, s)) = cpu[i] {
            line.push_str(&format!(
                " {name}.cpu={:.2} {name}.utime={u:.2} {name}.stime={s:.2}",
                u + s
            ));
        }
        if let Some((t, st)) = &exited[i] {
            line.push_str(&format!(" {name}.exit_seconds={t:.3} {name}.status={st}"));
        }
    }
    println!("{line}");
    Ok(live_at.is_some())
}

fn status_str(st: std::process::ExitStatus) -> String {
    match st.code() {
        Some(c) => c.to_string(),
        None => "signal".to_owned(),
    }
}

// ------------------------------------------------------------------ proc

/// State letter, utime and stime (seconds) of a process, from `/proc/PID/stat` ("self" for
/// this one). A zombie still shows the CPU time of its life.
fn cpu_times(pid: &str) -> Result<(char, f64, f64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("no process {pid}"))?;
    // the fields after the command name, which may hold spaces and parentheses
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .context("malformed /proc/PID/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime field 15
    let ticks = |i: usize| -> Result<f64> {
        let t: u32 = f
            .get(i - 3)
            .context("short /proc/PID/stat")?
            .parse()
            .context("bad tick count")?;
        Ok(f64::from(t) / USER_HZ)
    };
    let state = f.first().and_then(|s| s.chars().next()).unwrap_or('?');
    Ok((state, ticks(14)?, ticks(15)?))
}

fn proc_stats(pid: u32) -> Result<bool> {
    let (_, u, s) = cpu_times(&pid.to_string())?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    println!(
        "proc pid={pid} cpu_seconds={:.2} utime={u:.2} stime={s:.2} hwm_kb={} rss_kb={} rss_anon_kb={} rss_file_kb={} threads={}",
        u + s,
        kb("VmHWM:"),
        kb("VmRSS:"),
        kb("RssAnon:"),
        // the rig's binaries live on the initramfs (tmpfs): their pages count as shared memory
        kb("RssFile:") + kb("RssShmem:"),
        kb("Threads:")
    );
    // each live thread's share (a thread that exited is in the process total only)
    let mut tasks: Vec<String> = fs::read_dir(format!("/proc/{pid}/task"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    tasks.sort();
    for tid in tasks {
        let dir = format!("{pid}/task/{tid}");
        let Ok((_, u, s)) = cpu_times(&dir) else {
            continue;
        };
        let comm = fs::read_to_string(format!("/proc/{dir}/comm")).unwrap_or_default();
        println!(
            "task tid={tid} comm={} utime={u:.2} stime={s:.2}",
            comm.trim()
        );
    }
    Ok(true)
}

// ------------------------------------------------------------------ bus-name

fn bus_name(name: &str) -> Result<bool> {
    const DO_NOT_QUEUE: u32 = 4;
    const PRIMARY_OWNER: u32 = 1;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let conn = libstas::dbus::system_bus().await?;
        let reply = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "RequestName",
                &(name, DO_NOT_QUEUE),
            )
            .await?;
        let r: u32 = reply.body().deserialize()?;
        println!("bus-name name={name} reply={r}");
        Ok(r == PRIMARY_OWNER)
    })
}

// ------------------------------------------------------------------ disconnect-all

fn ctrl_names() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(SYS_NVME)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn disconnect_all(threads: usize, timeout: Duration) -> Result<bool> {
    let start = Instant::now();
    let names = ctrl_names();
    let total = names.len();
    let chunk = total.div_ceil(threads).max(1);
    thread::scope(|s| {
        for part in names.chunks(chunk) {
            s.spawn(move || {
                for n in part {
                    let p = Path::new(SYS_NVME).join(n).join("delete_controller");
                    // a controller that went away meanwhile is fine
                    let _ = fs::write(&p, "1");
                }
            });
        }
    });
    while !ctrl_names().is_empty() {
        if start.elapsed() >= timeout {
            println!(
                "disconnect deleted={total} left={} seconds=timeout",
                ctrl_names().len()
            );
            return Ok(false);
        }
        thread::sleep(Duration::from_millis(50));
    }
    println!(
        "disconnect deleted={total} left=0 seconds={:.3}",
        start.elapsed().as_secs_f64()
    );
    Ok(true)
}
