//! stas-cdc: a small user-space NVMe/TCP discovery controller.
//!
//! It speaks enough of NVMe/TCP and the NVMe-oF discovery command set for the Linux host
//! stack (and so stafd and nvme-cli) to connect to it as to a central or direct discovery
//! controller: TP8010 registrations (DIM), TP8013 unique discovery NQNs, port-local
//! entries (PLEO), EPCSD and NCC flags, and discovery-log-change AENs.
//!
//! Rooms:
//! - [`pdu`]: NVMe/TCP PDU framing and encoding (sans-IO).
//! - [`session`]: one host connection's controller state machine (sans-IO): bytes in,
//!   bytes and events out.
//! - [`logpage`]: the discovery log definition file and its encoding.
//! - [`dim`]: decoding of the DIM payloads the hosts send, for the records.
//! - `cli` (feature `cli`): the binary's command line, for it and for the man page.
//! - [`fuzz`]: the body of the fuzz target over [`session`], and host-side PDU builders.
//!
//! The binary (`main.rs`) adds the tokio I/O around the sessions (`server.rs`): listeners,
//! signals, and the record files (`records.rs`).

#[cfg(feature = "cli")]
pub mod cli;
pub mod dim;
pub mod fuzz;
pub mod logpage;
pub mod pdu;
pub mod session;
