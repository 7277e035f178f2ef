//! The emitter's contract: immediates anywhere, labels either way, typed
//! errors that leave nothing half-written, position-independent output.

mod common;

use common::{LABELS, jit};
use copyjit::{Assembler, BinOp, CODE_ALIGN, Cond, Error, Insn, Label, Reg, SLOT_DISTANCE};
use copyjit_linux::{CodeMemory, Linux};

const IMMEDIATES: [u64; 9] = [
    0,
    1,
    255,
    256,
    (1 << 31) - 1,
    1 << 31,
    1 << 32,
    i64::MIN as u64,
    u64::MAX,
];

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "three-address", feature = "branch-imm")),
    ignore = "needs the `alu-imm`, `three-address`, `branch-imm` features"
)]
fn immediates_at_every_placement() {
    // Each no-op shifts the following ops; 16 of them cover every address
    // mod 16 on every target (no-ops are 1 to 4 bytes long).
    for &imm in &IMMEDIATES {
        for nops in 0..16 {
            let mut p = vec![Insn::Nop; nops];
            p.push(Insn::MovImm { dst: Reg::R1, imm });
            p.push(Insn::Nop);
            p.push(Insn::BinImm {
                op: BinOp::Xor,
                dst: Reg::R0,
                lhs: Reg::R1,
                imm: 0x5a5a,
            });
            p.push(Insn::Nop);
            p.push(Insn::BranchImm {
                cond: Cond::Eq,
                lhs: Reg::R1,
                imm,
                target: Label(0),
            });
            p.push(Insn::MovImm {
                dst: Reg::R0,
                imm: 0xdead,
            });
            p.push(Insn::Bind(Label(0)));
            assert_eq!(
                jit(&p, [0; 4]),
                Ok(imm ^ 0x5a5a),
                "imm {imm:#x} after {nops} no-ops"
            );
        }
    }
}

fn program() -> Vec<Insn> {
    vec![
        Insn::MovImm {
            dst: Reg::R0,
            imm: 40,
        },
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: 2,
        },
        Insn::Ret,
    ]
}

/// Bytes `program()` needs in a buffer whose start is CODE_ALIGN-aligned.
fn exact_size() -> usize {
    let mut buf = vec![0u8; 4 * SLOT_DISTANCE];
    let mut asm: Assembler = Assembler::new(&mut buf);
    asm.emit_all(&program()).unwrap();
    asm.finish().unwrap().bytes().len()
}

#[test]
#[cfg_attr(not(feature = "alu-imm"), ignore = "needs the `alu-imm` feature")]
fn buffer_exactly_big_enough_and_one_byte_short() {
    let n = exact_size();
    // The program's last bytes are a data slot, a data block past its code.
    assert!(n > SLOT_DISTANCE, "{n}");
    let mut memory = CodeMemory::new(4 * SLOT_DISTANCE).unwrap();
    let mut exact = vec![0u8; n + CODE_ALIGN];
    let offset = exact.as_ptr().align_offset(CODE_ALIGN);
    let mut asm: Assembler = Assembler::new(&mut exact[offset..offset + n]);
    asm.emit_all(&program()).unwrap();
    let code = asm.finish().unwrap();
    assert_eq!(code.bytes().len(), n);
    // Only whole pages become executable: run a copy.
    let code = code
        .copy_to(memory.as_mut_slice())
        .unwrap()
        .make_executable(&Linux)
        .unwrap();
    // SAFETY: the program touches no memory.
    assert_eq!(unsafe { code.call([0; 4]) }, 42);
    drop(code);

    let buf = memory.as_mut_slice();
    buf.fill(0xCC);
    let mut asm: Assembler = Assembler::new(&mut buf[..n - 1]);
    let result = asm
        .emit_all(&program())
        .and_then(|()| asm.finish().map(|_| ()));
    assert!(
        matches!(result, Err(Error::BufferTooSmall { needed, capacity }) if capacity == n - 1 && needed == n),
        "{result:?}"
    );
}

/// Where a buffer of `size` bytes starting at a CODE_ALIGN-aligned address
/// lies in `storage`, which this fills with 0xCC.
fn aligned(storage: &mut Vec<u8>, size: usize) -> std::ops::Range<usize> {
    *storage = vec![0xCCu8; size + CODE_ALIGN];
    let offset = storage.as_ptr().align_offset(CODE_ALIGN);
    offset..offset + size
}

