//! Sans-IO NVMe-oF wire formats. (Filled by the kernel-interface work.)
#![forbid(unsafe_code)]
