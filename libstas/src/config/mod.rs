//! Configuration: the nvme-stas INI dialect and the three files built on it.

pub mod edit;
