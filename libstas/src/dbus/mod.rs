//! D-Bus adapters: the org.nvmexpress.staf / .stac interfaces and their client proxies. The only zbus importer besides (planned) Avahi discovery.
//!
//! # Layout
//!
//! - [`names`]: bus names, object paths, interface names.
//! - [`pyrepr`]: the Python literal spellings nvme-stas embeds in its strings.
//! - [`shapes`]: snapshot views → nvme-stas's string dicts and JSON texts (pure).

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

pub use error::{DbusError, IfaceError};
pub use server::{
    serve_stac, serve_stac_on, serve_staf, serve_staf_on, DbusServer, StacHandle, StafHandle,
};
