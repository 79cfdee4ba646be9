//! The NVMe admin passthrough ioctl (`NVME_IOCTL_ADMIN_CMD`, kernel-interface.md §3.1).
//! The only `unsafe` code of the crate lives here, behind [`admin_passthru`], a safe
//! function that checks the buffer against the command before handing it to the kernel.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;

use nix::errno::Errno;

use super::error::AdminError;
use crate::proto::admin::{AdminCmd, DataDir, NvmeStatus};

/// `struct nvme_passthru_cmd` (72 bytes, native endian), `include/uapi/linux/nvme_ioctl.h`.
#[repr(C)]
#[derive(Debug, Default)]
struct NvmePassthruCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    addr: u64,
    metadata_len: u32,
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    timeout_ms: u32,
    result: u32,
}

const _: () = assert!(std::mem::size_of::<NvmePassthruCmd>() == 72);

mod raw {
    // NVME_IOCTL_ADMIN_CMD = _IOWR('N', 0x41, struct nvme_admin_cmd) (0xC0484E41 on x86/arm64).
    nix::ioctl_readwrite!(nvme_ioctl_admin_cmd, b'N', 0x41, super::NvmePassthruCmd);
}

/// Issues one admin command on an open controller device.
///
/// `data` must be exactly `cmd.data_len` bytes: it is read by the kernel for
/// host-to-controller commands and filled for controller-to-host commands.
/// Returns CQE dword 0.
///
/// # Errors
/// [`AdminError::BufferSize`] before the call; [`AdminError::Status`] when the controller
/// completes with a status; [`AdminError::Os`] when the ioctl fails.
pub fn admin_passthru(
    file: &File,
    device: &str,
    cmd: &AdminCmd,
    data: &mut [u8],
) -> Result<u32, AdminError> {
    let len_ok = usize::try_from(cmd.data_len).is_ok_and(|l| l == data.len());
    if !len_ok || (cmd.data_dir() == DataDir::None && !data.is_empty()) {
        return Err(AdminError::BufferSize {
            got: data.len(),
            want: cmd.data_len,
        });
    }
    let addr = if data.is_empty() {
        0
    } else {
        data.as_mut_ptr() as u64
    };
    let mut raw = NvmePassthruCmd {
        opcode: cmd.opcode,
        nsid: cmd.nsid,
        addr,
        data_len: cmd.data_len,
        cdw10: cmd.cdw10,
        cdw11: cmd.cdw11,
        cdw12: cmd.cdw12,
        cdw13: cmd.cdw13,
        cdw14: cmd.cdw14,
        cdw15: cmd.cdw15,
        timeout_ms: cmd.timeout_ms,
        ..NvmePassthruCmd::default()
    };
    // SAFETY: `raw` is a properly laid out `struct nvme_passthru_cmd` (size asserted above)
    // that lives across the call; `raw.addr` points to `data`, which is exclusively
    // borrowed for the duration of the call and is exactly `raw.data_len` bytes long (checked
    // above), so the kernel reads or writes only memory we own. The fd is valid because
    // `file` is borrowed.
    let ret = unsafe { raw::nvme_ioctl_admin_cmd(file.as_raw_fd(), &raw mut raw) };
    match ret {
        Ok(0) => Ok(raw.result),
        Ok(status) => Err(AdminError::Status(
            NvmeStatus(u16::try_from(status).unwrap_or(u16::MAX)),
            device.to_owned(),
        )),
        Err(errno) => Err(AdminError::Os {
            device: device.to_owned(),
            errno,
        }),
    }
}

/// Maps an open error of `/dev/nvmeX` (EWOULDBLOCK when not live).
#[must_use]
pub fn open_error(device: &str, e: &std::io::Error) -> AdminError {
    AdminError::Open {
        device: device.to_owned(),
        errno: e.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_number() {
        assert_eq!(std::mem::offset_of!(NvmePassthruCmd, addr), 24);
        assert_eq!(std::mem::offset_of!(NvmePassthruCmd, data_len), 36);
        assert_eq!(std::mem::offset_of!(NvmePassthruCmd, cdw10), 40);
        assert_eq!(std::mem::offset_of!(NvmePassthruCmd, timeout_ms), 64);
        assert_eq!(std::mem::offset_of!(NvmePassthruCmd, result), 68);
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        assert_eq!(
            nix::request_code_readwrite!(b'N', 0x41, std::mem::size_of::<NvmePassthruCmd>()),
            0xC048_4E41
        );
    }

    #[test]
    fn buffer_checked_before_the_kernel_sees_it() {
        let f = File::open("/dev/null").unwrap();
        let cmd = crate::proto::admin::identify_ctrl();
        let mut short = vec![0u8; 10];
        assert!(matches!(
            admin_passthru(&f, "nvme0", &cmd, &mut short),
            Err(AdminError::BufferSize {
                got: 10,
                want: 4096
            })
        ));
        // A file that is not an NVMe device: the ioctl fails cleanly (ENOTTY).
        let mut buf = vec![0u8; 4096];
        assert!(matches!(
            admin_passthru(&f, "nvme0", &cmd, &mut buf),
            Err(AdminError::Os {
                errno: Errno::ENOTTY,
                ..
            })
        ));
    }
}
