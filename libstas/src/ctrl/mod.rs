//! Controller logic without I/O: the discovery-controller state machine ([`dc`]) and
//! stafd's reconcile step, with the rules stacd's shares ([`mod@reconcile`]); the
//! I/O-controller state machine ([`ioc`]) and stacd's reconcile step with its disconnect
//! policy and audit ([`stac_reconcile`]); the connect side both state machines share
//! (tokens, backoff, connect outcome: [`connect`]); the leading-edge debouncer that paces
//! both daemons' passes ([`debounce`]); stafd's mDNS browser state ([`zeroconf`]); and
//! nvme-stas's timer values ([`timers`]).
//!
//! Everything here is pure: events in, actions out; the caller owns the clock, the kernel
//! and the channels (the core actors in [`crate::daemon`]). That keeps every timing rule
//! testable without a kernel and without waiting.

pub mod connect;
pub mod dc;
pub mod debounce;
pub mod ioc;
pub mod reconcile;
pub mod stac_reconcile;
pub mod timers;
pub mod zeroconf;

pub use dc::{Action, Dc, DcSettings, Event, RegisterFailure, TimerKind, Token};
pub use debounce::{Debouncer, Trigger};
pub use reconcile::{reconcile, Candidate, Current, DropReason, Inputs, Plan};
