//! Generated code in a disassembler and a profiler: emits a program of two
//! functions instruction by instruction with `Assembler::emit_mapped`, which
//! tells where each instruction's machine code went, and prints that map.
//!
//! ```text
//! cargo run --release --example code_map [FILE]
//! ```
//!
//! With FILE it also writes the code there and prints the `objdump` command
//! that disassembles each instruction from it (code blocks alternate with
//! data blocks, so disassemble the ranges, not the whole file). With
//! `COPYJIT_PERF_MAP=1` it names each function in the process's perf map
//! (`/tmp/perf-<pid>.map`), so `perf report` splits the time between them.

use copyjit::{Assembler, BinOp, Cond, Insn, Label, Reg};
use copyjit_linux::{CodeMemory, Linux, PerfMap};
use std::ops::Range;

/// `main` calls `triangle` for R1 = 0, 1, ... 9 and sums the results;
/// `triangle` returns 1 + 2 + ... + R1 in R0, with a loop.
fn program() -> (Vec<Insn>, [(&'static str, Label); 2]) {
    let (main, triangle, again, top, done) = (Label(0), Label(1), Label(2), Label(3), Label(4));
    let p = vec![
        Insn::Bind(main),
        Insn::MovImm {
            dst: Reg::R2,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::Bind(again),
        // A call keeps R1 to R3.
        Insn::Call { target: triangle },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R2,
            lhs: Reg::R2,
            rhs: Reg::R0,
        },
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 1,
        },
        Insn::BranchImm {
            cond: Cond::ULt,
            lhs: Reg::R1,
            imm: 10,
            target: again,
        },
        Insn::Mov {
            dst: Reg::R0,
            src: Reg::R2,
        },
        Insn::Ret,
        Insn::Bind(triangle),
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
        Insn::Bind(top),
        Insn::BranchImm {
            cond: Cond::Eq,
            lhs: Reg::R1,
            imm: 0,
            target: done,
        },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::BinImm {
            op: BinOp::Sub,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 1,
        },
        Insn::Jump { target: top },
        Insn::Bind(done),
        Insn::Ret,
    ];
    (p, [("main", main), ("triangle", triangle)])
}

/// `objdump`'s name for this machine, for `-m`.
const OBJDUMP_MACHINE: &str = match () {
    _ if cfg!(target_arch = "x86_64") => "i386:x86-64",
    _ if cfg!(target_arch = "x86") => "i386",
    _ if cfg!(target_arch = "aarch64") => "aarch64",
    _ if cfg!(target_arch = "arm") => "arm",
    _ if cfg!(target_arch = "riscv64") => "riscv:rv64",
    _ if cfg!(target_arch = "powerpc64") => "powerpc:common64",
    _ if cfg!(target_arch = "s390x") => "s390:64-bit",
    _ => "(this machine)",
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (program, functions) = program();
    let mut memory = CodeMemory::new(16 * 1024)?;
    let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
    let mut map: Vec<(Insn, Range<usize>)> = Vec::new();
    for &insn in &program {
        map.push((insn, asm.emit_mapped(insn)?));
    }
    // Each function runs from its label to the next function's, or to the
    // end of the code.
    let starts: Vec<usize> = functions
        .iter()
        .map(|&(_, label)| asm.label_offset(label).ok_or("an unbound function label"))
        .collect::<Result<_, _>>()?;
    let code = asm.finish()?;
    let bytes = code.bytes().to_vec();
    let code_end = map.last().map_or(0, |(_, r)| r.end);

    println!("offset  bytes  instruction");
    for (insn, range) in &map {
        let hex: String = bytes[range.clone()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("{:6}  {:5}  {insn:?}  [{hex}]", range.start, range.len());
    }
    let file = std::env::args().nth(1);
    if let Some(file) = &file {
        std::fs::write(file, &bytes)?;
        println!("\nthe code is in {file}; to disassemble an instruction at OFFSET, LEN bytes:");
        println!(
            "  objdump -D -b binary -m {OBJDUMP_MACHINE} --start-address=OFFSET --stop-address=$((OFFSET + LEN)) {file}"
        );
    }

    let code = code.make_executable(&Linux)?;
    if std::env::var_os("COPYJIT_PERF_MAP").is_some() {
        let perf = PerfMap::open()?;
        for (i, &(name, _)) in functions.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(code_end);
            perf.register(&code.bytes()[starts[i]..end], name)?;
        }
        println!("\nfunctions named in {}", PerfMap::path().display());
    }
    // SAFETY: the program touches no memory.
    let sum = unsafe { code.call([0; 4]) };
    println!("\nmain returns {sum}");
    let expected: u64 = (0..10u64).map(|n| n * (n + 1) / 2).sum();
    if sum != expected {
        return Err(format!("expected {expected}").into());
    }
    Ok(())
}
