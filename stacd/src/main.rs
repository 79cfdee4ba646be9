//! stacd (placeholder until wired).
fn main() {}
