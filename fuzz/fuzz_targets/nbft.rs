//! Fuzz target: see `libstas::proto::fuzz::nbft` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    libstas::proto::fuzz::nbft(data);
});