/// The `size` bytes of a fresh aligned buffer (filled as `aligned` fills
/// it) after `program` is emitted into it.
fn emitted(program: &[Insn], size: usize) -> Vec<u8> {
    let mut storage = Vec::new();
    let range = aligned(&mut storage, size);
    Assembler::<64>::new(&mut storage[range.clone()])
        .emit_all(program)
        .unwrap();
    storage[range].to_vec()
}

/// Emits `program` one instruction at a time into `size` bytes, and at the
/// first error checks that the failing instruction changed no byte: the
/// buffer holds what emitting only the instructions before it writes.
fn emit_until_error(program: &[Insn], size: usize) -> Result<(), Error> {
    let mut failed_storage = Vec::new();
    let failed = aligned(&mut failed_storage, size);
    let mut asm: Assembler = Assembler::new(&mut failed_storage[failed.clone()]);
    let Some((k, error)) = program
        .iter()
        .enumerate()
        .find_map(|(k, &insn)| asm.emit(insn).err().map(|e| (k, e)))
    else {
        return asm.finish().map(|_| ());
    };
    assert!(
        failed_storage[failed] == emitted(&program[..k], size)[..],
        "{:?} failed with {error:?} and wrote bytes",
        program[k]
    );
    Err(error)
}

#[test]
#[cfg_attr(not(feature = "alu-imm"), ignore = "needs the `alu-imm` feature")]
fn a_buffer_that_ends_in_the_code_or_in_a_data_block() {
    // Long enough to need several code blocks and their data blocks.
    let mut p = Vec::new();
    for i in 0..(3 * SLOT_DISTANCE as u64 / 4) {
        p.push(Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: i,
        });
    }
    let mut whole = vec![0u8; 256 * SLOT_DISTANCE];
    let mut asm: Assembler = Assembler::new(&mut whole);
    asm.emit_all(&p).unwrap();
    let n = asm.finish().unwrap().bytes().len();
    assert!(n > 3 * SLOT_DISTANCE, "{n}");
    // Every size short of the whole fails cleanly, wherever it ends: in a
    // code block, in a data block, or in the gap after a skip.
    for size in (0..n).step_by((n / 256) | 1).chain([n - 1]) {
        assert!(
            matches!(
                emit_until_error(&p, size),
                Err(Error::BufferTooSmall { .. })
            ),
            "{size}"
        );
    }
    assert_eq!(emit_until_error(&p, n), Ok(()));
}

#[test]
fn a_failed_emit_poisons_the_assembler() {
    let mut buf = [0u8; 4096];
    let mut asm: Assembler = Assembler::new(&mut buf);
    let bad = Insn::BinImm {
        op: BinOp::Shl,
        dst: Reg::R0,
        lhs: Reg::R0,
        imm: 99,
    };
    assert_eq!(
        asm.emit(bad),
        Err(Error::ImmediateOutOfRange { imm: 99, max: 63 })
    );
    assert_eq!(asm.emit(Insn::Ret), Err(Error::EarlierError));
    assert!(matches!(asm.finish(), Err(Error::EarlierError)));
}

#[test]
fn unbound_and_rebound_labels() {
    let mut buf = [0u8; 4096];
    let mut asm: Assembler = Assembler::new(&mut buf);
    asm.emit(Insn::Jump { target: Label(3) }).unwrap();
    assert!(matches!(asm.finish(), Err(Error::UnboundLabel(Label(3)))));

    let p = [Insn::Bind(Label(1)), Insn::Bind(Label(1))];
    assert_eq!(jit(&p, [0; 4]), Err(Error::LabelRebound(Label(1))));
    assert_eq!(
        common::interp(&p, [0; 4]),
        Err(Error::LabelRebound(Label(1)))
    );
    assert_eq!(
        common::interp(&[Insn::Jump { target: Label(2) }], [0; 4]),
        Err(Error::UnboundLabel(Label(2)))
    );
}

