//! copyjit side by side with Cranelift, `memcpy`, a native Rust loop and
//! copyjit's interpreter, on the same programs (`benches/programs`), in one
//! run, printed as a Markdown table.
//!
//! `cargo run --release -p copyjit-vs-cranelift`
//!
//! Times are the thread's CPU time, so waiting for a core while other work
//! runs is not counted, and every figure is the fastest of repeated
//! measurements; before timing, the programs run once in each form and
//! must agree with the interpreter.

#[path = "../../programs/mod.rs"]
mod programs;
mod translate;

use copyjit::{Assembler, Insn, Interpreter};
use copyjit_linux::{CodeMemory, Linux};
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{AbiParam, UserFuncName};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use std::hint::black_box;
use std::time::Duration;

/// A point on this thread's CPU clock (user and system time).
#[derive(Clone, Copy)]
struct Instant(Duration);

impl Instant {
    fn now() -> Self {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec to write; the clock exists on Linux.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        assert_eq!(rc, 0, "clock_gettime");
        Instant(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
    }

    fn elapsed(self) -> Duration {
        Instant::now().0.saturating_sub(self.0)
    }
}

type Entry = unsafe extern "C" fn(u64, u64, u64, u64) -> u64;

/// Iterations of the billion-sum's loop.
const BILLION: u64 = 1_000_000_000;
/// The interpreter runs a tenth of them, which takes long enough.
const INTERPRETED: u64 = BILLION / 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let load_before = load();
    let speed = Cranelift::new("speed")?;
    let none = Cranelift::new("none")?;

    let mut rows = Vec::new();
    for len in [100, 100_000] {
        let program = programs::straight_line(len, programs::SEED);
        check_straight_line(&program, &speed)?;
        rows.push(compile_row(
            &format!("straight-line, {} ops", group(len as f64, 0)),
            &program,
            len,
            &speed,
            &none,
        )?);
    }
    let program = programs::repeated(100, 1000, programs::SEED);
    check_straight_line(&program, &speed)?;
    rows.push(compile_row(
        "the 100 ops repeated 1,000 times",
        &program,
        program.len(),
        &speed,
        &none,
    )?);
    let sum = programs::sum_loop(BILLION);
    rows.push(compile_row(
        "billion-sum (9 instructions)",
        &sum,
        sum.len(),
        &speed,
        &none,
    )?);
    let latency = sum_latency(&sum, &speed)?;
    let runs = run_sum(&sum, &speed)?;
    let chains = run_chains()?;

    print_tables(&rows, &latency, &runs);
    print_chains(&chains);
    println!();
    println!(
        "Load average (1 min) before and after the run: {load_before}, {}. \
         Times are this thread's CPU time, each the fastest of its repetitions.",
        load()
    );
    println!(
        "Commands: `cargo run --release -p copyjit-vs-cranelift` (this table), \
         `cargo bench` (criterion: `benches/emit.rs`, `benches/run.rs`)."
    );
    Ok(())
}

/// Cranelift set up for the host, as `cranelift-jit` recommends.
struct Cranelift {
    isa: OwnedTargetIsa,
}

/// A function compiled by Cranelift; its module keeps the code alive.
struct Compiled {
    module: JITModule,
    entry: Entry,
    bytes: usize,
}

impl Compiled {
    fn free(self) {
        // SAFETY: `entry` is not called after this.
        unsafe { self.module.free_memory() };
    }
}

impl Cranelift {
    fn new(opt_level: &'static str) -> Result<Self, Box<dyn std::error::Error>> {
        let mut flags = settings::builder();
        flags.set("use_colocated_libcalls", "false")?;
        flags.set("is_pic", "false")?;
        flags.set("opt_level", opt_level)?;
        let isa = cranelift_native::builder()?.finish(settings::Flags::new(flags))?;
        Ok(Cranelift { isa })
    }

    /// Translates, compiles and (when `finalize`) makes `program`
    /// executable in a fresh module, as a JIT compiling one function would.
    fn compile(&self, program: &[Insn], finalize: bool) -> Result<Compiled, String> {
        let mut module = JITModule::new(JITBuilder::with_isa(
            self.isa.clone(),
            default_libcall_names(),
        ));
        let mut ctx = module.make_context();
        for _ in 0..4 {
            ctx.func.signature.params.push(AbiParam::new(I64));
        }
        ctx.func.signature.returns.push(AbiParam::new(I64));
        let id = module
            .declare_function("program", Linkage::Local, &ctx.func.signature)
            .map_err(|e| e.to_string())?;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        translate::translate(program, &mut b)?;
        b.finalize(module.target_config());
        module
            .define_function(id, &mut ctx)
            .map_err(|e| format!("{e:?}"))?;
        let bytes = ctx
            .compiled_code()
            .map_or(0, |c| c.code_info().total_size as usize);
        let mut entry: Entry = unreachable_entry;
        if finalize {
            module.finalize_definitions().map_err(|e| e.to_string())?;
            // SAFETY: the finalized function has the signature declared above.
            entry = unsafe {
                std::mem::transmute::<*const u8, Entry>(module.get_finalized_function(id))
            };
        }
        Ok(Compiled {
            module,
            entry,
            bytes,
        })
    }
}

