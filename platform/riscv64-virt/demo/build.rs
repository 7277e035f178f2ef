//! Writes `memory.x` for the boot mode and links the image with riscv-rt's
//! `link.x`.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let origin = if std::env::var_os("CARGO_FEATURE_SMODE").is_some() {
        "0x80200000"
    } else {
        "0x80000000"
    };
    let memory = include_str!("memory.x.in").replace("@ORIGIN@", origin);
    std::fs::write(out.join("memory.x"), memory).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    // memory.x defines the regions link.x places sections in, so it comes first.
    println!("cargo:rustc-link-arg-bins=-Tmemory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x.in");
}