#[test]
#[cfg_attr(not(feature = "branch-imm"), ignore = "needs the `branch-imm` feature")]
fn many_forward_references_to_one_label() {
    // Every branch refers to the end before it is bound; binding walks the
    // chain threaded through their slots.
    let end = Label(LABELS as u16 - 1);
    let mut p = vec![];
    for i in 0..50 {
        p.push(Insn::BranchImm {
            cond: Cond::Eq,
            lhs: Reg::R0,
            imm: i,
            target: end,
        });
    }
    p.push(Insn::MovImm {
        dst: Reg::R1,
        imm: 1000,
    });
    p.push(Insn::Bind(end));
    p.push(Insn::Bin {
        op: BinOp::Add,
        dst: Reg::R0,
        lhs: Reg::R0,
        rhs: Reg::R1,
    });
    for x in [0, 7, 49] {
        assert_eq!(jit(&p, [x, 0, 0, 0]), Ok(x));
    }
    assert_eq!(jit(&p, [50, 0, 0, 0]), Ok(1050));
}

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm", feature = "call-host")),
    ignore = "needs the `alu-imm`, `branch-imm`, `call-host` features"
)]
fn finished_code_runs_unchanged_at_another_address() {
    let (top, done) = (Label(0), Label(1));
    let p = [
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::Bind(top),
        Insn::BranchImm {
            cond: Cond::Eq,
            lhs: Reg::R0,
            imm: 0,
            target: done,
        },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            rhs: Reg::R0,
        },
        Insn::BinImm {
            op: BinOp::Sub,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: 1,
        },
        Insn::Jump { target: top },
        Insn::Bind(done),
        Insn::CallHost {
            dst: Reg::R0,
            func: common::observe,
        },
        Insn::Mov {
            dst: Reg::R0,
            src: Reg::R1,
        },
    ];
    let mut first = vec![0u8; 4 * SLOT_DISTANCE];
    let mut asm: Assembler = Assembler::new(&mut first);
    asm.emit_all(&p).unwrap();
    let code = asm.finish().unwrap();

    // A second mapping: a different address, the same alignment mod CODE_ALIGN.
    let mut memory = CodeMemory::new(4 * SLOT_DISTANCE).unwrap();
    let copy = code.copy_to(memory.as_mut_slice()).unwrap();
    assert_eq!(copy.bytes(), code.bytes());
    assert_ne!(copy.bytes().as_ptr(), code.bytes().as_ptr());
    drop(first);
    let exec = copy.make_executable(&Linux).unwrap();
    // SAFETY: the program only calls `observe`.
    assert_eq!(unsafe { exec.call([100, 0, 0, 0]) }, 5050);

    let mut small = [0u8; 8];
    assert!(matches!(
        code_copy_error(&p, &mut small),
        Err(Error::BufferTooSmall { .. })
    ));
}

fn code_copy_error(p: &[Insn], dst: &mut [u8]) -> Result<(), Error> {
    let mut buf = vec![0u8; 4 * SLOT_DISTANCE];
    let mut asm: Assembler = Assembler::new(&mut buf);
    asm.emit_all(p)?;
    asm.finish()?.copy_to(dst).map(|_| ())
}

#[test]
#[cfg_attr(not(feature = "alu-imm"), ignore = "needs the `alu-imm` feature")]
fn entry_is_aligned_whatever_the_buffer() {
    let mut buf = vec![0u8; 4 * SLOT_DISTANCE];
    for skip in 0..CODE_ALIGN {
        let mut asm: Assembler = Assembler::new(&mut buf[skip..]);
        asm.emit_all(&program()).unwrap();
        let code = asm.finish().unwrap();
        assert_eq!(code.bytes().as_ptr() as usize % CODE_ALIGN, 0);
    }
}

/// Bytes the chain of `n` register additions spans, finished.
fn register_chain_bytes(n: usize) -> usize {
    let add = Insn::Bin {
        op: BinOp::Add,
        dst: Reg::R0,
        lhs: Reg::R0,
        rhs: Reg::R1,
    };
    let mut buf = vec![0u8; 256 * n + 4 * SLOT_DISTANCE];
    let mut asm: Assembler = Assembler::new(&mut buf);
    asm.emit_all(&vec![add; n]).unwrap();
    asm.finish().unwrap().bytes().len()
}

#[test]
fn code_without_slots_has_no_data_blocks() {
    // Far longer than a block: every op adds exactly its own bytes, so no
    // skip and no data block came between them.
    let (one, n) = (
        register_chain_bytes(1) - register_chain_bytes(0),
        4 * SLOT_DISTANCE,
    );
    assert_eq!(
        register_chain_bytes(2 * n) - register_chain_bytes(n),
        n * one
    );
    // And it runs.
    let p = vec![
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        };
        n
    ];
    assert_eq!(jit(&p, [0, 1, 0, 0]), Ok(n as u64));
}

