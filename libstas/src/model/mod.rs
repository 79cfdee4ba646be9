//! Pure domain types: transport ids, IP helpers and the filtering rules (exclusion,
//! address validity, ip-family). No I/O here.

pub mod filter;
pub mod ip;
pub mod snapshot;
pub mod trid;

pub use trid::{TidDefaults, Transport, TransportId, WELL_KNOWN_DISC_NQN};
