//! Per-controller sans-IO state machines and the reconcile step.
