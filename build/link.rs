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
    /// The distance from an op's first byte to its first data slot.
    pub slot_distance: u64,
    /// Whether the ops are Thumb code (M-profile Arm).
    pub thumb: bool,
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

/// What one target needs beyond [`FLAGS`], found by building and running
/// the test suite on it.
struct TargetFlags {
    /// Whether to build position-independent code. Everywhere but i686 this
    /// is what makes the compiler read slots PC-relatively.
    pic: bool,
    /// Compile flags.
    compile: &'static [&'static str],
    /// Flags for the compiler driver when it links the ops.
    link: &'static [&'static str],
    /// The distance from an op's first byte to its first data slot, and so
    /// the size of a code block and of a data block (`src/layout.rs`). It
    /// must be within the reach of the target's PC-relative data accesses
    /// and hold the longest op with its padding and a skip; beyond that,
    /// longer blocks mean fewer skips (one taken jump per block) and shorter
    /// ones less memory for small programs (a program with any slot needs
    /// this many bytes more than its code).
    slot_distance: u64,
}

/// The major version of the C compiler `tool` (`14.0.6` from clang, `12`
/// from GCC), where it tells it.
fn major_version(tool: &cc::Tool) -> Option<u32> {
    let out = tool.to_command().arg("-dumpversion").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.trim().split('.').next()?.parse().ok()
}

