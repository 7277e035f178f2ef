//! Every op form, as generated code and in the interpreter, on edge values.

mod common;

use common::{EDGES, LABELS, both, interp, jit};
use copyjit::{BinOp, Cond, Insn, Label, Load, Reg, UnOp, Width};

/// The expected result of `a op b`, written independently of the crate.
fn expect_bin(op: BinOp, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a.wrapping_shl(b as u32 & 63),
        BinOp::Shr => a.wrapping_shr(b as u32 & 63),
        BinOp::Sar => sa.wrapping_shr(b as u32 & 63) as u64,
        BinOp::UDiv => a.checked_div(b).unwrap_or(0),
        BinOp::URem => a.checked_rem(b).unwrap_or(a),
        BinOp::SDiv => {
            if b == 0 {
                0
            } else {
                sa.wrapping_div(sb) as u64
            }
        }
        BinOp::SRem => {
            if b == 0 {
                a
            } else {
                sa.wrapping_rem(sb) as u64
            }
        }
    }
}

fn expect_cond(c: Cond, a: u64, b: u64) -> bool {
    let (sa, sb) = (a as i64, b as i64);
    match c {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::ULt => a < b,
        Cond::ULe => a <= b,
        Cond::UGt => a > b,
        Cond::UGe => a >= b,
        Cond::SLt => sa < sb,
        Cond::SLe => sa <= sb,
        Cond::SGt => sa > sb,
        Cond::SGe => sa >= sb,
    }
}

/// Registers holding `a` in `lhs` and `b` in `rhs` (the same register holds `a`),
/// other registers distinct markers.
fn setup(lhs: Reg, rhs: Reg, a: u64, b: u64) -> [u64; 4] {
    let mut r = [0x1111, 0x2222, 0x3333, 0x4444];
    r[rhs.index()] = b;
    r[lhs.index()] = a;
    r
}

