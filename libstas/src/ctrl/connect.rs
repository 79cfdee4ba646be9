//! The connect side that stafd's discovery-controller machine ([`super::dc`]) and stacd's
//! I/O-controller machine ([`super::ioc`]) share, sans-IO like them: operation [`Token`]s and
//! the dropping of stale completions (`InFlight`), the connect attempt counter with
//! nvme-stas's backoff (3 s after the first failure, 60 s after the others, 3 s after a
//! kernel `remove`) and the outcome of a connect (`Link`), the counters an operation shows
//! on D-Bus (`OpStat`), the timer bookkeeping (`Timers`), removal (`Disposal`), the
//! connection parameters both kinds of controller send (`base_params`), and the TREQ rule
//! (`treq_rule`: an entry that requires a secure channel is connected with TLS or not at
//! all).
//!
//! What differs stays in the machines: a discovery controller retries forever and runs the
//! register → supported → get-log chain once connected; an I/O controller stops retrying
//! at the `connect-attempts-on-ncc` gate and carries queue and DH-HMAC-CHAP settings.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use crate::config::service::ConnectParams as CfgParams;
use crate::kernel::fabrics::{ConnectParams, CtrlKind};
use crate::model::snapshot::{DlpeDict, OpView, TimerView};
use crate::model::trid::TransportId;
use crate::proto::dlp::SecureChannel;

use super::timers::{CONNECT_RETRY, FAST_CONNECT_RETRY, RETRY_AFTER_REMOVE};

/// Identifies one operation of one controller; completions carry it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// The operation in flight (at most one per controller) and the token counter.
#[derive(Debug, Clone)]
pub(crate) struct InFlight<O> {
    current: Option<(Token, O)>,
    next: u64,
}

impl<O> Default for InFlight<O> {
    fn default() -> Self {
        Self {
            current: None,
            next: 0,
        }
    }
}

impl<O: Copy + Eq + Debug> InFlight<O> {
    /// Starts `op` under a new token.
    pub(crate) fn begin(&mut self, op: O) -> Token {
        self.next += 1;
        let token = Token(self.next);
        self.current = Some((token, op));
        token
    }

    /// Clears the op in flight if it is `op` under `token`. Returns false for a stale
    /// completion (logged at trace level).
    pub(crate) fn complete(&mut self, token: Token, op: O, tid: &TransportId) -> bool {
        match self.current {
            Some((t, o)) if t == token && o == op => {
                self.current = None;
                true
            }
            _ => {
                tracing::trace!(%tid, ?token, ?op, "stale completion ignored");
                false
            }
        }
    }

    /// Forgets the op in flight (its result no longer matters).
    pub(crate) fn clear(&mut self) {
        self.current = None;
    }

    /// The op in flight.
    pub(crate) fn op(&self) -> Option<O> {
        self.current.map(|(_, o)| o)
    }

    /// Whether `op` is in flight.
    pub(crate) fn is(&self, op: O) -> bool {
        self.op() == Some(op)
    }

    /// Nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.current.is_none()
    }

    /// Whether the machine waits for the result of `token`.
    pub(crate) fn awaits(&self, token: Token) -> bool {
        self.current.is_some_and(|(t, _)| t == token)
    }
}

/// Counters of one kind of operation (shown by `controller_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OpStat {
    pub(crate) created: bool,
    pub(crate) fail_count: u32,
    pub(crate) completed: Option<bool>,
    pub(crate) error: Option<String>,
}

impl OpStat {
    pub(crate) fn start(&mut self) {
        self.created = true;
        self.completed = None;
    }

    pub(crate) fn ok(&mut self) {
        self.fail_count = 0;
        self.completed = Some(true);
        self.error = None;
    }

    pub(crate) fn fail(&mut self, e: &str) {
        self.fail_count = self.fail_count.saturating_add(1);
        self.completed = Some(false);
        self.error = Some(e.to_owned());
    }

    /// The D-Bus view, once the operation ran: not completed while `running`.
    pub(crate) fn view(
        &self,
        running: bool,
        alive: bool,
        retry_timer: Option<TimerView>,
    ) -> Option<OpView> {
        self.created.then(|| OpView {
            fail_count: self.fail_count,
            completed: if running { None } else { self.completed },
            alive,
            retry_timer,
            error: self.error.clone(),
        })
    }
}

