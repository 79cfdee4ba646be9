//! `stas-fake-stafd`: the real stafd (libstas's `stafd::serve`: core, D-Bus service, mDNS
//! browsing through avahi-daemon, signals) over the in-memory kernel, for tests on hosts
//! without NVMe in their kernel (tests/zeroconf/).
//!
//! ```text
//! stas-fake-stafd --conf FILE --state FILE --hostnqn NQN --hostid UUID
//!                 [--dc ADDR,PORT[,NQN]]... [--tron]
//! ```
//!
//! Each `--dc` is a discovery controller the fake kernel can connect to. Its liveness follows
//! the real network: a thread tries a TCP connect to ADDR:PORT every 300 ms; while that fails
//! the fake target refuses connects, and its controllers are removed as the kernel removes
//! them after `ctrl_loss_tmo`. The fake kernel sees this host's real interfaces.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use libstas::config::layout::DaemonFiles;
use libstas::config::Daemon;
use libstas::daemon::common::{block_on, load_config};
use libstas::daemon::staf::Host;
use libstas::daemon::stafd::{serve, StafdEnv, Started};
use libstas::daemon::uevents::{fake_feed, UEVENT_QUEUE};
use libstas::kernel::fake::{FakeTarget, TargetId};
use libstas::kernel::{FakeKernel, Kernel, KernelPaths, SysKernel};
use libstas::runtime::logging;
use libstas::runtime::startup::Startup;

const MIRROR_PERIOD: Duration = Duration::from_millis(300);

#[derive(Parser)]
#[command(
    name = "stas-fake-stafd",
    about = "stafd over the in-memory kernel (tests)"
)]
struct Args {
    /// stafd.conf.
    #[arg(long)]
    conf: PathBuf,
    /// Warm-restart state file.
    #[arg(long)]
    state: PathBuf,
    /// Host NQN.
    #[arg(long)]
    hostnqn: String,
    /// Host ID.
    #[arg(long)]
    hostid: String,
    /// A discovery controller the fake kernel serves: ADDR,PORT[,NQN].
    #[arg(long = "dc")]
    dcs: Vec<String>,
    /// Debug logging.
    #[arg(long)]
    tron: bool,
}

fn target(spec: &str) -> Option<(FakeTarget, SocketAddr)> {
    let mut parts = spec.split(',');
    let (addr, port) = (parts.next()?, parts.next()?);
    let sa = SocketAddr::new(addr.parse().ok()?, port.parse().ok()?);
    let mut t = FakeTarget::discovery("tcp", addr, port);
    if let Some(nqn) = parts.next() {
        t.nqn = nqn.to_owned();
    }
    Some((t, sa))
}

/// Keeps each fake target's liveness equal to its real TCP listener's.
fn mirror(k: &Arc<FakeKernel>, targets: &[(TargetId, SocketAddr)]) {
    let mut up = vec![true; targets.len()];
    loop {
        for (i, (id, sa)) in targets.iter().enumerate() {
            let now = TcpStream::connect_timeout(sa, Duration::from_secs(1)).is_ok();
            if now == up[i] {
                continue;
            }
            up[i] = now;
            eprintln!(
                "stas-fake-stafd: target {sa} is {}",
                if now { "up" } else { "down" }
            );
            k.set_target_listening(*id, now);
            if !now {
                let gone: Vec<String> = libstas::kernel::Topology::scan(k.as_ref())
                    .map(|t| {
                        t.iter()
                            .filter(|c| {
                                c.address.traddr.as_deref() == Some(&sa.ip().to_string())
                                    && c.address.trsvcid.as_deref() == Some(&sa.port().to_string())
                            })
                            .map(|c| c.device.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for d in gone {
                    k.lose_controller(&d);
                }
            }
        }
        std::thread::sleep(MIRROR_PERIOD);
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let log = logging::init("stafd", false, args.tron);
    let cfg = load_config(Daemon::Stafd, &args.conf);
    let k = Arc::new(FakeKernel::new());
    match SysKernel::new(KernelPaths::default()).interface_addresses() {
        Ok(ifs) => k.set_interfaces(ifs),
        Err(e) => eprintln!("stas-fake-stafd: cannot list interfaces: {e}"),
    }
    let mut targets = Vec::new();
    for spec in &args.dcs {
        let Some((t, sa)) = target(spec) else {
            eprintln!("stas-fake-stafd: bad --dc {spec:?} (want ADDR,PORT[,NQN])");
            return ExitCode::from(2);
        };
        targets.push((k.add_target(t), sa));
    }
    let (utx, urx) = tokio::sync::mpsc::channel(UEVENT_QUEUE);
    fake_feed(&k, utx);
    let km = Arc::clone(&k);
    std::thread::spawn(move || mirror(&km, &targets));
    let host = Host {
        nqn: args.hostnqn,
        id: args.hostid,
        symname: None,
        key_set: false,
    };
    let env = StafdEnv {
        kernel: k,
        uevents: Some(urx),
        state_path: args.state,
        nvmecli_interop: false,
    };
    let tron = args.tron || cfg.global.tron;
    log.set_tron(tron);
    block_on(
        "stafd",
        serve(
            env,
            Started {
                log,
                files: DaemonFiles::stas2(Daemon::Stafd, &args.conf),
                config: cfg,
                tron,
                host,
                host_key: None,
                startup: Startup::begin(),
                bus: None,
            },
        ),
    )
}