#[test]
fn binary_ops_every_register_form_and_edge_value() {
    for &op in BinOp::ALL {
        for dst in Reg::ALL {
            for lhs in Reg::ALL {
                for rhs in Reg::ALL {
                    for (i, &a) in EDGES.iter().enumerate() {
                        // Every pair for one form, a diagonal for the others.
                        let bs: &[u64] = if (dst, lhs, rhs) == (Reg::R0, Reg::R1, Reg::R2) {
                            &EDGES
                        } else {
                            &EDGES[i..=i]
                        };
                        for &b in bs {
                            let args = setup(lhs, rhs, a, b);
                            let got = both(&[Insn::Bin { op, dst, lhs, rhs }], args);
                            let mut want = args;
                            want[dst.index()] =
                                expect_bin(op, args[lhs.index()], args[rhs.index()]);
                            assert_eq!(
                                got, want,
                                "{op:?} {dst:?} {lhs:?} {rhs:?} a={a:#x} b={b:#x}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn binary_ops_with_immediates() {
    for &op in BinOp::ALL {
        for dst in Reg::ALL {
            for lhs in Reg::ALL {
                for &a in &EDGES {
                    for &imm in &EDGES {
                        let imm = if op.is_shift() { imm % 64 } else { imm };
                        let args = setup(lhs, lhs, a, a);
                        let got = both(&[Insn::BinImm { op, dst, lhs, imm }], args);
                        let mut want = args;
                        want[dst.index()] = expect_bin(op, a, imm);
                        assert_eq!(got, want, "{op:?}i {dst:?} {lhs:?} a={a:#x} imm={imm:#x}");
                    }
                }
            }
        }
    }
}

#[test]
fn shift_immediates_must_be_below_64() {
    for op in [BinOp::Shl, BinOp::Shr, BinOp::Sar] {
        let insn = Insn::BinImm {
            op,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: 64,
        };
        let err = copyjit::Error::ImmediateOutOfRange { imm: 64, max: 63 };
        assert_eq!(jit(&[insn], [0; 4]), Err(err));
        assert_eq!(interp(&[insn], [0; 4]), Err(err));
    }
}

#[test]
fn unary_ops_and_moves() {
    for dst in Reg::ALL {
        for src in Reg::ALL {
            for &a in &EDGES {
                let args = setup(src, src, a, a);
                for &op in UnOp::ALL {
                    let got = both(&[Insn::Unary { op, dst, src }], args);
                    let mut want = args;
                    want[dst.index()] = match op {
                        UnOp::Not => !a,
                        UnOp::Neg => a.wrapping_neg(),
                    };
                    assert_eq!(got, want, "{op:?} {dst:?} {src:?} {a:#x}");
                }
                let mut want = args;
                want[dst.index()] = a;
                assert_eq!(both(&[Insn::Mov { dst, src }], args), want);
            }
        }
        for &imm in &EDGES {
            let mut want = [5, 6, 7, 8];
            want[dst.index()] = imm;
            assert_eq!(both(&[Insn::MovImm { dst, imm }], [5, 6, 7, 8]), want);
        }
    }
}

/// `R0 = 1` if the branch is taken, else `R0 = 2` (R0 is reset after the compare).
fn branch_program(branch: Insn, taken: Label) -> Vec<Insn> {
    vec![
        branch,
        Insn::MovImm {
            dst: Reg::R0,
            imm: 2,
        },
        Insn::Ret,
        Insn::Bind(taken),
        Insn::MovImm {
            dst: Reg::R0,
            imm: 1,
        },
        Insn::Ret,
    ]
}

#[test]
fn branches_every_condition_and_register_pair() {
    let l = Label(0);
    for &cond in Cond::ALL {
        for lhs in Reg::ALL {
            for rhs in Reg::ALL {
                for &a in &EDGES {
                    for &b in &[0, 1, u64::MAX, i64::MIN as u64, a] {
                        let args = setup(lhs, rhs, a, b);
                        let p = branch_program(
                            Insn::Branch {
                                cond,
                                lhs,
                                rhs,
                                target: l,
                            },
                            l,
                        );
                        let want = if expect_cond(cond, args[lhs.index()], args[rhs.index()]) {
                            1
                        } else {
                            2
                        };
                        assert_eq!(
                            jit(&p, args),
                            Ok(want),
                            "{cond:?} {lhs:?} {rhs:?} {a:#x} {b:#x}"
                        );
                        assert_eq!(interp(&p, args), Ok(want));
                    }
                }
            }
            for &a in &EDGES {
                for &imm in &EDGES {
                    let args = setup(lhs, lhs, a, a);
                    let p = branch_program(
                        Insn::BranchImm {
                            cond,
                            lhs,
                            imm,
                            target: l,
                        },
                        l,
                    );
                    let want = if expect_cond(cond, a, imm) { 1 } else { 2 };
                    assert_eq!(jit(&p, args), Ok(want), "{cond:?}i {lhs:?} {a:#x} {imm:#x}");
                    assert_eq!(interp(&p, args), Ok(want));
                }
            }
        }
    }
}

#[test]
fn forward_and_backward_jumps() {
    // R0 counts down from 10 through a backward branch; a forward jump skips
    // a poisoning instruction.
    let (back, skip) = (Label(0), Label(1));
    let p = [
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::Bind(back),
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 3,
        },
        Insn::BinImm {
            op: BinOp::Sub,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: 1,
        },
        Insn::BranchImm {
            cond: Cond::Ne,
            lhs: Reg::R0,
            imm: 0,
            target: back,
        },
        Insn::Jump { target: skip },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 999,
        },
        Insn::Bind(skip),
        Insn::Mov {
            dst: Reg::R0,
            src: Reg::R1,
        },
        Insn::Ret,
    ];
    assert_eq!(jit(&p, [10, 0, 0, 0]), Ok(30));
    assert_eq!(interp(&p, [10, 0, 0, 0]), Ok(30));
}

#[test]
fn long_loop_runs_in_constant_stack() {
    // Ten million iterations: an op that made a real call instead of a tail
    // jump would overflow the stack long before the end.
    let top = Label(0);
    let p = [
        Insn::MovImm {
            dst: Reg::R0,
            imm: 0,
        },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 0,
        },
        Insn::Bind(top),
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::Push { src: Reg::R0 },
        Insn::Pop { dst: Reg::R2 },
        Insn::BinImm {
            op: BinOp::Add,
            dst: Reg::R1,
            lhs: Reg::R1,
            imm: 1,
        },
        Insn::BranchImm {
            cond: Cond::Ne,
            lhs: Reg::R1,
            imm: 10_000_000,
            target: top,
        },
        Insn::Ret,
    ];
    let mut stack = [0u64; 4];
    let sp = stack.as_mut_ptr_range().end as u64;
    assert_eq!(jit(&p, [0, 0, 0, sp]), Ok(49_999_995_000_000));
}

#[test]
fn loads_and_stores_every_width_and_register_pair() {
    for base in Reg::ALL {
        for other in Reg::ALL.into_iter().filter(|&r| r != base) {
            let mut mem = [0u8; 32];
            let p = mem.as_mut_ptr() as u64;
            for &value in &EDGES {
                for &width in Width::ALL {
                    mem = [0xAA; 32];
                    let mut args = [1, 2, 3, 4];
                    args[base.index()] = p;
                    args[other.index()] = value;
                    let store = Insn::Store {
                        width,
                        src: other,
                        base,
                        offset: 8,
                    };
                    let regs = both(&[store], args);
                    assert_eq!(regs, args);
                    let n = width.size();
                    assert_eq!(
                        mem[8..8 + n],
                        value.to_ne_bytes()[if cfg!(target_endian = "big") {
                            8 - n
                        } else {
                            0
                        }..][..n]
                    );
                    assert!(
                        mem[8 + n..].iter().chain(&mem[..8]).all(|&b| b == 0xAA),
                        "{width:?} wrote outside"
                    );
                }
                mem[16..24].copy_from_slice(&value.to_ne_bytes());
                for &kind in Load::ALL {
                    for dst in Reg::ALL {
                        let mut args = [1, 2, 3, 4];
                        args[base.index()] = p;
                        // Offsets are full-range: reach the value from 1000 bytes past it.
                        let lo = if cfg!(target_endian = "big") {
                            24 - kind.size()
                        } else {
                            16
                        };
                        let load = Insn::Load {
                            kind,
                            dst,
                            base,
                            offset: lo as i64 - 1000,
                        };
                        args[base.index()] = p + 1000;
                        let regs = both(&[load], args);
                        let bytes = &mem[lo..lo + kind.size()];
                        let mut raw = [0u8; 8];
                        let want = match kind {
                            Load::U8 => bytes[0] as u64,
                            Load::I8 => bytes[0] as i8 as u64,
                            Load::U16 => u16::from_ne_bytes([bytes[0], bytes[1]]) as u64,
                            Load::I16 => i16::from_ne_bytes([bytes[0], bytes[1]]) as u64,
                            Load::U32 => u32::from_ne_bytes(bytes.try_into().unwrap()) as u64,
                            Load::I32 => i32::from_ne_bytes(bytes.try_into().unwrap()) as u64,
                            Load::U64 => {
                                raw.copy_from_slice(bytes);
                                u64::from_ne_bytes(raw)
                            }
                        };
                        let mut expect = args;
                        expect[dst.index()] = want;
                        assert_eq!(regs, expect, "{kind:?} {dst:?} {base:?} value={value:#x}");
                    }
                }
            }
        }
    }
}

#[test]
fn push_and_pop_every_register() {
    let mut stack = [0u64; 8];
    let top = stack.as_mut_ptr_range().end as u64;
    for src in Reg::ALL {
        for dst in Reg::ALL {
            let args = [10, 20, 30, top];
            let regs = both(&[Insn::Push { src }, Insn::Pop { dst }], args);
            let mut want = args;
            want[dst.index()] = args[src.index()];
            if dst != Reg::SP {
                want[3] = top;
            }
            assert_eq!(regs, want, "push {src:?} pop {dst:?}");
        }
    }
    // Push SP stores the old SP.
    let regs = both(
        &[Insn::Push { src: Reg::SP }, Insn::Pop { dst: Reg::R0 }],
        [0, 0, 0, top],
    );
    assert_eq!(regs, [top, 0, 0, top]);
}

extern "C" fn mix(a: u64, b: u64, c: u64, d: u64) -> u64 {
    a.wrapping_mul(31) ^ b.rotate_left(7) ^ c.wrapping_add(d)
}

#[test]
fn host_calls_every_destination() {
    for dst in Reg::ALL {
        let args = [1, 2, 3, 4];
        let regs = both(&[Insn::CallHost { dst, func: mix }], args);
        let mut want = args;
        want[dst.index()] = mix(1, 2, 3, 4);
        assert_eq!(regs, want);
    }
}

#[test]
fn calls_between_generated_functions() {
    // main: R1 = 5; call square; R0 += R1 (R1 kept by the call); ret
    // square: R0 = R0 * R0; R1 = 77 (callee's change is not seen); ret
    let square = Label(0);
    let p = [
        Insn::MovImm {
            dst: Reg::R1,
            imm: 5,
        },
        Insn::Call { target: square },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::Ret,
        Insn::Bind(square),
        Insn::Bin {
            op: BinOp::Mul,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R0,
        },
        Insn::MovImm {
            dst: Reg::R1,
            imm: 77,
        },
        Insn::Ret,
    ];
    assert_eq!(jit(&p, [9, 0, 0, 0]), Ok(86));
    assert_eq!(interp(&p, [9, 0, 0, 0]), Ok(86));
}

#[test]
fn recursion_through_calls() {
    // fib(n) with the stack for the saved argument.
    let fib = Label(0);
    let base = Label(1);
    let p = [
        Insn::Call { target: fib },
        Insn::Ret,
        Insn::Bind(fib),
        Insn::BranchImm {
            cond: Cond::ULt,
            lhs: Reg::R0,
            imm: 2,
            target: base,
        },
        Insn::Push { src: Reg::R0 },
        Insn::BinImm {
            op: BinOp::Sub,
            dst: Reg::R0,
            lhs: Reg::R0,
            imm: 1,
        },
        Insn::Call { target: fib },
        Insn::Pop { dst: Reg::R1 },
        Insn::Push { src: Reg::R0 },
        Insn::BinImm {
            op: BinOp::Sub,
            dst: Reg::R0,
            lhs: Reg::R1,
            imm: 2,
        },
        Insn::Call { target: fib },
        Insn::Pop { dst: Reg::R1 },
        Insn::Bin {
            op: BinOp::Add,
            dst: Reg::R0,
            lhs: Reg::R0,
            rhs: Reg::R1,
        },
        Insn::Bind(base),
        Insn::Ret,
    ];
    let mut stack = vec![0u64; 4096];
    let sp = stack.as_mut_ptr_range().end as u64;
    assert_eq!(jit(&p, [20, 0, 0, sp]), Ok(6765));
    assert_eq!(interp(&p, [20, 0, 0, sp]), Ok(6765));
}

#[test]
fn nop_does_nothing() {
    assert_eq!(both(&[Insn::Nop, Insn::Nop], [1, 2, 3, 4]), [1, 2, 3, 4]);
}

#[test]
fn labels_beyond_capacity_are_errors() {
    let far = Label(LABELS as u16);
    let p = [Insn::Jump { target: far }, Insn::Bind(far)];
    assert_eq!(jit(&p, [0; 4]), Err(copyjit::Error::LabelOutOfRange(far)));
    assert_eq!(
        interp(&p, [0; 4]),
        Err(copyjit::Error::LabelOutOfRange(far))
    );
}