/// What every controller machine of module `ctrl::X` has: its accessors (fields `tid`,
/// `cfg`, `settings`, `link`, `ops`, `disposal`, `timers`) and [`MachineAction`] for
/// `X::Action` over `X::TimerKind`.
macro_rules! machine_common {
    ($machine:ident, $settings:ident) => {
        impl $machine {
            /// The identity.
            #[must_use]
            pub fn tid(&self) -> &TransportId {
                &self.tid
            }

            /// Extra `controller=` keys (no secrets).
            #[must_use]
            pub fn cfg(&self) -> &BTreeMap<String, String> {
                &self.cfg
            }

            /// Replaces the extra keys (a reload changed the `controller=` line).
            pub fn set_cfg(&mut self, cfg: BTreeMap<String, String>) {
                self.cfg = cfg;
            }

            /// The settings in use.
            #[must_use]
            pub fn settings(&self) -> &$settings {
                &self.settings
            }

            /// Replaces the settings without reconnecting or resyncing (a reconcile pass saw
            /// new per-controller parameters; they apply to the next connect).
            pub fn set_settings(&mut self, settings: $settings) {
                self.settings = settings;
            }

            /// The kernel device, while connected or adopted.
            #[must_use]
            pub fn device(&self) -> Option<&str> {
                self.link.device()
            }

            /// Connection attempts since the last success.
            #[must_use]
            pub fn connect_attempts(&self) -> u32 {
                self.link.attempts()
            }

            /// Whether the machine is waiting for the result of `token`.
            #[must_use]
            pub fn awaits(&self, token: Token) -> bool {
                self.ops.awaits(token)
            }

            /// Whether it is letting go (a disconnect, or a removal or exit that keeps the
            /// connection).
            #[must_use]
            pub fn is_disposing(&self) -> bool {
                self.disposal.asked()
            }

            /// Whether [`Action::Disposed`] was returned.
            #[must_use]
            pub fn is_disposed(&self) -> bool {
                self.disposal.done()
            }

            /// Whether timer `kind` is running.
            #[must_use]
            pub fn timer_running(&self, kind: TimerKind) -> bool {
                self.timers.running(kind)
            }
        }

        impl MachineAction<TimerKind> for Action {
            fn start_timer(kind: TimerKind, d: Duration) -> Self {
                Self::StartTimer(kind, d)
            }
            fn cancel_timer(kind: TimerKind) -> Self {
                Self::CancelTimer(kind)
            }
            fn disposed() -> Self {
                Self::Disposed
            }
        }
    };
}
pub(crate) use machine_common;

/// The actions of a machine that the shared parts emit: starting and stopping timers of
/// kind `K`, and the end of the controller.
pub(crate) trait MachineAction<K> {
    fn start_timer(kind: K, d: Duration) -> Self;
    fn cancel_timer(kind: K) -> Self;
    fn disposed() -> Self;
}

/// Removal of a controller. It is asked for once (later requests are ignored); the machine
/// is done once it emitted `Disposed`, and ignores every event after that.
#[derive(Debug, Clone, Default)]
pub(crate) struct Disposal {
    asked: bool,
    done: bool,
}

impl Disposal {
    /// Whether removal was asked for.
    pub(crate) fn asked(&self) -> bool {
        self.asked
    }

    /// Whether `Disposed` was emitted.
    pub(crate) fn done(&self) -> bool {
        self.done
    }

    /// Asks for removal. False when it already was: nothing to do.
    pub(crate) fn ask(&mut self) -> bool {
        !std::mem::replace(&mut self.asked, true)
    }

    /// Done: emit `Disposed`.
    pub(crate) fn finish<K, A: MachineAction<K>>(&mut self, out: &mut Vec<A>) {
        self.done = true;
        out.push(A::disposed());
    }

    /// Done at once, the kernel connection (if any) stays.
    pub(crate) fn keep<K, A: MachineAction<K>>(
        &mut self,
        tid: &TransportId,
        device: Option<&str>,
        out: &mut Vec<A>,
    ) {
        if let Some(d) = device {
            tracing::debug!(%tid, device = %d, "keeping the connection");
        }
        self.finish(out);
    }
}

