//! Writes `memory.x` for the QEMU machine the target runs on, for
//! cortex-m-rt's `link.x`.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    // mps2-an505 (Cortex-M33) starts in the Secure state with its vector
    // table at 0x1000_0000, the Secure alias of its code SRAM; its data
    // SRAMs are at 0x3800_0000 (Secure), where Secure code may also run.
    // mps2-an385 (Cortex-M3) and mps2-an386 (Cortex-M4) start at 0.
    let (flash, ram) = if target.starts_with("thumbv8m") {
        ("0x10000000", "0x38000000")
    } else {
        ("0x00000000", "0x20000000")
    };
    let memory = include_str!("memory.x.in")
        .replace("@FLASH@", flash)
        .replace("@RAM@", ram);
    std::fs::write(out.join("memory.x"), memory).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x.in");
    println!("cargo:rerun-if-changed=build.rs");
}
