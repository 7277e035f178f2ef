//! Builds the stencil table: compiles every op form in `ops/` with the
//! target's C compiler, links them all at once with a generated script from
//! `linker/`, proves each op self-contained and writes the bytes as Rust.
//!
//! Any op that cannot be proven safe to copy fails the build with one line
//! naming the op and the reason.

#[allow(dead_code, reason = "shared with the crate, which uses more of it")]
#[path = "src/isa.rs"]
mod isa;
#[allow(dead_code, reason = "shared with the crate, which uses more of it")]
#[path = "src/layout.rs"]
mod layout;
#[allow(dead_code, reason = "shared with the crate, which uses more of it")]
#[path = "src/variant.rs"]
mod variant;

#[path = "build/cgen.rs"]
mod cgen;
#[path = "build/extract.rs"]
mod extract;
#[path = "build/link.rs"]
mod link;
#[path = "build/rustgen.rs"]
mod rustgen;

use std::path::PathBuf;
use std::process::ExitCode;

/// A build failure, already phrased for the user.
pub type BuildResult<T> = Result<T, String>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: copyjit stencils: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> BuildResult<()> {
    for input in [
        "build.rs",
        "build",
        "ops",
        "linker",
        "src/isa.rs",
        "src/variant.rs",
        "src/layout.rs",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }
    println!("cargo:rerun-if-env-changed={}", cgen::EXTRA_OP_ENV);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let ops = cgen::op_list(&cgen::table()?)?;
    let source = cgen::write_source(&out_dir, &ops)?;
    let built = link::compile_and_link(&out_dir, &source, &ops)?;
    let table = extract::stencils(&built, &ops)?;
    rustgen::write(&out_dir.join("stencils.rs"), &table)
}
