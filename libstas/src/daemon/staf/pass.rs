//! The reconcile pass of the core: debounced trigger, host-name resolution and interface
//! list off the core, then the pure [`crate::ctrl::reconcile`] step and its application
//! (remove first, with deregistration; then add; origins, settings and aging updated).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::Core;
use crate::ctrl::dc::{referral_entries, Dc, Event};
use crate::ctrl::reconcile::{self, Current, Inputs};
use crate::daemon::actor::strip_secrets;
use crate::daemon::actor::{may_take, Actor};
use crate::model::snapshot::{CoreEvent, DlpeDict, Origin};
use crate::model::trid::TransportId;

impl Core {
    /// A DC whose kernel controller another orchestrator took over meanwhile (re-stamped
    /// in the registry, which the pass just read) is left to it: the machine lets go
    /// keeping the connection (no deregistration, no disconnect), and a new one with the
    /// same log pages connects on its own (a second discovery connection is allowed).
    fn leave_taken_over(&mut self) {
        let taken: Vec<TransportId> = (self.base.ctrls.live().iter())
            .filter(|(_, s)| {
                let c = s.ctrl.device().and_then(|d| self.base.topo.by_name(d));
                c.is_some_and(|c| !may_take(c.owner.as_deref()))
            })
            .map(|(t, _)| t.clone())
            .collect();
        for tid in taken {
            let Some(id) = self.base.ctrls.retire(&tid) else {
                continue;
            };
            let Some(old) = self.base.ctrls.get(id) else {
                continue;
            };
            tracing::info!(tid = %tid, device = ?old.device(), "another orchestrator took the discovery controller over: leaving it, connecting anew");
            let (cfg, origin, log) = (old.cfg().clone(), old.origin(), old.log_pages().to_vec());
            let entry = old.entry().cloned();
            let dc = Dc::new(tid, cfg, origin, old.settings().clone(), log).with_entry(entry);
            self.feed(id, Event::Shutdown { keep: true });
            let new = self.base.ctrls.insert(dc, ());
            self.feed(new, Event::Start);
        }
    }

    pub(super) fn apply_reconcile(&mut self, resolved: &BTreeMap<String, Option<IpAddr>>) {
        self.leave_taken_over();
        let (configured, mut dropped) = self.wanted_by_config();
        let current: BTreeMap<TransportId, Current> = self
            .base
            .ctrls
            .live()
            .iter()
            .map(|(t, s)| {
                (
                    t.clone(),
                    Current {
                        origin: s.ctrl.origin(),
                        unresponsive: s.ctrl.is_unresponsive(),
                    },
                )
            })
            .collect();
        // Each referral with the DCs that refer to it (a referral of a 3.x drop-in's DC takes
        // that file's scope), and the entry that names it (the first referrer's, for the
        // TREQ rule). A DC's referrals are those of its log pages.
        let mut referrers: BTreeMap<TransportId, Vec<TransportId>> = BTreeMap::new();
        let mut entries: BTreeMap<TransportId, DlpeDict> = BTreeMap::new();
        for (dc, s) in self.base.ctrls.live() {
            for (r, d) in referral_entries(s.ctrl.log_pages(), dc) {
                let by = referrers.entry(r.clone()).or_default();
                if by.last() != Some(dc) {
                    by.push(dc.clone());
                }
                entries.entry(r).or_insert_with(|| d.clone());
            }
        }
        let referrals: Vec<TransportId> = referrers.keys().cloned().collect();
        let plan = reconcile::reconcile(&Inputs {
            configured: &configured,
            discovered: &self.discovered,
            referrals: &referrals,
            excludes: self.base.screen(),
            ip_family: self.base.cfg.global.ip_family,
            resolved,
            current: &current,
        });
        dropped.extend(plan.dropped.iter().cloned());
        self.base
            .log_dropped(dropped.iter().map(|(t, r)| (t.clone(), r.to_string())));

        for tid in &plan.remove {
            let Some(id) = self.base.ctrls.retire(tid) else {
                continue;
            };
            let device = self.base.ctrls.get(id).and_then(Dc::device);
            tracing::info!(tid = %tid, device = ?device, "removing discovery controller");
            self.feed(id, Event::Remove);
        }
        for (tid, cand) in &plan.wanted {
            let by = (referrers.get(tid).into_iter().flatten())
                .filter(|_| cand.origin == Origin::Referral);
            let (cand_cfg, overrides) = self.base.scoped(by, &cand.cfg, &cand.overrides);
            let settings = self.settings_for(&cand_cfg, &overrides);
            let reported = self.discovered.contains(tid);
            let entry = entries.get(tid).cloned();
            let id = match self.base.ctrls.slot_mut(tid) {
                Some(slot) => {
                    slot.ctrl.set_cfg(strip_secrets(&cand_cfg));
                    if *slot.ctrl.settings() != settings {
                        slot.ctrl.set_settings(settings);
                    }
                    let id = slot.id;
                    if slot.ctrl.entry() != entry.as_ref() {
                        self.feed(id, Event::UpdateEntry(entry));
                    }
                    id
                }
                None => {
                    tracing::info!(tid = %tid, origin = cand.origin.as_str(), "adding discovery controller");
                    let dc = Dc::new(
                        tid.clone(),
                        strip_secrets(&cand_cfg),
                        cand.origin,
                        settings,
                        Vec::new(),
                    )
                    .with_entry(entry);
                    let id = self.base.ctrls.insert(dc, ());
                    self.feed(id, Event::Start);
                    id
                }
            };
            self.feed(id, Event::SetOrigin(cand.origin));
            if cand.origin == Origin::Discovered {
                self.feed(id, Event::Reported(reported));
            }
        }
        for tid in &plan.kept {
            if let Some(id) = self.base.ctrls.id_of(tid) {
                self.feed(id, Event::Reported(false));
            }
        }
        if plan.dc_removed {
            self.publish();
            let _ = self.events.send(CoreEvent::DcRemoved);
        }
        self.save_state();
    }
}
