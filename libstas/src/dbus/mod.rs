//! D-Bus adapters: the org.nvmexpress.staf / .stac interfaces, their client proxies, and
//! stafd's client of avahi-daemon. The only module that imports zbus.
//!
//!
//! The daemons' cores never see zbus: they publish a [`Snapshot`](crate::model::snapshot)
//! on a `watch` channel, broadcast `CoreEvent`s and accept `CoreCommand`s; this module turns
//! those into nvme-stas's D-Bus contract (names, snake_case members, signatures, string-dict
//! shapes), pinned by the golden files `dbus/org.nvmexpress.{staf,stac}.xml`.
//!
//! # Layout
//!
//! - [`names`]: bus names, object paths, interface names.
//! - [`pyrepr`]: the Python literal spellings nvme-stas embeds in its strings.
//! - [`shapes`]: snapshot views → nvme-stas's string dicts and JSON texts (pure; secrets
//!   filtered).
//! - [`staf`], [`stac`], [`debug`]: the `#[interface]` adapters (handles only).
//! - [`server`]: [`serve_staf`] / [`serve_stac`] (serve, then own the name, then forward events
//!   as signals) and their `*_on` variants for an existing or peer-to-peer connection.
//! - [`error`]: [`DbusError`] (set-up failures) and [`IfaceError`] (D-Bus errors to callers).
//! - [`proxy`]: client proxies for both daemons.
//! - [`stafd_follow`]: stacd's client of stafd (name owner, signals, `get_all_log_pages`
//!   turned into views for the stacd core).
//! - [`avahi`]: stafd's client of avahi-daemon (TP8009 browsers and resolvers → inputs of
//!   [`crate::ctrl::zeroconf`]).
//! - [`ctl`]: stafctl and stacctl (arguments, commands, tables, JSON, exit statuses).
//! - [`sample`]: fixed snapshots for tests and demos.

pub mod avahi;
pub mod ctl;
pub mod debug;
pub mod error;
pub mod names;
pub mod proxy;
pub mod pyrepr;
pub mod sample;
pub mod server;
pub mod shapes;
pub mod stac;
pub mod staf;
pub mod stafd_follow;

pub use error::{DbusError, IfaceError};
pub use server::{
    bus_connection, serve_stac, serve_stac_on, serve_staf, serve_staf_on, system_bus, BusConnect,
    ConnectionLost, DbusServer, StacHandle, StafHandle,
};
