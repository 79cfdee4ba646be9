//! The reconcile pass of the core: debounced trigger, host-name resolution and interface
//! list off the core, then the pure [`crate::ctrl::reconcile`] step and its application
//! (remove first, with deregistration; then add; origins, settings and aging updated).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use tokio::time::Instant;

use super::{Core, Input};
use crate::ctrl::dc::{Dc, Event};
use crate::ctrl::debounce::Trigger;
use crate::ctrl::reconcile::{self, Current, DropReason, Inputs};
use crate::daemon::actor::strip_secrets;
use crate::daemon::resolve::{Finished, PassInputs};
use crate::model::snapshot::{CoreEvent, Origin};
use crate::model::trid::TransportId;

impl Core {
    pub(super) fn trigger_reconcile(&mut self) {
        if self.shutting_down {
            return;
        }
        if self.debounce.trigger(Instant::now()) == Trigger::RunNow {
            self.start_pass();
        }
    }

    /// Resolves host names and reads the interface addresses off the core, then comes back
    /// with [`Input::PassReady`] (or later, when a pass is running: see [`crate::daemon::resolve::Pass`]).
    pub(super) fn start_pass(&mut self) {
        if self.shutting_down {
            return;
        }
        let (cands, _) = reconcile::configured(&self.cfg, &self.tid_defaults());
        let names = reconcile::names_to_resolve(&cands, &self.cfg.excludes);
        self.pass.start(
            Arc::clone(&self.kernel),
            names,
            self.cfg.global.ip_family,
            self.cfg_generation,
            self.input_tx.clone(),
            Input::PassReady,
        );
    }

    pub(super) fn finish_pass(&mut self, inputs: PassInputs) {
        let generation = self.cfg_generation;
        match self
            .pass
            .finish(inputs, generation, self.shutting_down, &mut self.ifaddrs)
        {
            Finished::Ignore => {}
            Finished::Restart => self.start_pass(),
            Finished::Apply(resolved) => {
                self.apply_reconcile(&resolved);
                if self.pass.again() {
                    self.start_pass();
                }
            }
        }
    }

    pub(super) fn apply_reconcile(&mut self, resolved: &BTreeMap<String, Option<IpAddr>>) {
        let (configured, mut dropped) = reconcile::configured(&self.cfg, &self.tid_defaults());
        let current: BTreeMap<TransportId, Current> = self
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
        let mut referrals: Vec<TransportId> = self
            .ctrls
            .live()
            .values()
            .flat_map(|s| s.ctrl.referrals().iter().cloned())
            .collect();
        referrals.sort();
        referrals.dedup();
        let plan = reconcile::reconcile(&Inputs {
            configured: &configured,
            discovered: &self.discovered,
            referrals: &referrals,
            excludes: &self.cfg.excludes,
            ip_family: self.cfg.global.ip_family,
            resolved,
            current: &current,
        });
        dropped.extend(plan.dropped.iter().cloned());
        self.log_dropped(&dropped);

        for tid in &plan.remove {
            let Some(id) = self.ctrls.retire(tid) else {
                continue;
            };
            let device = self.ctrls.get(id).and_then(Dc::device);
            tracing::info!(tid = %tid, device = ?device, "removing discovery controller");
            self.feed(id, Event::Remove);
        }
        for (tid, cand) in &plan.wanted {
            let settings = self.settings_for(&cand.overrides);
            let reported = self.discovered.contains(tid);
            let id = match self.ctrls.slot_mut(tid) {
                Some(slot) => {
                    slot.ctrl.set_cfg(strip_secrets(&cand.cfg));
                    if *slot.ctrl.settings() != settings {
                        slot.ctrl.set_settings(settings);
                    }
                    slot.id
                }
                None => {
                    tracing::info!(tid = %tid, origin = cand.origin.as_str(), "adding discovery controller");
                    let dc = Dc::new(
                        tid.clone(),
                        strip_secrets(&cand.cfg),
                        cand.origin,
                        settings,
                        Vec::new(),
                    );
                    let id = self.ctrls.insert(dc, ());
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
            if let Some(id) = self.ctrls.id_of(tid) {
                self.feed(id, Event::Reported(false));
            }
        }
        if plan.dc_removed {
            self.publish();
            let _ = self.events.send(CoreEvent::DcRemoved);
        }
        self.save_state();
    }

    pub(super) fn log_dropped(&mut self, dropped: &[(TransportId, DropReason)]) {
        let now: BTreeSet<(TransportId, String)> = dropped
            .iter()
            .map(|(t, r)| (t.clone(), r.to_string()))
            .collect();
        for (tid, reason) in now.difference(&self.last_dropped) {
            if reason == "excluded" {
                tracing::info!(tid = %tid, "controller excluded by configuration");
            } else {
                tracing::warn!(tid = %tid, %reason, "controller skipped");
            }
        }
        self.last_dropped = now;
    }
}
