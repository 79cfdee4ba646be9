#!/bin/sh
# Called by meson: cargo build --release, then copy the named binaries into meson's build
# directory. Usage: cargo-build-for-meson.sh CARGO SOURCE_ROOT BUILD_DIR OUTPUT...
# An OUTPUT named NAME.tool is the binary NAME (a build-time tool, such as stas-doc, whose
# name is also that of a directory of the build tree).
set -eu
cargo=$1 src=$2 build=$3
shift 3
target=${CARGO_TARGET_DIR:-$src/target}
"$cargo" build --release --bins --manifest-path "$src/Cargo.toml" --target-dir "$target"
for out in "$@"; do
    cp "$target/release/$(basename "$out" .tool)" "$out"
done
