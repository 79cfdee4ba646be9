//! stasadm (placeholder until wired).
fn main() {}