extern "C" fn unreachable_entry(_: u64, _: u64, _: u64, _: u64) -> u64 {
    unreachable!("the function was not finalized")
}

/// Emits `program` into `buf`; returns the code's length.
fn emit(program: &[Insn], buf: &mut [u8]) -> Result<usize, copyjit::Error> {
    let mut asm: Assembler = Assembler::new(buf);
    asm.emit_all(program)?;
    Ok(asm.finish()?.bytes().len())
}

/// Bytes of machine code copyjit emits for `program`, without its data
/// blocks (and without the final return).
fn code_len(program: &[Insn], buf: &mut [u8]) -> Result<usize, copyjit::Error> {
    let mut asm: Assembler = Assembler::new(buf);
    asm.emit_all(program)?;
    Ok(asm.code_len())
}

/// Runs a straight-line program with copyjit, Cranelift and the interpreter
/// on the same scratch memory contents; all three must agree.
fn check_straight_line(program: &[Insn], cl: &Cranelift) -> Result<(), Box<dyn std::error::Error>> {
    let mut memory = CodeMemory::new(64 * program.len() + 4096)?;
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit_all(program)?;
    let code = asm.finish()?.make_executable(&Linux)?;
    let compiled = cl.compile(program, true)?;
    let interpreter: Interpreter = Interpreter::new(program)?;

    let mut results = Vec::new();
    for way in 0..3 {
        let mut scratch = programs::Scratch::default();
        let args = scratch.args();
        // SAFETY: straight-line programs only touch the scratch buffer that
        // R3 points at.
        let r0 = unsafe {
            match way {
                0 => code.call(args),
                1 => (compiled.entry)(args[0], args[1], args[2], args[3]),
                _ => interpreter.run(args)?,
            }
        };
        results.push((r0, scratch.0));
    }
    compiled.free();
    if results[0] != results[2] || results[1] != results[2] {
        return Err(format!(
            "straight-line ({} ops): copyjit {:#x}, Cranelift {:#x}, interpreter {:#x}",
            program.len(),
            results[0].0,
            results[1].0,
            results[2].0
        )
        .into());
    }
    Ok(())
}

/// Nanoseconds per call of `f`: the fastest of batches of calls that each
/// take at least a millisecond, over about `budget`.
fn time<R>(budget: Duration, mut f: impl FnMut() -> R) -> f64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        if start.elapsed() >= Duration::from_millis(1) {
            break;
        }
        batch *= 2;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || (start.elapsed() < budget && samples.len() < 1000) {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        samples.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    fastest(samples)
}

/// Nanoseconds of `f`, the fastest call of those measured one by one, for
/// calls long enough that the clock's resolution does not matter; `after`
/// (untimed) cleans up.
fn time_each<R>(budget: Duration, mut f: impl FnMut() -> R, mut after: impl FnMut(R)) -> f64 {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 3 || (start.elapsed() < budget && samples.len() < 1000) {
        let t = Instant::now();
        let r = black_box(f());
        samples.push(t.elapsed().as_nanos() as f64);
        after(r);
    }
    fastest(samples)
}