/// The flags `target` (of architecture `arch`, for the operating system
/// `os`) needs with the C compiler `tool`, or why it cannot work.
fn target_flags(target: &str, arch: &str, os: &str, tool: &cc::Tool) -> BuildResult<TargetFlags> {
    let clang = tool.is_like_clang();
    let mut flags = TargetFlags {
        pic: true,
        compile: &[],
        // clang's driver picks the host's `ld` for most cross targets (it
        // does not look for the GNU cross binutils' `<triple>-ld`); lld
        // links every target clang can compile for, except s390x.
        link: if clang { &["-fuse-ld=lld"] } else { &[] },
        // x86_64 (rip-relative, ±2 GiB), aarch64 (`-mcmodel=tiny` literal
        // loads, ±1 MiB), riscv64 (`auipc`, ±2 GiB), powerpc64 (`pld`, ±8
        // GiB), s390x (`larl`/`lgrl`, ±4 GiB), i686 (`call`/`pop` plus a
        // 32-bit distance) and armv7 (a 32-bit distance in a literal-pool
        // word) all reach far beyond this. 1 KiB blocks make the skip's
        // jump rare (one per ~100 ops on x86_64) and hold the longest op of
        // every target with its padding (the 64-bit division loop of 32-bit
        // targets: 428 bytes with i686 clang, 396 on armv7 with clang 22; at
        // most 100 elsewhere), while a program with slots needs only 1 KiB more than
        // its code.
        slot_distance: 1024,
    };
    match arch {
        // No `endbr64` landing pad at the start of every op: ops are reached
        // by falling through, never by an indirect branch except at branch
        // targets, and control-flow enforcement is not enabled for generated
        // code.
        //
        // x86_64-unknown-none is for kernels (and firmware): no red zone,
        // the 128 bytes below the stack pointer that an interrupt handler
        // running on the same stack would overwrite; and general registers
        // only, since a kernel does not save the SSE/AVX state on entry and
        // its target has no SSE. Ops compute on integers, so neither costs
        // them anything.
        "x86_64" if os == "none" => {
            flags.compile = &[
                "-fcf-protection=none",
                "-mno-red-zone",
                "-mgeneral-regs-only",
            ];
        }
        "x86_64" => flags.compile = &["-fcf-protection=none"],
        // As on x86_64; and i686 has no PC-relative data addressing, so the
        // ops are absolute code (position-independent code would call
        // `__x86.get_pc_thunk`, outside the op) and `CJ_SLOT` in
        // ops/copyjit.h finds the slots with a call to the next instruction.
        // (`-fno-pic` explicitly: Debian's GCC defaults to PIE.)
        "x86" => {
            flags.pic = false;
            flags.compile = &["-fcf-protection=none", "-fno-pic"];
        }
        // The default (small) code model reaches a slot with `adrp` + `ldr
        // :lo12:`, which depends on the op's address modulo 4 KiB; the tiny
        // model uses `adr` and PC-relative `ldr` literals instead.
        //
        // aarch64-unknown-none(-softfloat) is for kernels and firmware:
        // general registers only, since the FP/SIMD registers may be off
        // (CPACR_EL1) or left unsaved on exception entry, and the softfloat
        // target has none. Ops compute on integers, so it costs them
        // nothing.
        // clang's driver links `aarch64-unknown-none` through the host's
        // `gcc` (into an x86 lld); for `aarch64-none-elf` it runs ld.lld
        // itself (a later `--target` overrides cc's).
        "aarch64" if os == "none" => {
            flags.compile = &["-mcmodel=tiny", "-mgeneral-regs-only"];
            if clang {
                flags.link = &["-fuse-ld=lld", "--target=aarch64-none-elf"];
            }
        }
        "aarch64" => flags.compile = &["-mcmodel=tiny"],
        // GCC's default for armhf is Thumb-2. A Thumb op's tail call to
        // `__next`, which the linker cannot know to be Thumb code, gets an
        // interworking veneer outside the op, and Thumb literal loads round
        // the PC down to 4 bytes so an op at 2 mod 4 misreads its slot. ARM
        // code has neither problem.
        //
        // Armv6-M has only Thumb-1 code, in which neither GCC (12) nor
        // clang (14 to 22) makes a tail call: every op would call its
        // continuation and grow the stack.
        "arm" if target.starts_with("thumbv6m") => {
            return Err(format!(
                "{target} (Armv6-M: Cortex-M0, M0+, M1) cannot have stencils: neither GCC nor \
                 clang makes tail calls in Armv6-M code, and every op ends with one; Cortex-M3 \
                 and later are supported (thumbv7m-none-eabi, thumbv7em-none-eabihf, \
                 thumbv8m.main-none-eabihf)"
            ));
        }
        // Armv8-M Baseline is Thumb-1 too: GCC makes no tail calls there,
        // and clang (which does) calls libgcc for 64-bit shifts and
        // multiplies, outside the op.
        "arm" if target.starts_with("thumbv8m.base") => {
            return Err(format!(
                "{target} (Armv8-M Baseline: Cortex-M23) cannot have stencils: GCC makes no \
                 tail calls in Thumb-1 code and clang calls libgcc for 64-bit shifts and multiplies; \
                 Armv8-M Mainline is supported (thumbv8m.main-none-eabi, \
                 thumbv8m.main-none-eabihf)"
            ));
        }
        // Two of the four registers are passed on the stack, and clang
        // before 20 cannot make a tail call that changes a stack-passed
        // argument (LLVM's ARM backend gives up on `musttail`; fixed in
        // LLVM 20). cc names the target `arm-unknown-linux-gnueabihf`, whose
        // default CPU is older than armv7's baseline, hence `-march`;
        // `-marm` as for GCC. The M-profile targets keep Thumb, as below.
        "arm" if clang => match major_version(tool) {
            Some(major) if major >= 20 => {
                flags.compile = if m_profile(target) {
                    &[]
                } else if target.starts_with("armv7") {
                    &["-marm", "-march=armv7-a"]
                } else {
                    &["-marm"]
                };
            }
            major => {
                let version = major.map_or("an unknown version".into(), |m| format!("clang {m}"));
                let gcc = if target.contains("-none-") {
                    " (arm-none-eabi-gcc)"
                } else {
                    ""
                };
                return Err(format!(
                    "{target} stencils need GCC or clang 20 or later, and this is {version}: \
                     older clang cannot tail-call when a register passed on the stack changes \
                     (set CC_{} to e.g. clang-22, or leave it unset for GCC{gcc})",
                    target.replace('-', "_")
                ));
            }
        },
        // M-profile cores (Cortex-M: thumbv7m, thumbv7em, thumbv8m.main)
        // have no ARM mode, so their ops are Thumb code (cc's `-mthumb` and
        // `-march`). There the linker knows every branch stays in Thumb
        // state, so the tail call needs no veneer; build/extract.rs clears
        // the Thumb bit of function symbols and keeps every op a multiple
        // of 4 bytes long, so that ops stay 4-aligned for their literal
        // loads; the emitter and `Executable::call` set the bit in code
        // addresses.
        "arm" if m_profile(target) => {}
        "arm" => flags.compile = &["-marm"],
        // Before Power10 there is no PC-relative load: code reaches data
        // through the TOC pointer (`r2`, set up from `.TOC.`), an absolute
        // address. Power10's prefixed `pld` reads a slot PC-relatively.
        // GCC also appends a traceback table after each function, between
        // the op and its slots.
        "powerpc64" if clang => flags.compile = &["-mcpu=power10", "-mpcrel"],
        "powerpc64" => flags.compile = &["-mcpu=power10", "-mpcrel", "-mtraceback=no"],
        // lld has no SystemZ support: clang's objects are linked by the GNU
        // cross linker (Debian's name for it).
        "s390x" if clang => flags.link = &["--ld-path=s390x-linux-gnu-ld"],
        _ => {}
    }
    Ok(flags)
}

