//! The crate's features and the forms they keep: every instruction form
//! whose family a feature leaves out is `Error::Unsupported` when emitted,
//! writes nothing and poisons the assembler, while every other form emits;
//! and the smallest set still runs a sum loop.
//!
//! Run with any feature set, e.g. the smallest:
//! `cargo test -p copyjit --no-default-features --test features`.

mod common;

use common::{interp, jit};
use copyjit::{Assembler, BinOp, BinOp32, Cond, Error, Insn, Label, Load, Reg, UnOp, Width};

/// Whether the named feature of the crate is on.
fn enabled(feature: &str) -> bool {
    match feature {
        "mul" => cfg!(feature = "mul"),
        "div" => cfg!(feature = "div"),
        "shift" => cfg!(feature = "shift"),
        "alu-imm" => cfg!(feature = "alu-imm"),
        "three-address" => cfg!(feature = "three-address"),
        "branch-imm" => cfg!(feature = "branch-imm"),
        "cond-swapped" => cfg!(feature = "cond-swapped"),
        "cond-test" => cfg!(feature = "cond-test"),
        "load-signed" => cfg!(feature = "load-signed"),
        "load-be" => cfg!(feature = "load-be"),
        "stack" => cfg!(feature = "stack"),
        "call-host" => cfg!(feature = "call-host"),
        "call" => cfg!(feature = "call"),
        _ => panic!("no feature {feature}"),
    }
}

/// The features an instruction's form needs, as the README's "Flash
/// budget" documents them.
fn needs(insn: &Insn) -> Vec<&'static str> {
    let op = |op: BinOp| match op {
        BinOp::Mul => Some("mul"),
        BinOp::UDiv | BinOp::SDiv | BinOp::URem | BinOp::SRem => Some("div"),
        BinOp::Shl | BinOp::Shr | BinOp::Sar => Some("shift"),
        _ => None,
    };
    let cond = |cond: Cond| match cond {
        Cond::ULe | Cond::UGt | Cond::SLe | Cond::SGt => Some("cond-swapped"),
        Cond::Test | Cond::NotTest => Some("cond-test"),
        _ => None,
    };
    let three = |dst: Reg, lhs: Reg| (dst != lhs).then_some("three-address");
    let op32 = |o: BinOp32| match o {
        BinOp32::Mul32 => Some("mul"),
        BinOp32::Shl32 => Some("shift"),
        _ => None,
    };
    let mut needs: Vec<&'static str> = match *insn {
        Insn::Bin {
            op: o, dst, lhs, ..
        } => vec![op(o), three(dst, lhs)],
        Insn::BinImm {
            op: o, dst, lhs, ..
        } => {
            vec![Some("alu-imm"), op(o), three(dst, lhs)]
        }
        Insn::BinImm32 {
            op: o, dst, lhs, ..
        } => {
            vec![Some("alu-imm"), op32(o), three(dst, lhs)]
        }
        Insn::Branch { cond: c, .. } => vec![cond(c)],
        Insn::BranchMem { cond: c, .. } => vec![Some("branch-imm"), cond(c)],
        Insn::BranchImm { cond: c, .. } => vec![Some("branch-imm"), cond(c)],
        Insn::Load { kind, .. } => vec![match kind {
            Load::I8 | Load::I16 | Load::I32 => Some("load-signed"),
            Load::Be16 | Load::Be32 | Load::Be64 => Some("load-be"),
            _ => None,
        }],
        Insn::Push { .. } | Insn::Pop { .. } => vec![Some("stack")],
        Insn::CallHost { .. } => vec![Some("call-host")],
        Insn::Call { .. } => vec![Some("call")],
        _ => vec![],
    }
    .into_iter()
    .flatten()
    .collect();
    needs.dedup();
    needs
}

extern "C" fn host(a: u64, _: u64, _: u64, _: u64) -> u64 {
    a
}

/// One instruction of every form (each register assignment is a form).
fn every_form() -> Vec<Insn> {
    let regs = Reg::ALL;
    let pairs = || regs.into_iter().flat_map(|a| regs.map(move |b| (a, b)));
    let target = Label(0);
    let mut all = vec![Insn::Nop, Insn::Ret, Insn::RetImm { imm: 3 }];
    all.push(Insn::Jump { target });
    all.push(Insn::Call { target });
    for &op in BinOp::ALL {
        for (dst, lhs) in pairs() {
            all.extend(regs.map(|rhs| Insn::Bin { op, dst, lhs, rhs }));
            all.push(Insn::BinImm {
                op,
                dst,
                lhs,
                imm: 5,
            });
        }
    }
    for &op in BinOp32::ALL {
        all.extend(pairs().map(|(dst, lhs)| Insn::BinImm32 {
            op,
            dst,
            lhs,
            imm: 5,
        }));
    }
    for &op in UnOp::ALL {
        all.extend(pairs().map(|(dst, src)| Insn::Unary { op, dst, src }));
    }
    all.extend(pairs().map(|(dst, src)| Insn::Mov { dst, src }));
    for &cond in Cond::ALL {
        all.extend(pairs().map(|(lhs, rhs)| Insn::Branch {
            cond,
            lhs,
            rhs,
            target,
        }));
        all.extend(regs.map(|lhs| Insn::BranchImm {
            cond,
            lhs,
            imm: 9,
            target,
        }));
        all.extend(regs.map(|base| Insn::BranchMem {
            cond,
            base,
            offset: 8,
            imm: 9,
            target,
        }));
    }
    for &kind in Load::ALL {
        all.extend(pairs().map(|(dst, base)| Insn::Load {
            kind,
            dst,
            base,
            offset: 8,
        }));
    }
    for &width in Width::ALL {
        all.extend(pairs().map(|(src, base)| Insn::Store {
            width,
            src,
            base,
            offset: 8,
        }));
    }
    for r in regs {
        all.push(Insn::MovImm { dst: r, imm: 7 });
        all.push(Insn::Push { src: r });
        all.push(Insn::Pop { dst: r });
        all.push(Insn::CallHost { dst: r, func: host });
    }
    all
}