fn fastest(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

struct CompileRow {
    name: String,
    ops: usize,
    copyjit_ns: f64,
    copyjit_bytes: usize,
    copyjit_span: usize,
    memcpy_ns: f64,
    speed_ns: f64,
    speed_bytes: usize,
    none_ns: f64,
}

/// Emit time of `program` with copyjit (into a ready buffer), a copy of
/// as many bytes, and Cranelift's compile time to machine code in memory,
/// not yet executable, at both optimization levels.
fn compile_row(
    name: &str,
    program: &[Insn],
    ops: usize,
    speed: &Cranelift,
    none: &Cranelift,
) -> Result<CompileRow, Box<dyn std::error::Error>> {
    let mut buf = vec![0u8; 64 * program.len() + 4096];
    let span = emit(program, &mut buf)?;
    let bytes = code_len(program, &mut buf)?;
    let source = buf.clone();
    let mut copy = vec![0u8; buf.len()];
    let budget = Duration::from_secs(2);
    let copyjit_ns = time(budget, || emit(black_box(program), &mut buf));
    let memcpy_ns = time(budget, || {
        black_box(&mut copy[..bytes]).copy_from_slice(black_box(&source[..bytes]))
    });
    let speed_bytes = speed.compile(program, false)?.bytes;
    let speed_ns = time_each(
        budget,
        || speed.compile(program, false),
        |c| {
            c.map(Compiled::free).ok();
        },
    );
    let none_ns = time_each(
        budget,
        || none.compile(program, false),
        |c| {
            c.map(Compiled::free).ok();
        },
    );
    Ok(CompileRow {
        name: name.to_owned(),
        ops,
        copyjit_ns,
        copyjit_bytes: bytes,
        copyjit_span: span,
        memcpy_ns,
        speed_ns,
        speed_bytes,
        none_ns,
    })
}

struct Latency {
    copyjit_emit: f64,
    copyjit_exec: f64,
    cranelift_emit: f64,
    cranelift_exec: f64,
}

/// The billion-sum from instructions to callable code: copyjit's emit into
/// mapped memory, then flush and `mprotect` (and back on drop); Cranelift's
/// compile, then `finalize_definitions`.
fn sum_latency(sum: &[Insn], cl: &Cranelift) -> Result<Latency, Box<dyn std::error::Error>> {
    let budget = Duration::from_secs(2);
    let mut memory = CodeMemory::new(4096)?;
    let copyjit_emit = time(budget, || emit(black_box(sum), memory.as_mut_slice()));
    let copyjit_exec = time(budget, || {
        let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
        asm.emit_all(black_box(sum)).expect("emit");
        let code = asm.finish().expect("finish");
        code.make_executable(&Linux).map(|_| ()).expect("mprotect")
    });
    let free = |c: Result<Compiled, String>| {
        c.map(Compiled::free).ok();
    };
    let cranelift_emit = time_each(budget, || cl.compile(sum, false), free);
    let cranelift_exec = time_each(budget, || cl.compile(sum, true), free);
    Ok(Latency {
        copyjit_emit,
        copyjit_exec,
        cranelift_emit,
        cranelift_exec,
    })
}

struct Runs {
    native: f64,
    copyjit: f64,
    cranelift: f64,
    interpreter: f64,
}

/// The billion-sum run to the end (the interpreter a tenth of it), the
/// fastest of five runs each; nanoseconds per loop iteration.
fn run_sum(sum: &[Insn], cl: &Cranelift) -> Result<Runs, Box<dyn std::error::Error>> {
    let expected = programs::sum_expected(BILLION);
    let mut memory = CodeMemory::new(4096)?;
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit_all(sum)?;
    let code = asm.finish()?.make_executable(&Linux)?;
    let compiled = cl.compile(sum, true)?;
    let short = programs::sum_loop(INTERPRETED);
    let interpreter: Interpreter = Interpreter::new(&short)?;

    let per_iter = |n: u64, f: &mut dyn FnMut() -> u64, want: u64| {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let got = f();
            samples.push(t.elapsed().as_nanos() as f64 / n as f64);
            assert_eq!(got, want, "wrong sum");
        }
        fastest(samples)
    };
    let native = per_iter(
        BILLION,
        &mut || programs::native_sum(black_box(BILLION)),
        expected,
    );
    // SAFETY: the program touches no memory and calls nothing.
    let copyjit = per_iter(
        BILLION,
        &mut || unsafe { code.call(black_box([0; 4])) },
        expected,
    );
    let cranelift = per_iter(
        BILLION,
        // SAFETY: as above, compiled from the same program.
        &mut || unsafe { (compiled.entry)(0, 0, 0, black_box(0)) },
        expected,
    );
    let interpreter = per_iter(
        INTERPRETED,
        // SAFETY: as above.
        &mut || unsafe { interpreter.run(black_box([0; 4])).expect("run") },
        programs::sum_expected(INTERPRETED),
    );
    compiled.free();
    Ok(Runs {
        native,
        copyjit,
        cranelift,
        interpreter,
    })
}

/// One chain length: nanoseconds per op of the register chain and of the
/// immediate chain, and the bytes each spans (code and data blocks).
struct Chain {
    n: usize,
    reg_ns: f64,
    imm_ns: f64,
    reg_bytes: usize,
    imm_bytes: usize,
}

/// The straight-line chains of `programs::chain`, each run as copyjit code;
/// the fastest batch of calls, per op.
fn run_chains() -> Result<Vec<Chain>, Box<dyn std::error::Error>> {
    let mut memory = CodeMemory::new(1 << 20)?;
    let mut chains = Vec::new();
    for n in programs::CHAIN_LENGTHS {
        let mut per_op = [(0.0, 0); 2];
        for (imm, out) in [false, true].into_iter().zip(&mut per_op) {
            let program = programs::chain(n, imm);
            let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
            asm.emit_all(&program)?;
            let code = asm.finish()?;
            let bytes = code.bytes().len();
            let code = code.make_executable(&Linux)?;
            // SAFETY: the chain touches no memory and calls nothing.
            let run = || unsafe { code.call(black_box([0, 1, 0, 0])) };
            assert_eq!(run(), n as u64, "wrong chain result");
            *out = (time(Duration::from_secs(1), run) / n as f64, bytes);
        }
        let [(reg_ns, reg_bytes), (imm_ns, imm_bytes)] = per_op;
        chains.push(Chain {
            n,
            reg_ns,
            imm_ns,
            reg_bytes,
            imm_bytes,
        });
    }
    Ok(chains)
}