/// The running timers and their periods. Starting or cancelling one also emits the action
/// the caller's timer wheel performs.
#[derive(Debug, Clone)]
pub(crate) struct Timers<K> {
    running: BTreeMap<K, Duration>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Self {
            running: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// (Re)starts `kind`.
    pub(crate) fn start<A: MachineAction<K>>(&mut self, kind: K, d: Duration, out: &mut Vec<A>) {
        self.running.insert(kind, d);
        out.push(A::start_timer(kind, d));
    }

    /// Stops `kind` if it runs.
    pub(crate) fn cancel<A: MachineAction<K>>(&mut self, kind: K, out: &mut Vec<A>) {
        if self.running.remove(&kind).is_some() {
            out.push(A::cancel_timer(kind));
        }
    }

    /// Stops every running timer.
    pub(crate) fn cancel_all<A: MachineAction<K>>(&mut self, out: &mut Vec<A>) {
        let kinds: Vec<K> = self.running.keys().copied().collect();
        for k in kinds {
            self.cancel(k, out);
        }
    }

    /// `kind` expired: forget it. False when it was not running (a stale expiry).
    pub(crate) fn fired(&mut self, kind: K) -> bool {
        self.running.remove(&kind).is_some()
    }

    /// Whether `kind` runs.
    pub(crate) fn running(&self, kind: K) -> bool {
        self.running.contains_key(&kind)
    }

    /// The period `kind` runs with.
    pub(crate) fn period(&self, kind: K) -> Option<Duration> {
        self.running.get(&kind).copied()
    }
}

/// What a failed connect leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    /// The controller is being removed: it is done.
    Disposing,
    /// Retrying cannot help: wait for a reload (already logged).
    Permanent,
    /// Retry, if the machine's own gate allows ([`Link::retry_delay`]).
    Transient,
}

/// The connection of one controller: its kernel device, the attempts since the last
/// success, the current retry period and the connect operation's counters.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    device: Option<String>,
    attempts: u32,
    retry_period: Duration,
    stat: OpStat,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            device: None,
            attempts: 0,
            retry_period: CONNECT_RETRY,
            stat: OpStat::default(),
        }
    }
}

impl Link {
    /// The kernel device, while connected or adopted.
    pub(crate) fn device(&self) -> Option<&str> {
        self.device.as_deref()
    }

    /// Takes the device (it went away).
    pub(crate) fn take_device(&mut self) -> Option<String> {
        self.device.take()
    }

    /// Sets or clears the device.
    pub(crate) fn set_device(&mut self, device: Option<String>) {
        self.device = device;
    }

    /// The device for log lines: `nvme?` when not connected (nvme-stas's spelling).
    pub(crate) fn dev(&self) -> &str {
        self.device.as_deref().unwrap_or("nvme?")
    }

    /// Connection attempts since the last success.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Forgets the attempts (a fresh start: the gate that stopped retrying opened).
    pub(crate) fn reset_attempts(&mut self) {
        self.attempts = 0;
    }

    /// The period of the connect retry timer, last started or next to start.
    pub(crate) fn retry_period(&self) -> Duration {
        self.retry_period
    }

    /// A connect attempt starts.
    pub(crate) fn begin(&mut self, tid: &TransportId) {
        self.attempts = self.attempts.saturating_add(1);
        self.stat.start();
        tracing::debug!(%tid, attempt = self.attempts, "connecting");
    }

    /// The connect succeeded (`adopted`: an existing kernel controller serves us).
    pub(crate) fn connected(&mut self, tid: &TransportId, device: String, adopted: bool) {
        self.stat.ok();
        self.attempts = 0;
        if adopted {
            tracing::info!(%tid, %device, "adopted existing kernel controller");
        } else {
            tracing::info!(%tid, %device, "Connection established!");
        }
        self.device = Some(device);
    }

    /// The connect failed: what now.
    pub(crate) fn failed(
        &mut self,
        tid: &TransportId,
        error: &str,
        permanent: bool,
        disposing: bool,
    ) -> ConnectFailure {
        self.stat.fail(error);
        if disposing {
            ConnectFailure::Disposing
        } else if permanent {
            tracing::error!(%tid, %error, "Failed to connect to controller; not retrying until the configuration is reloaded");
            ConnectFailure::Permanent
        } else {
            ConnectFailure::Transient
        }
    }

