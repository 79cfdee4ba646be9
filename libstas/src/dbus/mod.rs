//! D-Bus adapters: the org.nvmexpress.staf / .stac interfaces and their client proxies. The only zbus importer besides (planned) Avahi discovery.
//!
//! # Layout
//!
//! - [`names`]: bus names, object paths, interface names.
//! - [`pyrepr`]: the Python literal spellings nvme-stas embeds in its strings.
//! - [`shapes`]: snapshot views → nvme-stas's string dicts and JSON texts (pure).

pub mod names;
pub mod pyrepr;
pub mod shapes;
