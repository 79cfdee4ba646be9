//! Daemon plumbing shared by stafd and stacd, and nothing else: the systemd notify protocol
//! ([`notify`]), logging with a run-time debug switch ([`logging`]), Unix signals as a
//! stream ([`signals`]), the start-up split ([`startup`]) and the warm-restart state file
//! ([`state`]). No domain logic here.

pub mod logging;
pub mod notify;
pub mod signals;
pub mod startup;
pub mod state;