fn print_chains(chains: &[Chain]) {
    println!();
    println!(
        "Straight-line chains of N additions, run as copyjit code: `add r0, r0, imm` reads \
         its immediate from a data slot, `add r0, r0, r1` has none. Bytes are what the code \
         spans, data blocks included."
    );
    println!();
    println!(
        "| N | `add r0, r0, r1` ns/op | `add r0, r0, imm` ns/op | imm ÷ reg | bytes/op: reg / imm |"
    );
    println!("|--:|--:|--:|--:|--:|");
    for c in chains {
        println!(
            "| {} | {} | {} | {} | {:.1} / {:.1} |",
            group(c.n as f64, 0),
            num(c.reg_ns),
            num(c.imm_ns),
            ratio(c.imm_ns / c.reg_ns),
            c.reg_bytes as f64 / c.n as f64,
            c.imm_bytes as f64 / c.n as f64,
        );
    }
}

/// `x` with thousands separators and `decimals` decimals.
fn group(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A number with about three significant digits.
fn num(x: f64) -> String {
    match x {
        x if x >= 100.0 => group(x, 0),
        x if x >= 10.0 => format!("{x:.1}"),
        x => format!("{x:.2}"),
    }
}

fn ratio(x: f64) -> String {
    format!("{}×", num(x))
}

/// The first field of `/proc/loadavg`: how busy the machine was.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| String::from("?"))
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| String::from("unknown CPU"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{model}, {cores} cores; stencils for {} by {}",
        copyjit::TARGET,
        copyjit::COMPILER
    )
}

fn print_tables(rows: &[CompileRow], l: &Latency, r: &Runs) {
    let (speed, none) = ("speed", "none");
    println!("Machine: {}.", machine());
    println!();
    println!(
        "Compile time per instruction. copyjit emits into a buffer that is already mapped; \
         memcpy copies as many bytes as copyjit's code; Cranelift (`opt_level` {speed} and \
         {none}) translates from the same instructions and compiles to machine code in memory. \
         copyjit's code bytes are its machine code; with data blocks, what the code spans with \
         the data blocks beside it."
    );
    println!();
    println!(
        "| program | copyjit ns/op | memcpy ns/op | copyjit ÷ memcpy | Cranelift ({speed}) ns/op | Cranelift ({none}) ns/op | Cranelift ({speed}) ÷ copyjit | code bytes: copyjit / Cranelift | copyjit bytes/op: code / with data blocks |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let per = |ns: f64| ns / row.ops as f64;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {:.1} / {:.1} |",
            row.name,
            num(per(row.copyjit_ns)),
            num(per(row.memcpy_ns)),
            ratio(row.copyjit_ns / row.memcpy_ns),
            num(per(row.speed_ns)),
            num(per(row.none_ns)),
            ratio(row.speed_ns / row.copyjit_ns),
            group(row.copyjit_bytes as f64, 0),
            group(row.speed_bytes as f64, 0),
            row.copyjit_bytes as f64 / row.ops as f64,
            row.copyjit_span as f64 / row.ops as f64,
        );
    }
    println!();
    println!("Billion-sum, from instructions to code, in ns:");
    println!();
    println!("| step | copyjit | Cranelift ({speed}) | Cranelift ÷ copyjit |");
    println!("|---|--:|--:|--:|");
    println!(
        "| to machine code in memory | {} | {} | {} |",
        num(l.copyjit_emit),
        num(l.cranelift_emit),
        ratio(l.cranelift_emit / l.copyjit_emit)
    );
    println!(
        "| and executable (flush, `mprotect`) | {} | {} | {} |",
        num(l.copyjit_exec),
        num(l.cranelift_exec),
        ratio(l.cranelift_exec / l.copyjit_exec)
    );
    println!();
    println!(
        "Billion-sum run time, {} iterations (the interpreter {}):",
        group(BILLION as f64, 0),
        group(INTERPRETED as f64, 0)
    );
    println!();
    println!("| code | ns/iteration | ÷ native |");
    println!("|---|--:|--:|");
    for (name, ns) in [
        ("native Rust loop (`black_box` step and bound)", r.native),
        ("copyjit", r.copyjit),
        ("Cranelift (speed)", r.cranelift),
        ("copyjit interpreter", r.interpreter),
    ] {
        println!("| {name} | {} | {} |", num(ns), ratio(ns / r.native));
    }
}
