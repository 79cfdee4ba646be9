//! libstas: everything the stas daemons and tools share.
//!
//! # Layout
//!
//! - [`model`]: pure domain types (transport ids, NQN constants, filtering rules). No I/O.
//! - [`config`]: the nvme-stas INI dialect, `sys.conf`, `stafd.conf`, `stacd.conf`, with
//!   diagnostics that name file and line.
//! - [`identity`]: host NQN / host ID / key / symbolic name resolution, validation and
//!   generation (the `stasadm` algorithms).
//! - [`proto`]: sans-IO NVMe-oF wire formats (discovery log page, DIM, uevents).
//! - [`kernel`]: the only module that touches the host's NVMe stack (`/dev/nvme-fabrics`,
//!   sysfs, the admin ioctl), behind a narrow seam with a real and a fake implementation.
//! - [`ctrl`]: per-controller sans-IO state machines and the reconcile step.
//! - [`daemon`]: the daemons' core actors (own the controllers, run the kernel calls) and
//!   their `run` functions.
//! - [`dbus`]: the D-Bus adapters (zbus lives only here) and client proxies.
//! - [`runtime`]: daemon plumbing: systemd notify, logging, signals, state file.
//! - [`cli`]: helpers that keep the binaries' `main.rs` thin.
//! - [`fsutil`]: atomic file writes shared by every writer of configuration and state.
//!
//! Dependency rule: `model` and `proto` depend on nothing else in the crate; `config` and
//! `identity` use `model`; `kernel` uses `model` and `proto`.
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod ctrl;
pub mod daemon;
pub mod dbus;
pub mod fsutil;
pub mod identity;
pub mod kernel;
pub mod model;
pub mod proto;
pub mod runtime;