#[test]
fn every_error_leaves_the_buffer_as_the_instructions_before_it_left_it() {
    let mov = Insn::MovImm {
        dst: Reg::R1,
        imm: 7,
    };
    let size = 16 * SLOT_DISTANCE;
    // The failing instruction writes nothing (emit_until_error checks it).
    let cases = [
        (
            vec![
                Insn::Jump { target: Label(0) },
                Insn::Bind(Label(0)),
                Insn::Jump { target: Label(64) },
            ],
            Error::LabelOutOfRange(Label(64)),
        ),
        (
            vec![Insn::Bind(Label(1)), mov, Insn::Bind(Label(1))],
            Error::LabelRebound(Label(1)),
        ),
        (
            vec![
                mov,
                Insn::BinImm {
                    op: BinOp::Shl,
                    dst: Reg::R0,
                    lhs: Reg::R0,
                    imm: 64,
                },
            ],
            Error::ImmediateOutOfRange { imm: 64, max: 63 },
        ),
        (
            vec![mov; 4 * SLOT_DISTANCE],
            Error::BufferTooSmall {
                needed: 0,
                capacity: size,
            },
        ),
    ];
    for (program, expected) in cases {
        let error = emit_until_error(&program, size).unwrap_err();
        match (error, expected) {
            (Error::BufferTooSmall { capacity, .. }, Error::BufferTooSmall { .. }) => {
                assert_eq!(capacity, size)
            }
            _ => assert_eq!(error, expected),
        }
    }

    // After an error, further instructions and `finish` write nothing.
    let mut storage = Vec::new();
    let range = aligned(&mut storage, size);
    let mut asm: Assembler = Assembler::new(&mut storage[range.clone()]);
    asm.emit(mov).unwrap();
    assert!(asm.emit(Insn::Bind(Label(99))).is_err());
    let written = asm.len();
    assert_eq!(asm.emit(mov), Err(Error::EarlierError));
    assert_eq!(asm.len(), written);
    assert!(matches!(asm.finish(), Err(Error::EarlierError)));
    assert!(storage[range] == emitted(&[mov], size)[..]);

    // A finish that finds an unbound label writes no return.
    let mut storage = Vec::new();
    let range = aligned(&mut storage, size);
    let mut asm: Assembler = Assembler::new(&mut storage[range.clone()]);
    asm.emit(Insn::Jump { target: Label(3) }).unwrap();
    assert!(matches!(asm.finish(), Err(Error::UnboundLabel(Label(3)))));
    assert!(storage[range] == emitted(&[Insn::Jump { target: Label(3) }], size)[..]);
}

#[test]
#[cfg_attr(
    not(all(feature = "alu-imm", feature = "branch-imm")),
    ignore = "needs the `alu-imm`, `branch-imm` features"
)]
fn a_long_program_runs_unchanged_at_another_address() {
    // Far more than one code block, with a loop back across all of them.
    let (top, n) = (Label(0), 3 * SLOT_DISTANCE as u64 / 4);
    let mut p = vec![Insn::Bind(top)];
    for i in 0..n {
        p.push(Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: i,
        });
    }
    p.push(Insn::BinImm {
        op: BinOp::Sub,
        dst: Reg::R0,
        lhs: Reg::R0,
        imm: 1,
    });
    p.push(Insn::BranchImm {
        cond: Cond::Ne,
        lhs: Reg::R0,
        imm: 0,
        target: top,
    });
    p.push(Insn::Mov {
        dst: Reg::R0,
        src: Reg::R1,
    });
    let mut first = vec![0u8; 256 * SLOT_DISTANCE];
    let mut asm: Assembler = Assembler::new(&mut first);
    asm.emit_all(&p).unwrap();
    let code = asm.finish().unwrap();
    assert!(code.bytes().len() > 3 * SLOT_DISTANCE);
    let mut memory = CodeMemory::new(code.bytes().len() + CODE_ALIGN).unwrap();
    let copy = code.copy_to(memory.as_mut_slice()).unwrap();
    assert_eq!(copy.bytes(), code.bytes());
    let exec = copy.make_executable(&Linux).unwrap();
    // SAFETY: the program touches no memory and calls nothing.
    let got = unsafe { exec.call([3, 0, 0, 0]) };
    assert_eq!(got, 3 * (n * (n - 1) / 2));
}
