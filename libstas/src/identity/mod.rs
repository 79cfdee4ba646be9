//! Host identity: the host NQN, host ID, DH-HMAC-CHAP host key and symbolic name.
//!
//! This module owns:
//! - [`value`]: validation by the kernel's rules ([`HostNqn`], [`parse_host_id`],
//!   [`parse_host_key`] into a [`Secret`] that never prints, [`parse_symname`]);
//! - [`resolve`]: resolution from the raw `[Host]` values of `sys.conf` ([`HostConfig`], from
//!   the config module's [`crate::config::SysConf`]), with `file://` values and the defaults in
//!   `/etc/nvme` ([`IdentityPaths`]), into a [`HostIdentity`]; errors ([`IdentityError`]) say what
//!   is wrong, with which value, and where it came from;
//! - [`generate`]: host NQN generation reproducing nvme-stas's `stasadm hostnqn` byte for byte,
//!   and the host ID that goes with an NQN;
//! - [`admin`]: the `stasadm` operations (save to `sys.conf` and files, `check-config`).
//!
//! Every file location is injectable ([`IdentityPaths`], [`SystemPaths`], [`AdminPaths`]) so
//! tests never touch the host's `/etc`, `/sys` or `/proc`.

pub mod admin;
pub mod generate;
pub mod resolve;
pub mod value;

pub use admin::{AdminError, AdminPaths, Saved};
pub use generate::{generate_host_nqn, GeneratedNqn, SystemPaths, UuidSource};
pub use resolve::{
    resolve_id, resolve_key, resolve_nqn, resolve_symname, HostConfig, HostIdentity, HostValue,
    IdentityError, IdentityPaths, Origin, Problem, Resolved, Source,
};
pub use value::{
    parse_host_id, parse_host_key, parse_symname, HostNqn, InvalidValue, Secret, NQN_MAX_LEN,
    SYMNAME_MAX_LEN, UUID_NQN_PREFIX,
};
