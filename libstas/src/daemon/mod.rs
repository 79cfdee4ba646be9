//! The daemons' cores: actors that own the controller state, execute what the sans-IO state
//! machines of [`crate::ctrl`] ask for, and publish snapshots for the D-Bus adapters.
//!
//! - [`actor`]: the one actor skeleton both cores plug into (handle, channels, loop,
//!   state writer, controller table).
//! - [`common`]: what both `run`s share (checks, configuration, identity, runtime, the
//!   signal/status/watchdog loop).
//! - [`index`]: a core's O(1) lookups of a machine by device name or id.
//! - [`resolve`]: the host names and interface addresses a reconcile pass reads first.
//! - [`staf`]: the stafd core actor (discovery controllers).
//! - [`stafd`]: stafd's `run` (startup checks, configuration, identity, D-Bus, signals,
//!   systemd notifications, shutdown).
//! - [`stac`]: the stacd core actor (I/O controllers).
//! - [`stacd`]: stacd's `run` (the same steps as stafd's, plus the stafd follower).
//! - `testkit` (tests only): the fixture of both cores' actor tests.
//! - [`uevents`]: the kernel uevent source (netlink thread) and its test double.
//! - [`wheel`]: the actor's timer set.
//! - [`zeroconf`]: stafd's mDNS driver (avahi client, reachability probes, reports to the
//!   stafd core).

pub mod actor;
pub mod common;
pub mod index;
pub mod nvmecli;
pub mod resolve;
pub mod stac;
pub mod stacd;
pub mod staf;
pub mod stafd;
#[cfg(test)]
pub(crate) mod testkit;
pub mod uevents;
pub mod wheel;
pub mod zeroconf;
