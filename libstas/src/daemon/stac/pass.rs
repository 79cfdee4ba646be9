//! The reconcile pass of the stacd core: stafd views (dry run first), the debounced trigger,
//! host-name resolution and interface list off the core, then the pure
//! [`crate::ctrl::stac_reconcile`] step and its application: removals first (disconnect or
//! forget per `disconnect-scope`), foreign disconnects of the audit, then additions and
//! updates of the running controllers (configuration, settings, log page entry).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::Core;
use crate::ctrl::ioc::{Event, Ioc};
use crate::ctrl::stac_reconcile::{
    self, Disposal, IocInputs, IocPlan, KernelView, Running, StafdView,
};
use crate::daemon::actor::may_take;
use crate::daemon::actor::strip_secrets;
use crate::daemon::actor::Actor;
use crate::kernel::{Controller, CtrlKind};
use crate::model::trid::TransportId;

impl Core {
    /// A new view of stafd. The first one runs the first pass; later ones run a pass when a
    /// discovery controller's log changed, else only when the dry run says it would change
    /// something, or when the audit is on (what stafd says decides which foreign
    /// connections go).
    pub(super) fn on_view(&mut self, view: StafdView) {
        let reachable = matches!(view, StafdView::Known { .. });
        if reachable != self.stafd.reachable() {
            if reachable {
                tracing::info!("stafd answered: using its discovery log pages");
            } else {
                tracing::info!("stafd unreachable: keeping every connection it may want");
            }
        }
        let before = self.stafd.clone();
        let changed = self.stafd.apply(view);
        self.dirty = true;
        if self.first_view.take().is_some() {
            // The startup pass is not debounced: it opens no soak window, so the answer
            // that brings stafd's entries (stafd starting at the same time) is applied at
            // once.
            self.start_pass();
            return;
        }
        if !changed {
            return;
        }
        // Each discovery controller whose log changed is a source of its own (issue 20): N
        // of them announcing one change do not wait for one another's soak. A changed log
        // runs a pass without a dry run first (the dry run is a plan as costly as the
        // pass's own, and a changed log nearly always changes the plan).
        let sources = self.stafd.changed_dcs(&before);
        if !sources.is_empty() {
            self.trigger_reconcile_from(sources.into_iter().map(Some));
        } else if self.policy().audits() || self.dry_run_changes() {
            self.trigger_reconcile();
        }
    }

    /// Whether a pass with the current inputs (last resolution, no audit) would add,
    /// remove or update a controller.
    fn dry_run_changes(&self) -> bool {
        let plan = self.plan(&self.resolved, false);
        !plan.add.is_empty()
            || !plan.remove.is_empty()
            || plan.wanted.iter().any(|(t, c)| {
                self.base
                    .ctrls
                    .live()
                    .get(t)
                    .is_some_and(|s| s.ctrl.dlpe() != c.dlpe.as_ref())
            })
    }

    /// The pure reconcile over the current state.
    fn plan(&self, resolved: &BTreeMap<String, Option<IpAddr>>, with_audit: bool) -> IocPlan {
        let (configured, _) = stac_reconcile::configured(&self.base.cfg, &self.base.tid_defaults());
        let current: BTreeMap<TransportId, Running> = self
            .base
            .ctrls
            .live()
            .iter()
            .map(|(t, s)| (t.clone(), Running { vouched: s.extra }))
            .collect();
        let policy = self.policy();
        let ctrls: Vec<&Controller> = if with_audit && policy.audits() {
            self.base.topo.iter().collect()
        } else {
            Vec::new()
        };
        let owned = if ctrls.is_empty() {
            BTreeSet::new()
        } else {
            self.owned_devices()
        };
        let foreign: Vec<&Controller> = (self.base.topo.iter())
            .filter(|c| c.is_kind(CtrlKind::Io) && !may_take(c.owner.as_deref()))
            .collect();
        stac_reconcile::reconcile(&IocInputs {
            configured: &configured,
            stafd: &self.stafd,
            excludes: self.base.screen(),
            ip_family: self.base.cfg.global.ip_family,
            resolved,
            current: &current,
            kernel: KernelView {
                ctrls: &ctrls,
                owned: &owned,
                ifaddrs: &self.base.ifaddrs,
                foreign: &foreign,
            },
            policy: &policy,
        })
    }

    pub(super) fn apply_reconcile(&mut self) {
        let plan = self.plan(&self.resolved, true);
        let (_, mut dropped) =
            stac_reconcile::configured(&self.base.cfg, &self.base.tid_defaults());
        dropped.extend(plan.dropped.iter().cloned());
        self.base
            .log_dropped(dropped.iter().map(|(t, r)| (t.clone(), r.to_string())));

        for (tid, disposal) in &plan.remove {
            let Some(id) = self.base.ctrls.retire(tid) else {
                continue;
            };
            let keep = *disposal == Disposal::Forget;
            let device = self.base.ctrls.get(id).and_then(Ioc::device);
            tracing::info!(tid = %tid, device = ?device, keep_connection = keep, "I/O controller no longer wanted");
            self.feed(id, Event::Remove { keep });
        }
        for (tid, device) in &plan.disconnect_foreign {
            tracing::info!(tid = %tid, %device, "audit: disconnecting a connection no source wants");
            let settings = self.settings_for(&BTreeMap::new(), &Default::default());
            let ioc = Ioc::existing(tid.clone(), device.clone(), settings);
            let id = self.base.ctrls.insert_dying(ioc);
            self.feed(id, Event::Remove { keep: false });
        }
        for (tid, cand) in &plan.wanted {
            let dcs = cand.dcs.iter().filter(|_| !cand.configured);
            let (cand_cfg, overrides) = self.base.scoped(dcs, &cand.cfg, &cand.overrides);
            let settings = self.settings_for(&cand_cfg, &overrides);
            let cfg = strip_secrets(&cand_cfg);
            match self.base.ctrls.slot_mut(tid) {
                Some(slot) => {
                    slot.extra = true;
                    if slot.ctrl.cfg() != &cfg {
                        slot.ctrl.set_cfg(cfg);
                    }
                    if *slot.ctrl.settings() != settings {
                        slot.ctrl.set_settings(settings);
                    }
                    if slot.ctrl.dlpe() != cand.dlpe.as_ref() {
                        let id = slot.id;
                        self.feed(id, Event::UpdateDlpe(cand.dlpe.clone()));
                    }
                }
                None => {
                    tracing::info!(tid = %tid, configured = cand.configured, from_logs = cand.dcs.len(), "adding I/O controller");
                    let ioc = Ioc::new(tid.clone(), cfg, settings, cand.dlpe.clone());
                    let id = self.base.ctrls.insert(ioc, true);
                    self.feed(id, Event::Start);
                }
            }
        }
        if plan.waiting.len() != self.waiting_logged {
            if !plan.waiting.is_empty() {
                tracing::info!(
                    controllers = plan.waiting.len(),
                    "keeping connections no known source names until stafd answers"
                );
            }
            self.waiting_logged = plan.waiting.len();
        }
        self.dirty = true;
        self.save_state();
    }
}
