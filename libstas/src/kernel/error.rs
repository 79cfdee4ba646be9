//! Typed errors of the kernel layer, with messages an operator can act on.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use thiserror::Error;

use crate::proto::admin::{CmdError, NvmeStatus};
use crate::proto::dim::DimError;
use crate::proto::dlp::DlpError;
use crate::proto::fabrics::ReplyError;
use crate::proto::identify::DecodeError;
use crate::proto::validate::ValueError;

/// A host file operation failed (sysfs read, `delete_controller` write, device open…).
#[derive(Debug, Error)]
#[error("{op} {}: {source}", path.display())]
pub struct KernelError {
    /// What was being done (`read`, `write`, `open`, `list`).
    pub op: &'static str,
    /// The path involved.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

impl KernelError {
    /// Wraps an I/O error with its operation and path.
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            op,
            path: path.into(),
            source,
        }
    }

    /// The file does not exist (controller gone, attribute absent, module not loaded).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }

    /// The raw errno, if any.
    #[must_use]
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// Why a connect string could not be built. Nothing was written to the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    /// The transport is not tcp, rdma, fc or loop.
    #[error("unknown transport {0:?}")]
    UnknownTransport(String),
    /// A required value is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A value failed validation.
    #[error("invalid {option} {value:?}: {reason}")]
    Invalid {
        /// Kernel option name.
        option: &'static str,
        /// The value (secrets are replaced by `<secret>`).
        value: String,
        /// What is wrong.
        reason: ValueError,
    },
    /// The whole string exceeds one page.
    #[error("option string is {0} bytes, the kernel takes at most 4096")]
    TooLong(usize),
    /// A security option the kernel does not offer: connecting without it would be a
    /// silent downgrade.
    #[error("the kernel does not support the {0} option (a connection without it would not be secured as configured)")]
    Unsupported(&'static str),
    /// Options that exclude each other (what is wrong, in words).
    #[error("{0}")]
    Conflict(&'static str),
}

/// Why a connect failed.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// Refused before writing: the parameters are invalid.
    #[error("invalid connection parameters: {0}")]
    Build(#[from] BuildError),
    /// EALREADY: an equivalent I/O controller exists.
    #[error("already connected: the kernel already has an identical I/O controller (EALREADY)")]
    AlreadyConnected,
    /// ECONNREFUSED.
    #[error("connection refused: nothing listens at the target address and port (ECONNREFUSED)")]
    Refused,
    /// ETIMEDOUT.
    #[error("connection timed out: the target did not answer (ETIMEDOUT)")]
    TimedOut,
    /// EHOSTUNREACH / ENETUNREACH / EHOSTDOWN / ENETDOWN.
    #[error("target unreachable: no route to the target ({0})")]
    Unreachable(Errno),
    /// EADDRNOTAVAIL.
    #[error(
        "local address not available: host-traddr is not configured on this host (EADDRNOTAVAIL)"
    )]
    AddressNotAvailable,
    /// EIO: the target answered Connect (or a later init command) with an error.
    #[error("rejected by the target (EIO): unknown subsystem NQN, host not allowed, or controller initialisation failed; details are in the kernel log")]
    RejectedByTarget,
    /// EINVAL.
    #[error("rejected by the kernel (EINVAL): an option is unsupported or invalid, or the host NQN/host ID pair conflicts with existing connections; details are in the kernel log")]
    InvalidArgument,
    /// ENODEV: `host_iface` names no interface.
    #[error("host interface does not exist (ENODEV)")]
    NoSuchInterface,
    /// EKEYREJECTED / ENOKEY / EKEYEXPIRED.
    #[error("authentication failed: DH-HMAC-CHAP or TLS key rejected or missing ({0})")]
    Authentication(Errno),
    /// EOPNOTSUPP.
    #[error("not supported by the target or this host (EOPNOTSUPP)")]
    NotSupported,
    /// EBUSY / EINTR / EAGAIN.
    #[error("kernel busy, try again ({0})")]
    Busy(Errno),
    /// ENOMEM.
    #[error("the kernel refused the option string as too long or is out of memory (ENOMEM)")]
    OutOfMemory,
    /// `/dev/nvme-fabrics` does not exist.
    #[error("/dev/nvme-fabrics does not exist: load the nvme-fabrics kernel module")]
    FabricsUnavailable,
    /// EACCES / EPERM.
    #[error("permission denied on /dev/nvme-fabrics: connecting needs root")]
    PermissionDenied,
    /// The reply could not be parsed.
    #[error("unexpected reply from /dev/nvme-fabrics: {0}")]
    BadReply(#[from] ReplyError),
    /// Any other errno.
    #[error("connect failed: {0}")]
    Os(Errno),
}

