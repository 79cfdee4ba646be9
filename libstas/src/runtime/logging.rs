//! Logging through `tracing`: to journald under systemd (or with `--syslog`; to the syslog
//! socket `/dev/log` when `--syslog` is given on a host without journald), otherwise to
//! stderr without colours; the level is INFO, or DEBUG while "trace on" (`--tron`, the
//! `tron` option, the `tron` D-Bus property), switchable at run time through [`LogHandle`].

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Switches debug logging on and off at run time.
#[derive(Clone)]
pub struct LogHandle {
    reload: Option<reload::Handle<LevelFilter, Registry>>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").finish_non_exhaustive()
    }
}

impl LogHandle {
    /// DEBUG when `tron`, INFO otherwise.
    pub fn set_tron(&self, tron: bool) {
        if let Some(h) = &self.reload {
            if let Err(e) = h.modify(|f| *f = level(tron)) {
                tracing::warn!(error = %e, "cannot change the log level");
            }
        }
    }

    /// A handle that changes nothing (tests, or when a subscriber was already installed).
    #[must_use]
    pub fn detached() -> Self {
        Self { reload: None }
    }
}

fn level(tron: bool) -> LevelFilter {
    if tron {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    }
}

/// Whether stderr already goes to the journal (systemd sets `JOURNAL_STREAM`).
fn stderr_is_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// The classic syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// `LOG_DAEMON`, nvme-stas's facility.
const FACILITY_DAEMON: u8 = 3;

/// A [`MakeWriter`] that sends each event as one RFC 3164 datagram,
/// `<PRI>prog[pid]: message fields`, to a syslog socket (`LOG_DAEMON`, the severity from
/// the event's level).
#[derive(Debug)]
pub struct Syslog {
    sock: UnixDatagram,
    tag: String,
}

impl Syslog {
    /// Connects to the syslog socket at `path`; messages are tagged `prog[pid]`.
    ///
    /// # Errors
    /// No socket there (no syslog daemon).
    pub fn connect(path: &Path, prog: &str) -> io::Result<Self> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path)?;
        Ok(Self {
            sock,
            tag: format!("{prog}[{}]", std::process::id()),
        })
    }

    fn line(&self, level: Level) -> SyslogLine<'_> {
        let severity = match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        SyslogLine {
            to: self,
            pri: FACILITY_DAEMON * 8 + severity,
            buf: Vec::new(),
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.line(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.line(*meta.level())
    }
}

/// One event being formatted; sent when dropped. A syslog daemon that is gone loses the
/// line, never the daemon.
#[derive(Debug)]
pub struct SyslogLine<'a> {
    to: &'a Syslog,
    pri: u8,
    buf: Vec<u8>,
}

impl Write for SyslogLine<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine<'_> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        let msg = format!("<{}>{}: {text}", self.pri, self.to.tag);
        let _ = self.to.sock.send(msg.as_bytes());
    }
}

fn syslog_layer<S>(prog: &str) -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let w = Syslog::connect(Path::new(DEV_LOG), prog).ok()?;
    Some(
        tracing_subscriber::fmt::layer()
            .with_writer(w)
            .with_ansi(false)
            .with_target(false)
            .with_level(false)
            .without_time()
            .boxed(),
    )
}

/// Installs the global subscriber for program `prog`. With `syslog` (or when stderr is the
/// journal) events go to journald with `SYSLOG_IDENTIFIER=prog` and structured fields
/// (device, transport, traddr, …) as journal fields; with `syslog` on a host without
/// journald they go to `/dev/log` ([`Syslog`]); when neither is reachable, stderr is used.
/// Calling it twice keeps the first subscriber and returns a detached handle.
#[must_use]
pub fn init(prog: &str, syslog: bool, tron: bool) -> LogHandle {
    let (filter, handle) = reload::Layer::new(level(tron));
    let journal = if syslog || stderr_is_journal() {
        tracing_journald::layer().ok().map(|l| {
            l.with_syslog_identifier(prog.to_owned())
                .with_field_prefix(None)
                .with_priority_mappings(tracing_journald::PriorityMappings {
                    info: tracing_journald::Priority::Informational,
                    ..tracing_journald::PriorityMappings::new()
                })
        })
    } else {
        None
    };
    let result = if let Some(j) = journal {
        tracing_subscriber::registry()
            .with(filter)
            .with(j.boxed())
            .try_init()
    } else if let Some(l) = syslog.then(|| syslog_layer(prog)).flatten() {
        tracing_subscriber::registry()
            .with(filter)
            .with(l)
            .try_init()
    } else {
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(false);
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt.boxed())
            .try_init()
    };
    match result {
        Ok(()) => LogHandle {
            reload: Some(handle),
        },
        Err(_) => LogHandle::detached(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each event is one datagram `<PRI>prog[pid]: message fields`, LOG_DAEMON with the
    /// event's severity.
    #[test]
    fn syslog_lines_carry_facility_severity_and_tag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let w = Syslog::connect(&path, "stafd").unwrap();
        let sub = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(w)
                .with_ansi(false)
                .with_target(false)
                .with_level(false)
                .without_time(),
        );
        tracing::subscriber::with_default(sub, || {
            tracing::error!(device = "nvme3", "lost");
            tracing::info!("ready");
        });
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let pid = std::process::id();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<27>stafd[{pid}]: lost device=\"nvme3\"")
        );
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<30>stafd[{pid}]: ready")
        );
    }
}
