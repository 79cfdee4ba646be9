//! Logging through `tracing`: to journald under systemd (or with `--syslog`), otherwise to
//! stderr without colours; the level is INFO, or DEBUG while "trace on" (`--tron`, the
//! `tron` option, the `tron` D-Bus property), switchable at run time through [`LogHandle`].

use tracing_subscriber::filter::LevelFilter;
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

/// Installs the global subscriber for program `prog`. With `syslog` (or when stderr is the
/// journal) events go to journald with `SYSLOG_IDENTIFIER=prog` and structured fields
/// (device, transport, traddr, …) as journal fields; if journald is not reachable, stderr
/// is used. Calling it twice keeps the first subscriber and returns a detached handle.
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
