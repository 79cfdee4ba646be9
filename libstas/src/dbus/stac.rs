//! `org.nvmexpress.stac` at `/org/nvmexpress/stac`: stacd's main interface
//! (`list_controllers` over the I/O controllers). Its `.debug` sibling is
//! [`super::debug::StacDebug`].

use super::debug::CoreLink;
use super::shapes::{self, StrDict};

/// The `org.nvmexpress.stac` interface: handles only; every method reads the latest snapshot.
#[derive(Debug)]
pub struct StacInterface {
    link: CoreLink,
}

impl StacInterface {
    /// The interface over `link`.
    #[must_use]
    pub fn new(link: CoreLink) -> Self {
        Self { link }
    }
}

#[zbus::interface(name = "org.nvmexpress.stac", introspection_docs = false)]
impl StacInterface {
    /// One dictionary per I/O controller: the id dict, or `details()`.
    #[zbus(name = "list_controllers", out_args("controller_list"))]
    fn list_controllers(&self, detailed: bool) -> Vec<StrDict> {
        shapes::list_controllers(&self.link.snapshot.borrow(), detailed)
    }
}
