//! stafd (placeholder until wired).
fn main() {}
