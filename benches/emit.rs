//! How fast copyjit compiles: emit throughput on straight-line code against
//! a plain copy of the same bytes, and the billion-sum's compile latency.
//!
//! `cargo bench --bench emit`

mod programs;
mod summary;

use copyjit::{Assembler, Insn};
use copyjit_linux::{CodeMemory, Linux};
use criterion::{Criterion, Throughput};
use std::hint::black_box;
use summary::Summary;

/// Emits `program` into `buf` and returns the code's length in bytes.
fn emit(program: &[Insn], buf: &mut [u8]) -> usize {
    let mut asm: Assembler = Assembler::new(buf);
    asm.emit_all(program).expect("the program emits");
    asm.finish().expect("the program finishes").bytes().len()
}

/// Straight-line functions of 100 and 100,000 mixed ops, and the 100 ops
/// repeated to 100,000 (a sequence the branch predictor learns), emitted
/// into a buffer that is already mapped and touched, against
/// `copy_from_slice` of the code's bytes between two such buffers: the cost
/// of writing the output at all.
fn straight_line(c: &mut Criterion, summary: &Summary) {
    let programs = [
        ("100 ops", programs::straight_line(100, programs::SEED)),
        (
            "100000 ops",
            programs::straight_line(100_000, programs::SEED),
        ),
        (
            "100 ops x 1000",
            programs::repeated(100, 1000, programs::SEED),
        ),
    ];
    for (label, program) in &programs {
        let len = program.len();
        let mut buf = vec![0u8; 64 * len + 4096];
        let bytes = emit(program, &mut buf);
        let source = buf.clone();
        let mut copy = vec![0u8; buf.len()];
        let ops = len as f64;

        let mut group = c.benchmark_group(format!("emit/{label}"));
        group.throughput(Throughput::ElementsAndBytes {
            elements: len as u64,
            bytes: bytes as u64,
        });
        let name = format!("emit/{label}/copyjit");
        group.bench_function("copyjit", |b| {
            summary.time(b, &name, ops, || emit(black_box(program), &mut buf))
        });
        let name = format!("emit/{label}/memcpy");
        group.bench_function("memcpy", |b| {
            summary.time(b, &name, ops, || {
                black_box(&mut copy[..bytes]).copy_from_slice(black_box(&source[..bytes]))
            })
        });
        group.finish();
        println!("emit/{label}: {bytes} bytes of code");
    }
}

/// The billion-sum program from instructions to code: emit only; emit,
/// then flush and make executable (and writable again when the code is
/// dropped: two `mprotect`s); and all that in a fresh mapping.
fn compile(c: &mut Criterion, summary: &Summary) {
    let program = programs::sum_loop(1_000_000_000);
    let ops = program.len() as f64;
    let mut memory = CodeMemory::new(4096).expect("mmap");
    let mut group = c.benchmark_group("compile/billion-sum");
    group.bench_function("emit", |b| {
        summary.time(b, "compile/emit", ops, || {
            emit(black_box(&program), memory.as_mut_slice())
        })
    });
    group.bench_function("emit + make_executable", |b| {
        summary.time(b, "compile/emit + make_executable", ops, || {
            let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
            asm.emit_all(black_box(&program)).expect("emit");
            let code = asm.finish().expect("finish");
            code.make_executable(&Linux).map(|_| ()).expect("mprotect")
        })
    });
    group.bench_function("mmap + emit + make_executable + munmap", |b| {
        summary.time(b, "compile/mmap + emit + make_executable", ops, || {
            let mut memory = CodeMemory::new(4096).expect("mmap");
            let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
            asm.emit_all(black_box(&program)).expect("emit");
            let code = asm.finish().expect("finish");
            code.make_executable(&Linux).map(|_| ()).expect("mprotect")
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let summary = Summary::default();
    straight_line(&mut c, &summary);
    compile(&mut c, &summary);
    c.final_summary();
    for label in ["100 ops", "100000 ops", "100 ops x 1000"] {
        summary.print(
            &format!("emit, {label}"),
            &format!("emit/{label}/"),
            "op",
            &format!("emit/{label}/memcpy"),
        );
    }
    summary.print(
        "compile the billion-sum",
        "compile/",
        "insn",
        "compile/emit",
    );
}
