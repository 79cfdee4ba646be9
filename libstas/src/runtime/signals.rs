//! Unix signals as one async stream: SIGTERM and SIGINT stop the daemon, SIGHUP reloads.

use std::io;

use tokio::signal::unix::{signal, Signal as TokioSignal, SignalKind};

/// What a signal asks the daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: shut down.
    Terminate,
    /// SIGHUP: re-read the configuration and reconcile.
    Reload,
}

/// The daemon's signal handlers (installed when created; needs a tokio runtime).
#[derive(Debug)]
pub struct Signals {
    term: TokioSignal,
    int: TokioSignal,
    hup: TokioSignal,
}

impl Signals {
    /// Installs handlers for SIGTERM, SIGINT and SIGHUP.
    ///
    /// # Errors
    /// A handler cannot be installed.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Terminate,
            _ = self.int.recv() => Signal::Terminate,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sighup_is_reload() {
        let mut s = Signals::new().unwrap();
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
        assert_eq!(s.recv().await, Signal::Reload);
    }
}