impl ConnectError {
    /// Maps the errno of the `write()` to `/dev/nvme-fabrics`.
    #[must_use]
    pub fn from_errno(e: Errno) -> Self {
        match e {
            Errno::EALREADY => Self::AlreadyConnected,
            Errno::ECONNREFUSED => Self::Refused,
            Errno::ETIMEDOUT => Self::TimedOut,
            Errno::EHOSTUNREACH | Errno::ENETUNREACH | Errno::EHOSTDOWN | Errno::ENETDOWN => {
                Self::Unreachable(e)
            }
            Errno::EADDRNOTAVAIL => Self::AddressNotAvailable,
            Errno::EIO => Self::RejectedByTarget,
            Errno::EINVAL => Self::InvalidArgument,
            Errno::ENODEV => Self::NoSuchInterface,
            Errno::EKEYREJECTED | Errno::ENOKEY | Errno::EKEYEXPIRED => Self::Authentication(e),
            Errno::EOPNOTSUPP => Self::NotSupported,
            Errno::EBUSY | Errno::EINTR | Errno::EAGAIN => Self::Busy(e),
            Errno::ENOMEM => Self::OutOfMemory,
            Errno::EACCES | Errno::EPERM => Self::PermissionDenied,
            other => Self::Os(other),
        }
    }

    /// The errno behind the error, when there is one.
    #[must_use]
    pub fn errno(&self) -> Option<Errno> {
        Some(match self {
            Self::Build(_) | Self::BadReply(_) => return None,
            Self::AlreadyConnected => Errno::EALREADY,
            Self::Refused => Errno::ECONNREFUSED,
            Self::TimedOut => Errno::ETIMEDOUT,
            Self::AddressNotAvailable => Errno::EADDRNOTAVAIL,
            Self::RejectedByTarget => Errno::EIO,
            Self::InvalidArgument => Errno::EINVAL,
            Self::NoSuchInterface => Errno::ENODEV,
            Self::NotSupported => Errno::EOPNOTSUPP,
            Self::OutOfMemory => Errno::ENOMEM,
            Self::FabricsUnavailable => Errno::ENOENT,
            Self::PermissionDenied => Errno::EACCES,
            Self::Unreachable(e) | Self::Authentication(e) | Self::Busy(e) | Self::Os(e) => *e,
        })
    }

    /// Whether retrying the same connect later can succeed (network and target state),
    /// as opposed to configuration errors that need an operator.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Refused
                | Self::TimedOut
                | Self::Unreachable(_)
                | Self::AddressNotAvailable
                | Self::RejectedByTarget
                | Self::NoSuchInterface
                | Self::Busy(_)
                | Self::OutOfMemory
                | Self::Os(_)
        )
    }
}

