//! Performing the state machines' actions: every kernel call on a blocking thread, the
//! result sent back to the core as an [`crate::daemon::actor::Input::Done`]; timers into the wheel; change events
//! out.

use tokio::time::Instant;

use super::Core;
use crate::ctrl::dc::{Action, Event, RegisterFailure, Token};
use crate::daemon::actor::{connect_new, delete_controller, may_take, Actor, Lane, NotConnected};
use crate::kernel::admin::{
    ctrl_types, dim_send, get_discovery_log, supported_log_pages, DlpOptions, Registrant,
};
use crate::kernel::fabrics::{ConnectParams, CtrlKind};
use crate::kernel::AdminError;
use crate::model::snapshot::CoreEvent;
use crate::proto::consts::DimTask;

impl Core {
    pub(super) fn run_action(&mut self, id: u64, action: Action) {
        match action {
            Action::Connect { token, params } => self.connect(id, token, *params),
            Action::Register { token, device } => self.dim(id, token, device, DimTask::Register),
            Action::Deregister { token, device } => {
                self.dim(id, token, device, DimTask::Deregister);
            }
            Action::GetSupported { token, device } => {
                let fallback = Event::SupportedFailed {
                    token,
                    error: "internal error".into(),
                };
                self.base.spawn_op(Lane::Other, id, fallback, move |k| {
                    let ev = match supported_log_pages(k, &device) {
                        Ok(s) => Event::SupportedDone {
                            token,
                            pleos: s.pleo_supported(),
                        },
                        // The controller answered: it does not have the log (Linux nvmet
                        // rejects LID 0 on discovery controllers). Read without PLEO.
                        Err(e) if e.status().is_some() => {
                            tracing::debug!(%device, error = %e, "no Supported Log Pages: reading the discovery log without PLEO");
                            Event::SupportedDone {
                                token,
                                pleos: false,
                            }
                        }
                        Err(e) => Event::SupportedFailed {
                            token,
                            error: e.to_string(),
                        },
                    };
                    (ev, None)
                });
            }
            Action::GetLogPage { token, device, lsp } => {
                let fallback = Event::LogPageFailed {
                    token,
                    error: "internal error".into(),
                };
                self.base.spawn_op(Lane::Other, id, fallback, move |k| {
                    let opts = DlpOptions {
                        lsp,
                        ..DlpOptions::default()
                    };
                    let ev = match get_discovery_log(k, &device, &opts) {
                        Ok(log) => {
                            for r in &log.rejected {
                                tracing::warn!(%device, index = r.index, error = %r.error, "discovery log entry skipped");
                            }
                            Event::LogPageDone {
                                token,
                                entries: log.entries,
                            }
                        }
                        Err(e) => Event::LogPageFailed {
                            token,
                            error: e.to_string(),
                        },
                    };
                    (ev, None)
                });
            }
            Action::Disconnect { token, device } => {
                self.base
                    .spawn_op(Lane::Other, id, Event::Disconnected { token }, move |k| {
                        delete_controller(k, &device);
                        (Event::Disconnected { token }, None)
                    });
            }
            Action::StartTimer(kind, d) => self.base.timers.start((id, kind), Instant::now() + d),
            Action::CancelTimer(kind) => self.base.timers.cancel(&(id, kind)),
            Action::LogPagesChanged { device } => {
                let Some(tid) = self.base.ctrls.get(id).map(|dc| dc.tid().clone()) else {
                    return;
                };
                self.publish();
                let _ = self.events.send(CoreEvent::LogPagesChanged { tid, device });
                self.save_state();
            }
            Action::ReferralsChanged => {
                // The referring DC is the change's source (its own debounce window).
                let tid = self.base.ctrls.get(id).map(|dc| dc.tid().clone());
                self.trigger_reconcile_from([tid]);
            }
            Action::RequestReconcile => self.trigger_reconcile(),
            Action::Disposed => {
                self.base.ctrls.forget(id);
                self.claimed.remove(&id);
                self.base.timers.cancel_where(|(i, _)| *i == id);
            }
        }
    }

