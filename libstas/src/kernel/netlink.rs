//! A kernel uevent socket (`NETLINK_KOBJECT_UEVENT`, group 1), the fallback event source
//! when there is no udevd, and what `stas-kcheck` listens on. Datagrams are parsed by
//! [`crate::proto::uevent`]; only messages sent by the kernel (netlink pid 0) are accepted.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recvfrom, setsockopt, socket, sockopt, AddressFamily, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

use super::error::KernelError;
use crate::proto::uevent::Uevent;

/// Kernel uevent multicast group.
const KERNEL_GROUP: u32 = 1;

/// A bound uevent socket.
#[derive(Debug)]
pub struct UeventSocket {
    fd: OwnedFd,
}

fn err(op: &'static str, e: Errno) -> KernelError {
    KernelError::new(op, "netlink uevent socket", io::Error::from(e))
}

impl UeventSocket {
    /// Opens and binds the socket, with a 4 MiB receive buffer when allowed.
    ///
    /// # Errors
    /// [`KernelError`] when the socket cannot be created or bound.
    pub fn open() -> Result<Self, KernelError> {
        Self::open_with_rcvbuf(None)
    }

    /// [`UeventSocket::open`] with a receive buffer of `rcvbuf` bytes instead of 4 MiB (the
    /// kernel doubles it and applies its minimum, about 4.5 KiB): a test knob to provoke an
    /// overflow (ENOBUFS) with few events. Set with plain `SO_RCVBUF`, never forced.
    ///
    /// # Errors
    /// [`KernelError`] when the socket cannot be created or bound.
    pub fn open_with_rcvbuf(rcvbuf: Option<usize>) -> Result<Self, KernelError> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkKObjectUEvent,
        )
        .map_err(|e| err("socket", e))?;
        // Best effort: a bigger buffer loses fewer events in bursts (ENOBUFS otherwise).
        match rcvbuf {
            Some(n) => setsockopt(&fd, sockopt::RcvBuf, &n).map_err(|e| err("setsockopt", e))?,
            None => {
                if setsockopt(&fd, sockopt::RcvBufForce, &(4 << 20)).is_err() {
                    let _ = setsockopt(&fd, sockopt::RcvBuf, &(4 << 20));
                }
            }
        }
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, KERNEL_GROUP)).map_err(|e| err("bind", e))?;
        Ok(Self { fd })
    }

    /// Receives the next kernel uevent, waiting at most `timeout` (`None`: forever).
    /// Returns `Ok(None)` on timeout. Messages not from the kernel or not parseable are
    /// skipped.
    ///
    /// # Errors
    /// [`KernelError`] on socket errors; ENOBUFS means events were lost (resync from sysfs).
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Option<Uevent>, KernelError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Ok(None),
                },
                None => Duration::ZERO,
            };
            let tv = TimeVal::new(
                i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                i64::from(left.subsec_micros()),
            );
            setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv).map_err(|e| err("setsockopt", e))?;
            match recvfrom::<NetlinkAddr>(self.fd.as_raw_fd(), &mut buf) {
                Ok((n, from)) => {
                    if from.is_some_and(|a| a.pid() != 0) {
                        continue;
                    }
                    if let Ok(u) = Uevent::parse_datagram(&buf[..n]) {
                        return Ok(Some(u));
                    }
                }
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => return Err(err("recv", e)),
            }
        }
    }
}

impl AsFd for UeventSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
