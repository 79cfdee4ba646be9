//! The kernel interface: `/dev/nvme-fabrics`, sysfs topology, admin commands and uevents.
//! (Filled by the kernel-interface work.)
