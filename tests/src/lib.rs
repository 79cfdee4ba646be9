//! System tests for the stas workspace live in `tests/tests/`; this crate has no library code.
