//! Sans-IO NVMe-oF wire formats: bytes and text in, typed values out (and back). Nothing
//! here opens a file or makes a system call; `kernel` does the I/O and calls these.
//!
//! - [`consts`]: numeric constants and their nvme-stas spellings.
//! - [`validate`]: the checks every value passes before it may reach `/dev/nvme-fabrics`.
//! - [`dlp`]: the Discovery Log Page (parse, sanitize, validate, nvme-stas dict, encode).
//! - [`admin`]: admin command dwords (Get Log Page, Identify, DIM) and NVMe status.
//! - [`identify`]: Identify Controller, Supported Log Pages, controller-type enums.
//! - [`dim`]: the TP8010 DIM payload.
//! - [`uevent`]: kernel uevents and the typed NVMe controller events.
//! - [`address`]: the sysfs `address` attribute.
//! - [`fabrics`]: options-query and connect replies of `/dev/nvme-fabrics`.
//! - [`txt`]: DNS-SD TXT records of TP8009 (mDNS) discovery-controller announcements.
//!
//! Every parser is total: any input gives a value or an error, never a panic (proptest in
//! each module's tests and the cargo-fuzz targets in `fuzz/` check this).
#![forbid(unsafe_code)]

pub mod address;
pub mod admin;
pub mod consts;
pub mod dim;
pub mod dlp;
pub mod fabrics;
pub mod identify;
pub mod nbft;
pub mod txt;
pub mod uevent;
pub mod validate;

pub mod fuzz;
