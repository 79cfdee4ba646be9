//! Discovery-controller logic without I/O: the per-controller state machine ([`dc`]), the
//! reconcile step ([`mod@reconcile`]), the leading-edge debouncer that paces it ([`debounce`]),
//! and nvme-stas's timer values ([`timers`]).
//!
//! Everything here is pure: events in, actions out; the caller owns the clock, the kernel
//! and the channels (the stafd core actor in [`crate::daemon`]). That keeps every timing
//! rule testable without a kernel and without waiting.

pub mod dc;
pub mod debounce;
pub mod reconcile;
pub mod timers;

pub use dc::{Action, Dc, DcSettings, Event, RegisterFailure, TimerKind, Token};
pub use debounce::{Debouncer, Trigger};
pub use reconcile::{reconcile, Candidate, Current, DropReason, Inputs, Plan};
