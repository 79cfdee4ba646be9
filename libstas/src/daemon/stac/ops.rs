//! Performing the I/O-controller machines' actions: adoption of a matching kernel controller
//! at once (the topology is in memory), connects and deletes on blocking threads with the
//! result sent back to the core, timers into the wheel.

use std::sync::Arc;

use tokio::time::Instant;

use super::{Core, StacInput};
use crate::ctrl::ioc::{Action, Event, Token};
use crate::daemon::actor::Input;
use crate::daemon::actor::{connect_new, delete_controller, may_take, Actor, Lane, NotConnected};
use crate::kernel::fabrics::{ConnectParams, CtrlKind};
use crate::kernel::{ConnectError, Controller, Kernel, SupportedOptions, OWNER_STAS};
use crate::model::trid::TransportId;
use crate::proto::uevent::NvmeEventKind;

impl Core {
    pub(super) fn run_action(&mut self, id: u64, action: Action) {
        match action {
            Action::Connect { token, params } => self.connect(id, token, *params),
            Action::Disconnect { token, device } => {
                let done = Event::Disconnected { token };
                self.base.spawn_op(Lane::Other, id, done.clone(), move |k| {
                    delete_controller(k, &device);
                    (done, None)
                });
            }
            Action::StartTimer(kind, d) => self.base.timers.start((id, kind), Instant::now() + d),
            Action::CancelTimer(kind) => self.base.timers.cancel(&(id, kind)),
            Action::Disposed => {
                self.base.ctrls.forget(id);
                self.base.timers.cancel_where(|(i, _)| *i == id);
            }
        }
    }

    /// Adopts a matching kernel controller nobody of ours holds, or connects.
    fn connect(&mut self, id: u64, token: Token, params: ConnectParams) {
        let Some(tid) = self.base.ctrls.get(id).map(|i| i.tid().clone()) else {
            return;
        };
        if let Some(device) = self.find_existing(&tid).map(|c| c.device.clone()) {
            self.adopt(id, token, device);
            return;
        }
        let k = Arc::clone(&self.base.kernel);
        let options = self.base.options.clone();
        let tx = self.base.input_tx.clone();
        let permits = Arc::clone(&self.base.fabrics);
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let r = tokio::task::spawn_blocking(move || {
                connect_blocking(k.as_ref(), &tid, &params, &options)
            })
            .await;
            let input = match r {
                Ok(Outcome::Created { device, ctrl }) => Input::Done {
                    id,
                    event: Event::ConnectDone { token, device },
                    ctrl,
                },
                Ok(Outcome::Duplicate(scan)) => {
                    Input::Own(StacInput::Duplicate { id, token, scan })
                }
                Ok(Outcome::Failed { error, permanent }) => Input::Done {
                    id,
                    event: Event::ConnectFailed {
                        token,
                        error,
                        permanent,
                    },
                    ctrl: None,
                },
                Err(e) => {
                    tracing::error!(error = %e, "kernel operation failed");
                    Input::Done {
                        id,
                        event: Event::ConnectFailed {
                            token,
                            error: "internal error".into(),
                            permanent: false,
                        },
                        ctrl: None,
                    }
                }
            };
            let _ = tx.send(input).await;
        });
    }

    /// Controller `id` adopts `device`, and claims it in the registry off the core (its
    /// owner comes back when it is another's).
    fn adopt(&mut self, id: u64, token: Token, device: String) {
        let adopted = Event::Adopted {
            token,
            device: device.clone(),
        };
        self.feed(id, adopted);
        // Until the claim says otherwise (then `on_claimed`).
        (self.base.topo).set_owner(&device, Some(OWNER_STAS.to_owned()));
        let k = Arc::clone(&self.base.kernel);
        let tx = self.base.input_tx.clone();
        tokio::spawn(async move {
            let claim = tokio::task::spawn_blocking(move || (k.claim(&device), device)).await;
            match claim {
                Ok((Ok(owner), device)) if !may_take(Some(&owner)) => {
                    let _ = tx
                        .send(Input::Own(StacInput::Claimed { id, device, owner }))
                        .await;
                }
                Ok((Err(e), device)) => {
                    tracing::warn!(%device, error = %e, "cannot claim the controller in the registry");
                }
                _ => {}
            }
        });
    }

    /// Another orchestrator holds what controller `id` adopted (it registered it between
    /// the topology's read and the claim): let go of it as if it were gone, without
    /// touching it, and reconcile (which leaves the controller to its owner).
    pub(super) fn on_claimed(&mut self, id: u64, device: &str, owner: String) {
        tracing::info!(%device, %owner, "adopted controller is another orchestrator's: letting go");
        self.base.topo.set_owner(device, Some(owner));
        if self.base.ctrls.owner_of(device) == Some(id) {
            self.feed(id, Event::Uevent(NvmeEventKind::Removed));
        }
        self.trigger_reconcile();
    }

    /// EALREADY: the kernel has the controller although the topology did not show it to us
    /// (an event not seen yet). Refresh the topology from the scan and adopt.
    pub(super) fn on_duplicate(&mut self, id: u64, token: Token, scan: Vec<Controller>) {
        for c in scan {
            self.base.topo.insert(c);
        }
        let Some(tid) = self.base.ctrls.get(id).map(|i| i.tid().clone()) else {
            return;
        };
        match self.find_existing(&tid).map(|c| c.device.clone()) {
            Some(device) => self.adopt(id, token, device),
            None => {
                let error = ConnectError::AlreadyConnected.to_string();
                let permanent = false;
                self.feed(
                    id,
                    Event::ConnectFailed {
                        token,
                        error,
                        permanent,
                    },
                );
            }
        }
    }
}

/// The result of a connect on the blocking thread.
enum Outcome {
    Created {
        device: String,
        ctrl: Option<Box<Controller>>,
    },
    Duplicate(Vec<Controller>),
    Failed {
        error: String,
        permanent: bool,
    },
}

fn connect_blocking(
    k: &dyn Kernel,
    tid: &TransportId,
    params: &ConnectParams,
    options: &SupportedOptions,
) -> Outcome {
    let failed = |error: String, permanent| Outcome::Failed { error, permanent };
    match connect_new(k, tid, params, options) {
        Ok((device, ctrl)) => Outcome::Created {
            device,
            ctrl: ctrl.map(Box::new),
        },
        Err(NotConnected::Kernel(ConnectError::AlreadyConnected)) => {
            let scan: Vec<Controller> = k
                .list_controllers()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| k.read_controller(d).ok().flatten())
                .filter(|c| c.is_kind(CtrlKind::Io))
                .collect();
            tracing::debug!("the kernel already has this controller: adopting it");
            Outcome::Duplicate(scan)
        }
        Err(NotConnected::Excluded(why)) => failed(why, false),
        Err(NotConnected::Invalid(e)) => failed(e.to_string(), true),
        Err(NotConnected::Kernel(e)) => {
            let permanent = matches!(e, ConnectError::Build(_));
            failed(e.to_string(), permanent)
        }
    }
}