    /// The backoff after a transient failure: 3 s after the first attempt, 60 s after the
    /// others (no jitter, no exponential growth: nvme-stas's values). Logs the failure.
    pub(crate) fn retry_delay(&mut self, tid: &TransportId, error: &str) -> Duration {
        let delay = if self.attempts <= 1 {
            tracing::info!(%tid, %error, "Failed to connect to controller; retrying in 3 s");
            FAST_CONNECT_RETRY
        } else {
            if self.attempts == 2 {
                tracing::error!(%tid, %error, "Failed to connect to controller. Retrying every 60 s");
            } else {
                tracing::debug!(%tid, %error, attempt = self.attempts, "Failed to connect to controller");
            }
            CONNECT_RETRY
        };
        self.retry_period = delay;
        delay
    }

    /// No connect is made (the TREQ rule refused it): the connect operation shows `why`.
    pub(crate) fn refused(&mut self, why: &str) {
        self.stat.start();
        self.stat.fail(why);
    }

    /// The kernel removed the controller (its device is already taken): start over, first
    /// retry after 3 s. Returns that delay.
    pub(crate) fn after_remove(&mut self) -> Duration {
        self.attempts = 0;
        self.retry_period = RETRY_AFTER_REMOVE;
        RETRY_AFTER_REMOVE
    }

    /// The pending connect, while not connected and once one ran.
    pub(crate) fn view(
        &self,
        connecting: bool,
        alive: bool,
        retry_timer: Option<TimerView>,
    ) -> Option<OpView> {
        if self.device.is_some() {
            return None;
        }
        self.stat.view(connecting, alive, retry_timer)
    }
}

/// The connection parameters both kinds of controller send: identity, host ID, keep-alive,
/// reconnect and loss timeouts, digests and flow control, from the configuration (digests
/// and `disable-sqflow` off unless set).
#[must_use]
pub(crate) fn base_params(
    tid: &TransportId,
    host_id: &str,
    kind: CtrlKind,
    p: &CfgParams,
) -> ConnectParams {
    let mut c = ConnectParams::new(tid, host_id, kind);
    c.keep_alive_tmo = p.kato;
    c.reconnect_delay = p.reconnect_delay;
    c.ctrl_loss_tmo = p.ctrl_loss_tmo;
    c.hdr_digest = p.hdr_digest.unwrap_or(false);
    c.data_digest = p.data_digest.unwrap_or(false);
    c.disable_sqflow = p.disable_sqflow.unwrap_or(false);
    c.fast_io_fail_tmo = p.fast_io_fail_tmo;
    c.tos = p.tos;
    c.duplicate_connect = p.duplicate_connect.unwrap_or(false);
    c.tls = p.tls.unwrap_or(false);
    c.concat = p.concat.unwrap_or(false);
    c.keyring = p.keyring.map(|n| n.to_string());
    c.tls_key = p.tls_key.map(|n| n.to_string());
    c
}

/// The TREQ rule (DECISIONS.md item 22; libnvme's `nvmf_update_tls_concat`,
/// ecosystem-2026.md §7.3) for a controller the discovery log entry `dlpe` names: when the
/// entry is TCP, its TSAS names a security type and its TREQ says a secure channel is
/// required, the connection is made with `tls` (whatever the configuration says, unless it
/// says `tls=false`) or not at all. Entries whose TREQ is "not specified" or "not required"
/// change nothing: the configuration alone decides (libnvme's `concat` for "not required"
/// is not copied: it needs keys nobody configured for it).
///
/// Returns whether the connection must have `tls` (added when the configuration did not
/// set it), or why the controller must not be connected (`kernel_tls`: the kernel lists the
/// `tls` connect option).
pub(crate) fn treq_rule(
    dlpe: Option<&DlpeDict>,
    params: &CfgParams,
    kernel_tls: bool,
) -> Result<bool, String> {
    let Some(sc) = dlpe
        .and_then(SecureChannel::from_stas_dict)
        .filter(SecureChannel::requires_tls)
    else {
        return Ok(false);
    };
    let required = format!(
        "the discovery log entry requires a secure channel (TREQ required, TSAS {})",
        sc.sectype_name()
    );
    if params.tls == Some(false) {
        Err(format!(
            "{required} but the configuration sets tls=false for this controller"
        ))
    } else if !kernel_tls {
        Err(format!(
            "{required} but this kernel has no `tls` connect option"
        ))
    } else {
        Ok(true)
    }
}

