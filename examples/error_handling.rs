//! Every mistake is a typed error, never a panic or a crash: what each one
//! looks like, and how to recover from the one that calls for it, a code
//! buffer that is too small, by moving to a bigger one.
//!
//! `cargo run --release --example error_handling`

use copyjit::{Assembler, BinOp, Error, Insn, Interpreter, Label, Reg};
use copyjit_linux::{CodeMemory, Linux};

/// A long straight-line program: `R0 = R0 + 1 + 2 + ... + n`.
fn long_program(n: u64) -> Vec<Insn> {
    let mut program: Vec<Insn> = (1..=n)
        .map(|imm| Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm,
        })
        .collect();
    program.push(Insn::Ret);
    program
}

/// Emits `program` into a buffer of 4 KiB, moves what it has emitted into
/// one twice as big each time the buffer turns out too small and goes on
/// from the instruction that did not fit; then copies the finished code
/// into executable memory of just its size and runs it.
fn compile_growing(program: &[Insn]) -> Result<(CodeMemory, u64), Box<dyn std::error::Error>> {
    // The buffers the code moves through, each allocated when it is needed:
    // all must outlive the assembler.
    let mut pool: Vec<Vec<u8>> = vec![Vec::new(); 16];
    let mut spare = pool.iter_mut();
    let mut take = |len: usize| -> Result<&mut [u8], Box<dyn std::error::Error>> {
        let buf = spare.next().ok_or("the program is too long")?;
        buf.resize(len, 0);
        Ok(buf.as_mut_slice())
    };
    let mut len = 4096;
    let mut asm: Assembler = Assembler::new(take(len)?);
    loop {
        let done = asm.emitted();
        match asm.emit_all(&program[done..]) {
            Ok(()) => break,
            Err(Error::BufferTooSmall { needed, capacity }) => {
                println!(
                    "  {capacity} bytes are too small ({needed} needed at instruction {}): moving on to {}",
                    asm.emitted(),
                    2 * len
                );
                len *= 2;
                asm.move_to(take(len)?)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let code = asm.finish()?;
    let mut memory = CodeMemory::new(code.bytes().len() + copyjit::CODE_ALIGN)?;
    let code = code
        .copy_to(memory.as_mut_slice())?
        .make_executable(&Linux)?;
    // SAFETY: the program touches no memory.
    let result = unsafe { code.call([0; 4]) };
    drop(code);
    Ok((memory, result))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("a buffer that grows:");
    let n = 2000;
    let (memory, result) = compile_growing(&long_program(n))?;
    println!(
        "  the finished code, copied into {} bytes of executable memory, returns R0 = {result}",
        memory.len()
    );
    assert_eq!(result, n * (n + 1) / 2);

    println!("mistakes in programs, from the assembler and the interpreter alike:");
    let l = Label;
    let mistakes: [(&str, Vec<Insn>); 4] = [
        (
            "a jump to a label never bound",
            vec![Insn::Jump { target: l(3) }],
        ),
        (
            "a label bound twice",
            vec![Insn::Bind(l(1)), Insn::Bind(l(1))],
        ),
        (
            "a label beyond the assembler's 64",
            vec![Insn::Jump { target: l(64) }],
        ),
        (
            "a shift by 64",
            vec![Insn::BinImm {
                op: BinOp::Shl,
                dst: Reg::R0,
                lhs: Reg::R0,
                imm: 64,
            }],
        ),
    ];
    let mut buf = [0u8; 4096];
    for (what, program) in mistakes {
        let mut asm: Assembler = Assembler::new(&mut buf);
        let assembled = asm.emit_all(&program).and_then(|()| asm.finish().map(drop));
        let interpreted = Interpreter::<64>::new(&program).map(drop);
        let Err(e) = assembled else {
            panic!("{what}: accepted");
        };
        println!("  {what}: {e:?}: {e}");
        assert_eq!(interpreted, Err(e), "{what}");
    }

    println!("code memory that shares a page with other data cannot be made executable:");
    let mut page = vec![0u8; 8192];
    let offset = page.as_ptr().align_offset(4096) + 64;
    let mut asm: Assembler = Assembler::new(&mut page[offset..offset + 2048]);
    asm.emit(Insn::Ret)?;
    match asm.finish()?.make_executable(&Linux) {
        Err(e @ copyjit_linux::Error::NotWholePages { .. }) => println!("  {e}"),
        other => panic!("expected NotWholePages, got {other:?}"),
    }
    Ok(())
}