/// Why an admin command (or a procedure built from them) failed.
#[derive(Debug, Error)]
pub enum AdminError {
    /// The controller completed the command with an error status.
    #[error("{device}: {0}", device = .1)]
    Status(NvmeStatus, String),
    /// Opening the controller device failed (EWOULDBLOCK/EAGAIN: the controller is not live).
    #[error("{device}: cannot open the controller device: {errno}{hint}", hint = if matches!(.errno, Errno::EAGAIN) { " (controller not live)" } else { "" })]
    Open {
        /// Device name.
        device: String,
        /// The errno.
        errno: Errno,
    },
    /// The ioctl itself failed.
    #[error("{device}: admin command failed: {errno}")]
    Os {
        /// Device name.
        device: String,
        /// The errno.
        errno: Errno,
    },
    /// The command could not be encoded.
    #[error("bad admin command: {0}")]
    Command(#[from] CmdError),
    /// The buffer does not match the command's data length.
    #[error("data buffer is {got} bytes, command transfers {want}")]
    BufferSize {
        /// Buffer length.
        got: usize,
        /// Command data length.
        want: u32,
    },
    /// The discovery log is unusable.
    #[error("{device}: {source}")]
    Log {
        /// Device name.
        device: String,
        /// Why.
        #[source]
        source: DlpError,
    },
    /// The discovery log kept changing while it was read.
    #[error("{device}: discovery log kept changing (generation counter moved on every read)")]
    GenerationChanged {
        /// Device name.
        device: String,
    },
    /// NUMREC changed between reads with the same GENCTR.
    #[error(
        "{device}: discovery log inconsistent: {from} entries, then {to} with the same generation"
    )]
    NumrecChanged {
        /// Device name.
        device: String,
        /// First NUMREC.
        from: u64,
        /// Second NUMREC.
        to: u64,
    },
    /// A returned structure is too short.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The DIM payload could not be built.
    #[error("cannot build the registration: {0}")]
    Dim(#[from] DimError),
    /// The operation does not apply to this controller.
    #[error("{device}: {what}")]
    NotSupported {
        /// Device name.
        device: String,
        /// What is not supported.
        what: &'static str,
    },
}

impl AdminError {
    /// The NVMe status, when the controller answered with one.
    #[must_use]
    pub fn status(&self) -> Option<NvmeStatus> {
        match self {
            Self::Status(s, _) => Some(*s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping_round_trips() {
        for e in [
            Errno::EALREADY,
            Errno::ECONNREFUSED,
            Errno::ETIMEDOUT,
            Errno::EHOSTUNREACH,
            Errno::ENETUNREACH,
            Errno::EADDRNOTAVAIL,
            Errno::EIO,
            Errno::EINVAL,
            Errno::ENODEV,
            Errno::EKEYREJECTED,
            Errno::ENOKEY,
            Errno::EOPNOTSUPP,
            Errno::EBUSY,
            Errno::EINTR,
            Errno::ENOMEM,
            Errno::EACCES,
            Errno::E2BIG,
        ] {
            assert_eq!(ConnectError::from_errno(e).errno(), Some(e), "{e}");
        }
    }

    #[test]
    fn messages_and_retry_policy() {
        let e = ConnectError::from_errno(Errno::EALREADY);
        assert!(matches!(e, ConnectError::AlreadyConnected));
        assert!(!e.is_retryable());
        assert!(e.to_string().starts_with("already connected"));
        let e = ConnectError::from_errno(Errno::ECONNREFUSED);
        assert!(e.is_retryable());
        assert!(e.to_string().contains("refused"));
        assert!(ConnectError::from_errno(Errno::EIO)
            .to_string()
            .contains("rejected by the target"));
        assert!(!ConnectError::from_errno(Errno::EINVAL).is_retryable());
        assert!(ConnectError::from_errno(Errno::ENETUNREACH)
            .to_string()
            .contains("unreachable"));
        let open = AdminError::Open {
            device: "nvme1".into(),
            errno: Errno::EAGAIN,
        };
        assert!(open.to_string().contains("not live"), "{open}");
        let st = AdminError::Status(NvmeStatus(0x4002), "nvme1".into());
        assert_eq!(st.status(), Some(NvmeStatus(0x4002)));
        assert!(st.to_string().starts_with("nvme1: NVMe status"));
    }
}