/// What `program` leaves in a buffer of 0xCC bytes (the same buffer every
/// time, so that the code's alignment is the same), with the result of
/// emitting it and of finishing.
fn emitted(buf: &mut [u8], program: &[Insn]) -> (Result<(), Error>, Result<(), Error>, Vec<u8>) {
    buf.fill(0xCC);
    let mut asm: Assembler = Assembler::new(buf);
    let emit = asm.emit_all(program);
    let finish = asm.finish().map(|_| ());
    (emit, finish, buf.to_vec())
}

#[test]
fn every_form_left_out_is_unsupported_and_writes_nothing() {
    let mut buf = vec![0u8; 1 << 14];
    // A prefix with slots, so that the failing instruction follows code
    // and a data block.
    let prefix = [
        Insn::MovImm {
            dst: Reg::R0,
            imm: 1,
        },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
    ];
    let (ok, finished, _) = emitted(&mut buf, &prefix);
    assert_eq!((ok, finished), (Ok(()), Ok(())));
    // What the prefix alone leaves, before finishing (the return it ends
    // with is not written when a later instruction fails).
    let before = {
        buf.fill(0xCC);
        Assembler::<16>::new(&mut buf).emit_all(&prefix).unwrap();
        buf.clone()
    };
    let (mut left_out, mut kept) = (0, 0);
    for insn in every_form() {
        let needs = needs(&insn);
        let included = needs.iter().all(|f| enabled(f));
        assert_eq!(
            copyjit::supports(&insn),
            included,
            "{insn:?} needs {needs:?}"
        );
        let mut program = prefix.to_vec();
        program.push(insn);
        program.push(Insn::Bind(Label(0)));
        let (emit, finish, after) = emitted(&mut buf, &program);
        if included {
            kept += 1;
            assert_eq!((emit, finish), (Ok(()), Ok(())), "{insn:?}");
        } else {
            left_out += 1;
            assert_eq!(emit, Err(Error::Unsupported), "{insn:?}");
            assert_eq!(finish, Err(Error::EarlierError), "{insn:?}");
            assert!(after == before, "{insn:?} wrote bytes");
        }
    }
    println!("{kept} forms kept, {left_out} left out");
    // The interpreter runs every form whatever the features.
    assert!(kept > 0);
}

/// `R0 = 0 + 1 + ... + (n - 1)` with `n` in `R2`, in the forms every
/// feature set has: two-address register ALU forms, register branches.
#[test]
fn the_smallest_set_runs_a_sum_loop() {
    let top = Label(0);
    let add = |dst, rhs| Insn::Bin {
        op: BinOp::Add,
        dst,
        lhs: dst,
        rhs,
    };
    let program = [
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R3,
            imm: 1,
        },
        Insn::Bind(top),
        add(Reg::R0, Reg::R1),
        add(Reg::R1, Reg::R3),
        Insn::Branch {
            cond: Cond::ULt,
            lhs: Reg::R1,
            rhs: Reg::R2,
            target: top,
        },
        Insn::Ret,
    ];
    assert!(program.iter().all(copyjit::supports));
    assert_eq!(jit(&program, [0, 0, 1000, 0]), Ok(499_500));
    assert_eq!(interp(&program, [0, 0, 1000, 0]), Ok(499_500));
}

#[test]
fn loads_and_stores_of_the_smallest_set() {
    let mut memory = [0u64; 4];
    let base = memory.as_mut_ptr() as u64;
    let program = [
        Insn::MovImm {
            dst: Reg::R1,
            imm: base,
        },
        Insn::MovImm {
            dst: Reg::R2,
            imm: 0x1122_3344_5566_7788,
        },
        Insn::Store {
            width: Width::W64,
            src: Reg::R2,
            base: Reg::R1,
            offset: 8,
        },
        Insn::Store {
            width: Width::W8,
            src: Reg::R2,
            base: Reg::R1,
            offset: 16,
        },
        Insn::Load {
            kind: Load::U32,
            dst: Reg::R0,
            base: Reg::R1,
            offset: 8,
        },
        Insn::Load {
            kind: Load::U8,
            dst: Reg::R3,
            base: Reg::R1,
            offset: 16,
        },
        Insn::Bin {
            op: BinOp::Xor,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R3,
        },
        Insn::Ret,
    ];
    assert!(program.iter().all(copyjit::supports));
    // The first four bytes in memory, whatever the byte order.
    let low = 0x1122_3344_5566_7788u64.to_ne_bytes();
    let low = u32::from_ne_bytes([low[0], low[1], low[2], low[3]]);
    assert_eq!(jit(&program, [0; 4]), Ok(u64::from(low) ^ 0x88));
    assert_eq!(memory[1], 0x1122_3344_5566_7788);
    assert_eq!(memory[2].to_ne_bytes(), [0x88, 0, 0, 0, 0, 0, 0, 0]);
}