/// A machine's side of the TREQ rule: the last refusal, so that it is logged once.
#[derive(Debug, Clone, Default)]
pub(crate) struct TreqGate {
    refusal: Option<String>,
}

impl TreqGate {
    /// Applies [`treq_rule`] to the connect about to be made with `params`: `Some(params)`,
    /// with `tls` added when the entry requires it, or `None` when the rule refuses the
    /// connect. A refusal is logged at warning level when it is new (or another reason than
    /// the last), at debug level when it repeats (a reload that changed nothing about it),
    /// and shown on `link`'s connect operation.
    pub(crate) fn admit(
        &mut self,
        tid: &TransportId,
        dlpe: Option<&DlpeDict>,
        cfg: &CfgParams,
        kernel_tls: bool,
        link: &mut Link,
        mut params: ConnectParams,
    ) -> Option<ConnectParams> {
        match treq_rule(dlpe, cfg, kernel_tls) {
            Ok(tls) => {
                self.refusal = None;
                if tls && !params.tls {
                    tracing::debug!(%tid, "TREQ rule: connecting with tls");
                    params.tls = true;
                }
                Some(params)
            }
            Err(why) => {
                if self.refusal.as_deref() == Some(why.as_str()) {
                    // Not the reason again: the warning said it (rig scenarios count that line).
                    tracing::debug!(%tid, "still not connecting (TREQ rule, as before)");
                } else {
                    tracing::warn!(%tid, "{why}: not connecting");
                }
                link.refused(&why);
                self.refusal = Some(why);
                None
            }
        }
    }

    /// Whether the last connect was refused by the rule.
    pub(crate) fn refused(&self) -> bool {
        self.refusal.is_some()
    }
}