/// The variable that names the C compiler for `target`, as cc reads it.
fn cc_variable(target: &str) -> String {
    format!("CC_{}", target.replace(['-', '.'], "_"))
}

/// Whether the user named a C compiler for `target` (the variables cc
/// reads before its own choice). Cargo reruns the build when one changes:
/// cc does not say so itself for a compiler it is given.
fn compiler_set(target: &str) -> bool {
    let variables = [
        format!("CC_{target}"),
        cc_variable(target),
        "TARGET_CC".into(),
        "CC".into(),
        "CROSS_COMPILE".into(),
    ];
    for v in &variables {
        println!("cargo:rerun-if-env-changed={v}");
    }
    variables
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()))
}

/// Compilers for targets cc knows no compiler for (it would take the
/// host's `cc`), the first one found on `PATH` is used: the bare-metal GCC,
/// the Linux cross GCC (the ops are freestanding, so its C library does not
/// matter) or clang, which cc gives the target with `--target`.
fn fallback_compilers(target: &str) -> &'static [&'static str] {
    if target.starts_with("aarch64-unknown-none") {
        &["aarch64-none-elf-gcc", "aarch64-linux-gnu-gcc", "clang"]
    } else {
        &[]
    }
}

/// The first of `names` found on `PATH`.
fn find_on_path(names: &[&'static str]) -> Option<&'static str> {
    let path = std::env::var_os("PATH")?;
    names
        .iter()
        .find(|name| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .copied()
}

/// The machine a compiler's `-dumpmachine` names must start with one of
/// these for `arch` (a 64-bit RISC-V or x86 GCC also builds 32-bit code).
fn machine_prefixes(arch: &str) -> &'static [&'static str] {
    match arch {
        "x86_64" => &["x86_64"],
        "x86" => &["i386", "i486", "i586", "i686", "x86_64"],
        "aarch64" => &["aarch64"],
        "arm" => &["arm", "thumb"],
        "riscv64" => &["riscv64"],
        "riscv32" => &["riscv32", "riscv64"],
        "powerpc64" => &["powerpc64"],
        "s390x" => &["s390x"],
        _ => &[],
    }
}

/// Picks the C compiler for the stencils: the user's (`CC_<target>` and the
/// other variables cc reads), cc's choice, or for a target cc knows no
/// compiler for, one of [`fallback_compilers`]. Checks that it exists and
/// builds for `arch`, so that a wrong compiler fails with one line saying
/// what to install or set rather than with its own messages.
fn choose_compiler(build: &mut cc::Build, target: &str, arch: &str) -> BuildResult<cc::Tool> {
    let variable = cc_variable(target);
    let fallbacks = fallback_compilers(target);
    if !fallbacks.is_empty() {
        // Which compiler is found depends on it.
        println!("cargo:rerun-if-env-changed=PATH");
    }
    if !compiler_set(target) && !fallbacks.is_empty() {
        let Some(found) = find_on_path(fallbacks) else {
            return Err(format!(
                "no C compiler for {target}: install one of {} (Debian: gcc-aarch64-linux-gnu \
                 or clang), or set {variable}",
                fallbacks.join(", ")
            ));
        };
        build.compiler(found);
    }
    let tool = build
        .try_get_compiler()
        .map_err(|e| format!("no C compiler for {target} ({e}): install one or set {variable}"))?;
    let output = tool.to_command().arg("-dumpmachine").output();
    let machine = match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            return Err(format!(
                "the C compiler {} for {target} does not run: install it or set {variable} to \
                 a C compiler for {target}",
                tool.path().display()
            ));
        }
    };
    let prefixes = machine_prefixes(arch);
    if !prefixes.is_empty() && !prefixes.iter().any(|p| machine.starts_with(p)) {
        return Err(format!(
            "the C compiler {} builds for {machine}, not for {target}: set {variable} to a \
             C compiler for {arch} (a cross GCC, or clang)",
            tool.path().display()
        ));
    }
    Ok(tool)
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
        .warnings(false);
    let compiler = choose_compiler(&mut build, &target, &arch)?;
    let family = if compiler.is_like_clang() {
        "clang"
    } else {
        "gcc"
    };
    let os = env("CARGO_CFG_TARGET_OS")?;
    let flags = target_flags(&target, &arch, &os, &compiler)?;
    build.pic(flags.pic);
    for flag in FLAGS.iter().chain(flags.compile) {
        build.flag(flag);
    }
    if family == "gcc" {
        for flag in GCC_FLAGS {
            build.flag(flag);
        }
    }
    let objects = build.try_compile_intermediates().map_err(|e| {
        format!(
            "{} could not compile the ops for {target} (set {} to a C compiler for \
             {target}, or see the README's architecture table): {e}",
            compiler.path().display(),
            cc_variable(&target)
        )
    })?;
    let [object] = objects.as_slice() else {
        return Err(format!(
            "expected one object file, the compiler made {}",
            objects.len()
        ));
    };
    let linked = link(out_dir, &compiler, &flags, object, ops, BASE)?;
    let shifted = link(out_dir, &compiler, &flags, object, ops, SHIFTED_BASE)?;
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let thumb = arch == "arm" && m_profile(&target);
    Ok(Built {
        object: read(object)?,
        linked: read(&linked)?,
        shifted: read(&shifted)?,
        compiler: family,
        target,
        arch,
        slot_distance: flags.slot_distance,
        thumb,
    })
}

