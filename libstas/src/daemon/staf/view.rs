//! What the core publishes: the [`Snapshot`] for readers (sent only when it changed) and the
//! warm-restart [`StafState`].

use std::sync::Arc;

use tokio::time::Instant;

use super::Core;
use crate::config::service::Persistence;
use crate::ctrl::dc::{Dc, TimerKind};
use crate::daemon::actor::strip_secrets;
use crate::model::snapshot::{CtrlView, DcPart, Origin, Snapshot, UnresponsiveView};
use crate::runtime::state::{StafState, StafStateDc};

impl Core {
    pub(super) fn state(&self) -> StafState {
        StafState {
            dcs: self
                .base
                .ctrls
                .live()
                .values()
                .map(|s| StafStateDc {
                    tid: s.ctrl.tid().clone(),
                    origin: s.ctrl.origin(),
                    log_pages: s.ctrl.log_pages().to_vec(),
                })
                .collect(),
            ..StafState::default()
        }
    }

    pub(super) fn save_state(&self) {
        if self.base.shutting_down {
            return;
        }
        if let Some(tx) = &self.base.state_tx {
            tx.send_replace(self.state());
        }
    }

    pub(super) fn view(&self, dc: &Dc, id: u64, now: Instant) -> CtrlView {
        let rem = |k: TimerKind| self.base.timers.remaining(&(id, k), now);
        let (attrs, connected) = self.base.kernel_view(dc.device());
        let unresponsive = (dc.origin() == Origin::Discovered).then(|| UnresponsiveView {
            timeout: match dc.settings().persistence {
                Persistence::For(d) => Some(d),
                Persistence::Forever => None,
            },
            since: dc.lost_since(),
            timer: dc.timer_view(TimerKind::Aging, rem(TimerKind::Aging)),
        });
        CtrlView {
            tid: dc.tid().clone(),
            cfg: strip_secrets(dc.cfg()),
            device: dc.device().map(str::to_owned),
            connected,
            connect_attempts: dc.connect_attempts(),
            retry_connect_timer: dc
                .timer_view(TimerKind::ConnectRetry, rem(TimerKind::ConnectRetry)),
            connect_op: dc.connect_view(rem(TimerKind::ConnectRetry)),
            attrs,
            dc: Some(DcPart {
                origin: dc.origin(),
                unresponsive,
                register_op: dc.register_view(rem(TimerKind::RegisterRetry)),
                supported_op: dc.supported_view(rem(TimerKind::SupportedRetry)),
                get_log_op: dc.get_log_view(rem(TimerKind::GetLogRetry)),
                log_pages: Arc::clone(dc.log_pages()),
            }),
            ioc: None,
        }
    }

    pub(super) fn build_snapshot(&self) -> Snapshot {
        let now = Instant::now();
        Snapshot {
            ctrls: self
                .base
                .ctrls
                .live()
                .values()
                .map(|s| self.view(&s.ctrl, s.id, now))
                .collect(),
            process: self.base.process_view(now, Some(self.avahi.clone())),
        }
    }

    /// Publishes the state when it changed.
    pub(super) fn publish(&self) {
        self.base.send_snapshot(self.build_snapshot());
    }
}