/// Test help: the log lines `f` emits (no time, no ANSI), with what `f` returns.
#[cfg(test)]
pub(crate) fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let w = buf.clone();
    let sub = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .with_target(false)
            .without_time()
            .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
    );
    let r = tracing::subscriber::with_default(sub, f);
    let text =
        String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    (r, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Daemon;
    use crate::daemon::testkit::{conf, conf3, HOSTID, HOSTNQN};
    use crate::kernel::fabrics::{build_connect_string, SupportedOptions};
    use crate::kernel::BuildError;

    const KERNEL_6_1: &str = "transport=%s,traddr=%s,trsvcid=%s,nqn=%s,hostnqn=%s,hostid=%s,ctrl_loss_tmo=%d,keep_alive_tmo=%d,discovery,dhchap_secret=%s";
    const KERNEL_6_12: &str = "transport=%s,traddr=%s,trsvcid=%s,nqn=%s,hostnqn=%s,hostid=%s,ctrl_loss_tmo=%d,keep_alive_tmo=%d,keyring=%d,tls_key=%d,discovery,dhchap_secret=%s,tls";

    fn tid(traddr: &str, nqn: &str) -> TransportId {
        TransportId {
            transport: "tcp".into(),
            traddr: traddr.into(),
            trsvcid: "4420".into(),
            subsysnqn: nqn.into(),
            host_nqn: HOSTNQN.into(),
            ..TransportId::default()
        }
    }

    /// The connect string of configured controller `i` of `cfg` on a kernel with `opts`.
    fn connect_string(
        cfg: &crate::config::ServiceConfig,
        i: usize,
        opts: &str,
    ) -> Result<String, BuildError> {
        let c = &cfg.controllers[i];
        let p = c.overrides.or(&cfg.global.params);
        let t = tid(c.dict.get("traddr"), c.dict.get("subsysnqn"));
        let cp = base_params(&t, HOSTID, CtrlKind::Io, &p);
        let opts = SupportedOptions::from_reply(opts).unwrap();
        build_connect_string(&cp, &opts).map(|cs| cs.as_str().to_owned())
    }

    #[test]
    fn stas2_tls_keys_map_to_the_connect_string_only_where_the_kernel_has_them() {
        let cfg = conf(
            Daemon::Stacd,
            "[Global]\nkeyring=0x3b9aca00\n[Controllers]\n\
             controller=transport=tcp;traddr=10.0.0.1;nqn=nqn.a;tls=true;tls-key=0x1a2b\n\
             controller=transport=tcp;traddr=10.0.0.2;nqn=nqn.b;tls=true;keyring=7\n\
             controller=transport=tcp;traddr=10.0.0.3;nqn=nqn.c\n",
        );
        let a = connect_string(&cfg, 0, KERNEL_6_12).unwrap();
        assert!(a.ends_with(",keyring=1000000000,tls_key=6699,tls"), "{a}");
        let b = connect_string(&cfg, 1, KERNEL_6_12).unwrap();
        assert!(
            b.ends_with(",keyring=7,tls"),
            "the controller's keyring wins: {b}"
        );
        // [Global] keyring alone: passed on, without tls (as libnvme does).
        let c = connect_string(&cfg, 2, KERNEL_6_12).unwrap();
        assert!(c.ends_with(",keyring=1000000000"), "{c}");
        // 6.1: no TLS option, nothing silently dropped.
        for i in 0..3 {
            assert!(matches!(
                connect_string(&cfg, i, KERNEL_6_1),
                Err(BuildError::Unsupported("keyring" | "tls_key" | "tls"))
            ));
        }
        // [Global] tls=true applies to every controller; a controller's tls=false wins.
        let cfg = conf(
            Daemon::Stacd,
            "[Global]\ntls=true\n[Controllers]\n\
             controller=transport=tcp;traddr=10.0.0.1;nqn=nqn.a\n\
             controller=transport=tcp;traddr=10.0.0.2;nqn=nqn.b;tls=false\n",
        );
        assert!(connect_string(&cfg, 0, KERNEL_6_12)
            .unwrap()
            .ends_with(",tls"));
        assert!(!connect_string(&cfg, 1, KERNEL_6_12)
            .unwrap()
            .contains("tls"));
        assert_eq!(
            cfg.controllers[1].overrides.or(&cfg.global.params).tls,
            Some(false)
        );
    }

    #[test]
    fn stas3_tls_keys_map_to_the_same_connect_string() {
        let cfg = conf3(
            Daemon::Stacd,
            "[Subsystem]\nnqn = nqn.2024-01.io.example:a\ncontroller = transport=tcp;traddr=10.0.0.1;trsvcid=4420\n\
             tls = yes\ntls-key = 0x1a2b\nkeyring = 0x3b9aca00\n",
        );
        let a = connect_string(&cfg, 0, KERNEL_6_12).unwrap();
        assert!(a.ends_with(",keyring=1000000000,tls_key=6699,tls"), "{a}");
        assert!(matches!(
            connect_string(&cfg, 0, KERNEL_6_1),
            Err(BuildError::Unsupported(_))
        ));
    }

    fn entry(treq: &str, sectype: &str) -> DlpeDict {
        [
            ("trtype", "tcp".to_owned()),
            ("treq", treq.to_owned()),
            ("tsas", format!("{{'sectype': '{sectype}'}}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    #[test]
    fn treq_rule_verdicts() {
        let unset = CfgParams::default();
        let off = CfgParams {
            tls: Some(false),
            ..CfgParams::default()
        };
        let on = CfgParams {
            tls: Some(true),
            ..CfgParams::default()
        };
        let req = entry("required", "tls1.3");
        assert_eq!(treq_rule(Some(&req), &unset, true), Ok(true));
        assert_eq!(treq_rule(Some(&req), &on, true), Ok(true));
        let why = treq_rule(Some(&req), &off, true).unwrap_err();
        assert!(why.ends_with("but the configuration sets tls=false for this controller"));
        let why = treq_rule(Some(&req), &unset, false).unwrap_err();
        assert_eq!(
            why,
            "the discovery log entry requires a secure channel (TREQ required, TSAS tls1.3) \
             but this kernel has no `tls` connect option"
        );
        for e in [
            entry("required", "none"),
            entry("not required", "tls1.3"),
            entry("not specified", "tls"),
        ] {
            for p in [&unset, &off, &on] {
                assert_eq!(treq_rule(Some(&e), p, false), Ok(false), "{e:?}");
            }
        }
        assert_eq!(treq_rule(None, &off, false), Ok(false));
        let mut rdma = req.clone();
        rdma.insert("trtype".into(), "rdma".into());
        assert_eq!(treq_rule(Some(&rdma), &unset, false), Ok(false));
    }
}