    pub(super) fn connect(&mut self, id: u64, token: Token, params: ConnectParams) {
        let Some(tid) = self.base.ctrls.get(id).map(|d| d.tid().clone()) else {
            return;
        };
        let owned = self.owned_devices();
        // Another orchestrator's DC (registry) is not adopted: stafd makes its own connection.
        let existing = self
            .base
            .topo
            .find_match(&tid, CtrlKind::Discovery, &self.base.ifaddrs)
            .filter(|c| !owned.contains(&c.device) && may_take(c.owner.as_deref()))
            .cloned();
        let fallback = Event::ConnectFailed {
            token,
            error: "internal error".into(),
            permanent: false,
        };
        if let Some(c) = existing {
            self.claimed.insert(id, c.device.clone());
            self.base.spawn_op(Lane::Other, id, fallback, move |k| {
                let device = c.device.clone();
                match k.claim(&device) {
                    Ok(owner) if !may_take(Some(&owner)) => {
                        // Claimed by another meanwhile: the retry connects anew.
                        let ctrl = k.read_controller(&device).ok().flatten();
                        let error = format!("{device} is owned by {owner}");
                        let permanent = false;
                        let ev = Event::ConnectFailed {
                            token,
                            error,
                            permanent,
                        };
                        return (ev, ctrl);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(%device, error = %e, "cannot claim the controller in the registry"),
                }
                let dctype = ctrl_types(k, &c).ok().map(|(_, d)| d);
                let ctrl = k.read_controller(&device).ok().flatten();
                (
                    Event::Adopted {
                        token,
                        device,
                        dctype,
                    },
                    ctrl,
                )
            });
            return;
        }
        let options = self.base.options.clone();
        self.base.spawn_op(Lane::Fabrics, id, fallback, move |k| {
            let (error, permanent) = match connect_new(k, &tid, &params, &options) {
                Ok((device, ctrl)) => {
                    let dctype = (ctrl.as_ref())
                        .and_then(|c| ctrl_types(k, c).ok())
                        .map(|(_, d)| d);
                    let done = Event::ConnectDone {
                        token,
                        device,
                        dctype,
                    };
                    return (done, ctrl);
                }
                Err(NotConnected::Excluded(why)) => (why, false),
                Err(NotConnected::Invalid(e)) => (e.to_string(), true),
                // A DC retries forever (see `ctrl::dc`).
                Err(NotConnected::Kernel(e)) => (e.to_string(), false),
            };
            let failed = Event::ConnectFailed {
                token,
                error,
                permanent,
            };
            (failed, None)
        });
    }

    pub(super) fn dim(&mut self, id: u64, token: Token, device: String, task: DimTask) {
        let Some(dc) = self.base.ctrls.get(id) else {
            return;
        };
        let host_nqn = dc.tid().host_nqn.clone();
        let ctrl = self.base.topo.by_name(&device).cloned();
        let host_id = self.base.host.id.clone();
        let symname = self.base.host.symname.clone();
        let to_event = move |r: Result<(), AdminError>| {
            if task == DimTask::Deregister {
                match &r {
                    Ok(()) => tracing::debug!("deregistered from the discovery controller"),
                    Err(e) => tracing::info!(error = %e, "deregistration failed"),
                }
            }
            dim_event(token, task, r)
        };
        // Not through `to_event`: a fallback that is never used must not log a failure.
        let fallback = dim_event(
            token,
            task,
            Err(AdminError::NotSupported {
                device: device.clone(),
                what: "internal error",
            }),
        );
        self.base.spawn_op(Lane::Other, id, fallback, move |k| {
            // Another orchestrator's controller is never (de)registered (item 19).
            if let Some(owner) = k.owner(&device).filter(|o| !may_take(Some(o))) {
                tracing::info!(%device, %owner, "no DIM: the registry says another orchestrator owns it");
                let what = "owned by another orchestrator";
                let r = Err(AdminError::NotSupported { device, what });
                return (to_event(r), None);
            }
            let c = ctrl.or_else(|| k.read_controller(&device).ok().flatten());
            let r = match c {
                None => Err(AdminError::Open {
                    device: device.clone(),
                    errno: nix::errno::Errno::ENODEV,
                }),
                Some(c) => {
                    let who = Registrant {
                        host_nqn: &host_nqn,
                        host_id: &host_id,
                        symname: symname.as_deref(),
                    };
                    dim_send(k, &c, task, &who).map(|_| ())
                }
            };
            (to_event(r), None)
        });
    }
}

fn register_failure(e: &AdminError) -> RegisterFailure {
    match e {
        AdminError::NotSupported { .. } => RegisterFailure::NotSupported,
        e if e.status().is_some() => RegisterFailure::Rejected(e.to_string()),
        e => RegisterFailure::Failed(e.to_string()),
    }
}

/// The event a DIM result means for the state machine.
fn dim_event(token: Token, task: DimTask, r: Result<(), AdminError>) -> Event {
    match task {
        DimTask::Deregister => Event::Deregistered { token },
        DimTask::Register | DimTask::Update => match r {
            Ok(()) => Event::RegisterDone { token },
            Err(e) => Event::RegisterFailed {
                token,
                failure: register_failure(&e),
            },
        },
    }
}
