//! What the stacd core publishes: the [`Snapshot`] for readers (sent only when it changed)
//! and the warm-restart [`StacState`] (the identities of the controllers it holds).

use tokio::time::Instant;

use super::Core;
use crate::ctrl::ioc::{Ioc, TimerKind};
use crate::model::snapshot::{CtrlView, IocPart, Snapshot};
use crate::runtime::state::StacState;

impl Core {
    pub(super) fn state(&self) -> StacState {
        StacState {
            iocs: self.base.ctrls.live().keys().cloned().collect(),
            ..StacState::default()
        }
    }

    /// Hands the state to the writer when it changed.
    pub(super) fn save_state(&self) {
        if self.base.shutting_down {
            return;
        }
        if let Some(tx) = &self.base.state_tx {
            let st = self.state();
            tx.send_if_modified(|s| {
                if *s == st {
                    false
                } else {
                    *s = st;
                    true
                }
            });
        }
    }

    fn view(&self, ioc: &Ioc, id: u64, now: Instant) -> CtrlView {
        let rem = self
            .base
            .timers
            .remaining(&(id, TimerKind::ConnectRetry), now);
        let (attrs, connected) = self.base.kernel_view(ioc.device());
        CtrlView {
            tid: ioc.tid().clone(),
            cfg: ioc.cfg().clone(),
            device: ioc.device().map(str::to_owned),
            connected,
            connect_attempts: ioc.connect_attempts(),
            retry_connect_timer: ioc.timer_view(rem),
            connect_op: ioc.connect_view(rem),
            attrs,
            dc: None,
            ioc: Some(IocPart {
                dlpe: ioc.dlpe_shared().cloned(),
            }),
        }
    }

    fn build_snapshot(&self) -> Snapshot {
        let now = Instant::now();
        Snapshot {
            ctrls: self
                .base
                .ctrls
                .live()
                .values()
                .map(|s| self.view(&s.ctrl, s.id, now))
                .collect(),
            process: self.base.process_view(now, None),
        }
    }

    /// Publishes the state when it changed, and sets when the next publication may be
    /// (see [`super::PUBLISH_COST_RATIO`]).
    pub(super) fn publish(&mut self) {
        self.dirty = false;
        let started = std::time::Instant::now();
        self.base.send_snapshot(self.build_snapshot());
        let cost = started.elapsed() * super::PUBLISH_COST_RATIO;
        self.next_publish = Some(Instant::now() + cost.max(super::PUBLISH_MIN_INTERVAL));
    }
}
