//! How fast generated code runs: the billion-sum's loop as copyjit code,
//! as a native Rust loop, and in the reference interpreter; and straight-line
//! chains of additions with an immediate against the same chains with a
//! register operand.
//!
//! The bound is 10^7 iterations (not 10^9) so that criterion can repeat
//! each run; the per-iteration time is the same, see
//! `cargo run --release -p copyjit-vs-cranelift` for the full billion.
//!
//! `cargo bench --bench run`

mod programs;
mod summary;

use copyjit::{Assembler, Executable, Insn, Interpreter};
use copyjit_linux::{CodeMemory, Linux};
use criterion::{Criterion, SamplingMode, Throughput};
use std::hint::black_box;
use std::time::Duration;
use summary::Summary;

/// Loop iterations per run.
const N: u64 = 10_000_000;

/// `program` as code in `memory`, ready to run.
fn executable<'m>(memory: &'m mut CodeMemory, program: &[Insn]) -> Executable<'m, Linux> {
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    asm.emit_all(program).expect("emit");
    asm.finish()
        .expect("finish")
        .make_executable(&Linux)
        .expect("mprotect")
}

fn billion_sum(c: &mut Criterion, summary: &Summary) {
    let program = programs::sum_loop(N);
    let expected = programs::sum_expected(N);
    let per = N as f64;

    let mut memory = CodeMemory::new(4096).expect("mmap");
    let code = executable(&mut memory, &program);
    let interpreter: Interpreter = Interpreter::new(&program).expect("a valid program");
    // SAFETY: the program touches no memory and calls nothing.
    assert_eq!(unsafe { code.call([0; 4]) }, expected, "copyjit");
    assert_eq!(programs::native_sum(N), expected, "native");
    // SAFETY: as above.
    assert_eq!(
        unsafe { interpreter.run([0; 4]) },
        Ok(expected),
        "interpreter"
    );

    let mut group = c.benchmark_group("run/sum 10^7");
    group.throughput(Throughput::Elements(N));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("copyjit", |b| {
        // SAFETY: as above.
        summary.time(b, "run/copyjit", per, || unsafe {
            code.call(black_box([0; 4]))
        })
    });
    group.bench_function("native", |b| {
        summary.time(b, "run/native", per, || programs::native_sum(black_box(N)))
    });
    group.bench_function("interpreter", |b| {
        // SAFETY: as above.
        summary.time(b, "run/interpreter", per, || unsafe {
            interpreter.run(black_box([0; 4]))
        })
    });
    group.finish();
}

/// Straight-line chains of additions, with an immediate (an op with a data
/// slot) and with a register (no slot), side by side per length.
fn chains(c: &mut Criterion, summary: &Summary) {
    let mut memory = CodeMemory::new(1 << 20).expect("mmap");
    for n in programs::CHAIN_LENGTHS {
        let mut group = c.benchmark_group(format!("run/chain {n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for (imm, name) in [(false, "add r0, r0, r1"), (true, "add r0, r0, imm")] {
            let code = executable(&mut memory, &programs::chain(n, imm));
            // SAFETY: the chain touches no memory and calls nothing.
            assert_eq!(unsafe { code.call([0, 1, 0, 0]) }, n as u64, "{name}");
            group.bench_function(name, |b| {
                // SAFETY: as above.
                summary.time(b, &format!("chain/{n}/{name}"), n as f64, || unsafe {
                    code.call(black_box([0, 1, 0, 0]))
                })
            });
        }
        group.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let summary = Summary::default();
    chains(&mut c, &summary);
    billion_sum(&mut c, &summary);
    c.final_summary();
    summary.print(
        "the billion-sum's loop, 10^7 iterations",
        "run/",
        "iter",
        "run/native",
    );
    for n in programs::CHAIN_LENGTHS {
        summary.print(
            &format!("straight-line chain of {n} additions"),
            &format!("chain/{n}/"),
            "op",
            &format!("chain/{n}/add r0, r0, r1"),
        );
    }
}