/// The linker script for every op, at `base`, with slots `distance` bytes
/// from their op. The shifted link also lists the ops in reverse, so that an
/// op whose bytes depend on a neighbour (a reference past its own end)
/// changes too.
fn script(ops: &[OpSpec], base: u64, distance: u64) -> BuildResult<String> {
    let dir = Path::new(&env("CARGO_MANIFEST_DIR")?).join("linker");
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f)).map_err(|e| format!("reading linker/{f}: {e}"))
    };
    let (outer, per_op, per_slot) = (read("stencils.ld")?, read("op.ld")?, read("slot.ld")?);
    let mut body = String::new();
    let order: Vec<&OpSpec> = if base == BASE {
        ops.iter().collect()
    } else {
        ops.iter().rev().collect()
    };
    for op in order {
        let slots: String = (0..op.slots)
            .map(|k| {
                per_slot
                    .replace("@OP@", &op.name)
                    .replace("@K@", &k.to_string())
                    .replace("@DISTANCE@", &distance.to_string())
            })
            .collect();
        let next_gap = if op.skip { distance } else { 0 };
        let _ = write!(
            body,
            "{}",
            per_op
                .replace("@SLOTS@", &slots)
                .replace("@OP@", &op.name)
                .replace("@NEXT_GAP@", &next_gap.to_string())
                .replace("@GAP@", &(distance + 64).to_string())
        );
    }
    Ok(outer
        .replace("@DISTANCE@", &distance.to_string())
        .replace("@BASE@", &format!("{base:#x}"))
        .replace("@ENTRY@", &ops[0].name)
        .replace("@OPS@", &body))
}

/// Links `object` at `base` with the compiler driver, which knows the
/// target's linker.
fn link(
    out_dir: &Path,
    compiler: &cc::Tool,
    flags: &TargetFlags,
    object: &Path,
    ops: &[OpSpec],
    base: u64,
) -> BuildResult<PathBuf> {
    let script_path = out_dir.join(format!("stencils-{base:x}.ld"));
    std::fs::write(&script_path, script(ops, base, flags.slot_distance)?)
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
    .args(flags.link)
    .arg(format!("-Wl,-T,{}", script_path.display()))
    .arg("-o")
    .arg(&output)
    .arg(object);
    let result = cmd
        .output()
        .map_err(|e| format!("running the linker ({}): {e}", command_line(&cmd)))?;
    if !result.status.success() {
        // An op that reaches outside itself (a call to a function defined
        // nowhere) fails the link: name it, as the checks after the link do.
        let compiled =
            std::fs::read(object).map_err(|e| format!("reading {}: {e}", object.display()))?;
        crate::extract::check_object(&compiled, ops)?;
        return Err(format!(
            "linking the ops failed ({}):\n{}",
            command_line(&cmd),
            String::from_utf8_lossy(&result.stderr).trim_end()
        ));
    }
    Ok(output)
}

/// The program and its arguments, without the environment `Debug` prints.
fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `target` is an M-profile Arm target (Cortex-M), which runs only
/// Thumb code.
pub fn m_profile(target: &str) -> bool {
    ["thumbv6m", "thumbv7m", "thumbv7em", "thumbv8m"]
        .iter()
        .any(|p| target.starts_with(p))
}
