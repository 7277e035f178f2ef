//! Compiles the ops with the target's C compiler (through `cc`) and links
//! them with the system linker, twice, at two base addresses.

use crate::BuildResult;
use crate::cgen::OpSpec;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The first link's base address: never 0 (see `linker/stencils.ld`).
pub const BASE: u64 = 0x10000;
/// The second link's base, shifted by an amount no alignment hides.
pub const SHIFTED_BASE: u64 = BASE + 0x12_3458;

/// What the compiler and linker produced.
pub struct Built {
    /// The relocatable object holding every op.
    pub object: Vec<u8>,
    /// The ops linked at [`BASE`].
    pub linked: Vec<u8>,
    /// The ops linked at [`SHIFTED_BASE`].
    pub shifted: Vec<u8>,
    /// `"gcc"` or `"clang"`.
    pub compiler: &'static str,
    /// The target triple.
    pub target: String,
    /// The target architecture (`CARGO_CFG_TARGET_ARCH`).
    pub arch: String,
}

/// Flags for every stencil, each with the reason it is there.
const FLAGS: &[&str] = &[
    // Tail calls must become jumps even in a debug build of the crate.
    "-foptimize-sibling-calls",
    // No libc: stencils call nothing but their continuation and host pointers.
    "-ffreestanding",
    // No .eh_frame: unwind tables would be sections outside the ops.
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    // No canary: it reads __stack_chk_guard, outside the op.
    "-fno-stack-protector",
    // A switch must not become a jump table in .rodata.
    "-fno-jump-tables",
    // Common symbols would land outside the ops.
    "-fno-common",
    // Frame setup would stand between the op's work and its tail jump.
    "-fomit-frame-pointer",
];

/// Flags only GCC takes.
const GCC_FLAGS: &[&str] = &[
    // Keep the tail jump the op's last instruction, where it can be stripped.
    "-fno-schedule-insns",
    "-fno-schedule-insns2",
    // No padding inside ops to align jump targets: it only makes ops longer,
    // and ops land at arbitrary addresses anyway.
    "-falign-jumps=1",
    "-falign-labels=1",
    "-falign-loops=1",
];

/// Flags per target architecture.
fn arch_flags(arch: &str) -> &'static [&'static str] {
    match arch {
        // No `endbr64`/`endbr32` landing pad at the start of every op: ops
        // are reached by falling through, never by an indirect branch except
        // at branch targets, and control-flow enforcement is not enabled for
        // generated code.
        "x86_64" | "x86" => &["-fcf-protection=none"],
        _ => &[],
    }
}

fn env(name: &str) -> BuildResult<String> {
    std::env::var(name).map_err(|e| format!("{name}: {e}"))
}

/// Compiles `source` and links the ops twice.
pub fn compile_and_link(out_dir: &Path, source: &Path, ops: &[OpSpec]) -> BuildResult<Built> {
    let target = env("TARGET")?;
    let arch = env("CARGO_CFG_TARGET_ARCH")?;
    let mut build = cc::Build::new();
    build
        .file(source)
        .include(Path::new(&env("CARGO_MANIFEST_DIR")?).join("ops"))
        // Without optimisation the continuations stay real calls.
        .opt_level(2)
        // Debug sections would only slow the build down.
        .debug(false)
        // Position-independent code reads the slots PC-relatively.
        .pic(true)
        .warnings(false);
    let compiler = build.get_compiler();
    let family = if compiler.is_like_clang() {
        "clang"
    } else {
        "gcc"
    };
    for flag in FLAGS.iter().chain(arch_flags(&arch)) {
        build.flag(flag);
    }
    if family == "gcc" {
        for flag in GCC_FLAGS {
            build.flag(flag);
        }
    }
    let objects = build
        .try_compile_intermediates()
        .map_err(|e| format!("compiling the ops: {e}"))?;
    let [object] = objects.as_slice() else {
        return Err(format!(
            "expected one object file, the compiler made {}",
            objects.len()
        ));
    };
    let linked = link(out_dir, &compiler, object, ops, BASE)?;
    let shifted = link(out_dir, &compiler, object, ops, SHIFTED_BASE)?;
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    Ok(Built {
        object: read(object)?,
        linked: read(&linked)?,
        shifted: read(&shifted)?,
        compiler: family,
        target,
        arch,
    })
}

/// The linker script for every op, at `base`.
fn script(ops: &[OpSpec], base: u64) -> BuildResult<String> {
    let dir = Path::new(&env("CARGO_MANIFEST_DIR")?).join("linker");
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f)).map_err(|e| format!("reading linker/{f}: {e}"))
    };
    let (outer, per_op, per_slot) = (read("stencils.ld")?, read("op.ld")?, read("slot.ld")?);
    let mut body = String::new();
    for op in ops {
        let slots: String = (0..op.slots)
            .map(|k| {
                per_slot
                    .replace("@OP@", &op.name)
                    .replace("@K@", &k.to_string())
            })
            .collect();
        let _ = write!(
            body,
            "{}",
            per_op.replace("@SLOTS@", &slots).replace("@OP@", &op.name)
        );
    }
    Ok(outer
        .replace("@BASE@", &format!("{base:#x}"))
        .replace("@ENTRY@", &ops[0].name)
        .replace("@OPS@", &body))
}

/// Links `object` at `base` with the compiler driver, which knows the
/// target's linker.
fn link(
    out_dir: &Path,
    compiler: &cc::Tool,
    object: &Path,
    ops: &[OpSpec],
    base: u64,
) -> BuildResult<PathBuf> {
    let script_path = out_dir.join(format!("stencils-{base:x}.ld"));
    std::fs::write(&script_path, script(ops, base)?)
        .map_err(|e| format!("writing the linker script: {e}"))?;
    let output = out_dir.join(format!("stencils-{base:x}.elf"));
    let mut cmd: Command = compiler.to_command();
    cmd.args([
        "-nostdlib",
        "-nostartfiles",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
    ])
    .arg(format!("-Wl,-T,{}", script_path.display()))
    .arg("-o")
    .arg(&output)
    .arg(object);
    let result = cmd
        .output()
        .map_err(|e| format!("running the linker {cmd:?}: {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "linking the ops failed ({cmd:?}):\n{}",
            String::from_utf8_lossy(&result.stderr).trim_end()
        ));
    }
    Ok(output)
}
