//! Fuzz target: see `libstas::proto::fuzz::uevent` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    libstas::proto::fuzz::uevent(data);
});
