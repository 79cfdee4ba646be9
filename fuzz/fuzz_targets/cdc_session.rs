//! Fuzz target: see `stas_cdc::fuzz::session` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stas_cdc::fuzz::session(data);
});
