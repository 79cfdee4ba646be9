//! The per-event lookups of a core: which controller machine holds a kernel device, and under
//! which transport id a machine id lives. Both cores keep their machines in a map by
//! transport id (what the reconcile works with); every uevent and every finished kernel
//! operation arrives by device name or machine id, and this index answers those in O(1)
//! instead of a scan of all machines.
//!
//! The core tells the index about every change: a machine added ([`Index::live`]), moved
//! to the dying set ([`Index::retire`]), dropped ([`Index::forget`]), and its device after
//! every event it handled ([`Index::set_device`]).

use std::collections::HashMap;

use crate::model::trid::TransportId;

/// Device → machine id and machine id → transport id.
#[derive(Debug, Default)]
pub struct Index {
    tid_of: HashMap<u64, TransportId>,
    device_of: HashMap<u64, String>,
    by_device: HashMap<String, u64>,
}

impl Index {
    /// Machine `id` now lives under `tid` (in the core's map of running machines).
    pub fn live(&mut self, id: u64, tid: &TransportId) {
        self.tid_of.insert(id, tid.clone());
    }

    /// Machine `id` left the running map (it is dying: still owns its device until it is
    /// forgotten).
    pub fn retire(&mut self, id: u64) {
        self.tid_of.remove(&id);
    }

    /// Machine `id` is gone.
    pub fn forget(&mut self, id: u64) {
        self.retire(id);
        self.set_device(id, None);
    }

    /// Machine `id` holds `device` now (`None`: no kernel controller).
    pub fn set_device(&mut self, id: u64, device: Option<&str>) {
        if self.device_of.get(&id).map(String::as_str) == device {
            return;
        }
        if let Some(old) = self.device_of.remove(&id) {
            if self.by_device.get(&old) == Some(&id) {
                self.by_device.remove(&old);
            }
        }
        if let Some(d) = device {
            self.device_of.insert(id, d.to_owned());
            self.by_device.insert(d.to_owned(), id);
        }
    }

    /// The transport id of running machine `id`.
    #[must_use]
    pub fn tid(&self, id: u64) -> Option<&TransportId> {
        self.tid_of.get(&id)
    }

    /// The machine holding `device`.
    #[must_use]
    pub fn owner(&self, device: &str) -> Option<u64> {
        self.by_device.get(device).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(a: &str) -> TransportId {
        TransportId {
            transport: "tcp".into(),
            traddr: a.into(),
            trsvcid: "4420".into(),
            ..TransportId::default()
        }
    }

    #[test]
    fn follows_devices_and_ids() {
        let mut ix = Index::default();
        ix.live(1, &tid("192.0.2.1"));
        ix.live(2, &tid("192.0.2.2"));
        ix.set_device(1, Some("nvme3"));
        assert_eq!(ix.owner("nvme3"), Some(1));
        assert_eq!(ix.tid(2), Some(&tid("192.0.2.2")));
        // Reconnected under a new instance: the old name is free.
        ix.set_device(1, Some("nvme5"));
        assert_eq!(ix.owner("nvme3"), None);
        assert_eq!(ix.owner("nvme5"), Some(1));
        // The kernel reuses nvme3 for another machine.
        ix.set_device(2, Some("nvme3"));
        assert_eq!(ix.owner("nvme3"), Some(2));
        // Dying machines keep their device until forgotten.
        ix.retire(1);
        assert_eq!(ix.tid(1), None);
        assert_eq!(ix.owner("nvme5"), Some(1));
        ix.forget(1);
        assert_eq!(ix.owner("nvme5"), None);
        ix.set_device(2, None);
        assert_eq!(ix.owner("nvme3"), None);
    }

    #[test]
    fn a_stale_claim_does_not_unmap_the_new_owner() {
        let mut ix = Index::default();
        ix.set_device(1, Some("nvme0"));
        ix.set_device(2, Some("nvme0"));
        ix.set_device(1, None);
        assert_eq!(ix.owner("nvme0"), Some(2));
    }
}
