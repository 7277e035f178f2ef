//! copyjit instructions to Cranelift IR: one function with the same
//! signature as generated code, `extern "C" fn(R0, R1, R2, R3) -> R0`, the
//! four registers as Cranelift variables, and every instruction with the
//! meaning copyjit gives it (wrapping arithmetic, shifts modulo 64, division
//! by zero defined).

use copyjit::{BinOp, Cond, Insn, Label, Load, Reg, UnOp, Width};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I16, I32, I64};
use cranelift_codegen::ir::{Block, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use std::collections::HashMap;

/// Translates `program` into the function `b` builds, whose signature takes
/// four `i64`s and returns one. Host calls and calls are not translated.
pub fn translate(program: &[Insn], b: &mut FunctionBuilder<'_>) -> Result<(), String> {
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let regs: [Variable; 4] = std::array::from_fn(|_| b.declare_var(I64));
    for (i, &var) in regs.iter().enumerate() {
        let param = b.block_params(entry)[i];
        b.def_var(var, param);
    }
    let mut t = Translator {
        regs,
        labels: HashMap::new(),
    };
    // Whether the current block has ended (after a jump or a return).
    let mut ended = false;
    for insn in program {
        if ended && !matches!(insn, Insn::Bind(_)) {
            // Unreachable code: give it a block of its own.
            let dead = b.create_block();
            b.switch_to_block(dead);
            ended = false;
        }
        match *insn {
            Insn::Bin { op, dst, lhs, rhs } => {
                let (x, y) = (t.get(b, lhs), t.get(b, rhs));
                let v = binary(b, op, x, y);
                t.set(b, dst, v);
            }
            Insn::BinImm { op, dst, lhs, imm } => {
                let x = t.get(b, lhs);
                let y = b.ins().iconst(I64, imm as i64);
                let v = binary(b, op, x, y);
                t.set(b, dst, v);
            }
            Insn::Unary { op, dst, src } => {
                let x = t.get(b, src);
                let v = match op {
                    UnOp::Not => b.ins().bnot(x),
                    UnOp::Neg => b.ins().ineg(x),
                };
                t.set(b, dst, v);
            }
            Insn::Mov { dst, src } => {
                let v = t.get(b, src);
                t.set(b, dst, v);
            }
            Insn::MovImm { dst, imm } => {
                let v = b.ins().iconst(I64, imm as i64);
                t.set(b, dst, v);
            }
            Insn::Branch {
                cond,
                lhs,
                rhs,
                target,
            } => {
                let (x, y) = (t.get(b, lhs), t.get(b, rhs));
                t.branch(b, cond, x, y, target);
            }
            Insn::BranchImm {
                cond,
                lhs,
                imm,
                target,
            } => {
                let x = t.get(b, lhs);
                let y = b.ins().iconst(I64, imm as i64);
                t.branch(b, cond, x, y, target);
            }
            Insn::Jump { target } => {
                let block = t.label(b, target);
                b.ins().jump(block, &[]);
                ended = true;
            }
            Insn::Load {
                kind,
                dst,
                base,
                offset,
            } => {
                let at = t.get(b, base);
                let at = b.ins().iadd_imm_s(at, offset);
                let v = load(b, kind, at);
                t.set(b, dst, v);
            }
            Insn::Store {
                width,
                src,
                base,
                offset,
            } => {
                let v = t.get(b, src);
                let at = t.get(b, base);
                let at = b.ins().iadd_imm_s(at, offset);
                store(b, width, v, at);
            }
            Insn::Push { src } => {
                let v = t.get(b, src);
                let sp = t.get(b, Reg::SP);
                let sp = b.ins().iadd_imm_s(sp, -8);
                t.set(b, Reg::SP, sp);
                store(b, Width::W64, v, sp);
            }
            Insn::Pop { dst } => {
                let sp = t.get(b, Reg::SP);
                let v = load(b, Load::U64, sp);
                let sp = b.ins().iadd_imm_s(sp, 8);
                t.set(b, Reg::SP, sp);
                t.set(b, dst, v);
            }
            Insn::Ret => {
                let r0 = t.get(b, Reg::R0);
                b.ins().return_(&[r0]);
                ended = true;
            }
            Insn::Nop => {}
            Insn::Bind(label) => {
                let block = t.label(b, label);
                if !ended {
                    b.ins().jump(block, &[]);
                }
                b.switch_to_block(block);
                ended = false;
            }
            other => return Err(format!("not translated: {other:?}")),
        }
    }
    if !ended {
        let r0 = t.get(b, Reg::R0);
        b.ins().return_(&[r0]);
    }
    b.seal_all_blocks();
    Ok(())
}

struct Translator {
    regs: [Variable; 4],
    labels: HashMap<u16, Block>,
}

impl Translator {
    fn get(&self, b: &mut FunctionBuilder<'_>, r: Reg) -> Value {
        b.use_var(self.regs[r.index()])
    }

    fn set(&self, b: &mut FunctionBuilder<'_>, r: Reg, v: Value) {
        b.def_var(self.regs[r.index()], v);
    }

    fn label(&mut self, b: &mut FunctionBuilder<'_>, l: Label) -> Block {
        *self.labels.entry(l.0).or_insert_with(|| b.create_block())
    }

    /// Ends the block with a two-way branch and continues in a new one.
    fn branch(&mut self, b: &mut FunctionBuilder<'_>, cond: Cond, x: Value, y: Value, l: Label) {
        let taken = self.label(b, l);
        let next = b.create_block();
        let c = match cond {
            // `x & y != 0` and `x & y == 0`.
            Cond::Test | Cond::NotTest => {
                let both = b.ins().band(x, y);
                let cc = if cond == Cond::Test {
                    IntCC::NotEqual
                } else {
                    IntCC::Equal
                };
                b.ins().icmp_imm_u(cc, both, 0)
            }
            _ => b.ins().icmp(condition(cond), x, y),
        };
        b.ins().brif(c, taken, &[], next, &[]);
        b.switch_to_block(next);
    }
}

fn condition(cond: Cond) -> IntCC {
    match cond {
        Cond::Eq => IntCC::Equal,
        Cond::Ne => IntCC::NotEqual,
        Cond::ULt => IntCC::UnsignedLessThan,
        Cond::ULe => IntCC::UnsignedLessThanOrEqual,
        Cond::UGt => IntCC::UnsignedGreaterThan,
        Cond::UGe => IntCC::UnsignedGreaterThanOrEqual,
        Cond::SLt => IntCC::SignedLessThan,
        Cond::SLe => IntCC::SignedLessThanOrEqual,
        Cond::SGt => IntCC::SignedGreaterThan,
        Cond::SGe => IntCC::SignedGreaterThanOrEqual,
        // Handled by `branch` with an `and` first.
        Cond::Test => IntCC::NotEqual,
        Cond::NotTest => IntCC::Equal,
    }
}

/// `x op y` with copyjit's meaning: Cranelift's shifts already take the
/// amount modulo 64; divisions get a divisor that cannot trap, and their
/// defined results for a zero divisor (and `i64::MIN / -1`) are selected.
fn binary(b: &mut FunctionBuilder<'_>, op: BinOp, x: Value, y: Value) -> Value {
    match op {
        BinOp::Add => b.ins().iadd(x, y),
        BinOp::Sub => b.ins().isub(x, y),
        BinOp::Mul => b.ins().imul(x, y),
        BinOp::And => b.ins().band(x, y),
        BinOp::Or => b.ins().bor(x, y),
        BinOp::Xor => b.ins().bxor(x, y),
        BinOp::Shl => b.ins().ishl(x, y),
        BinOp::Shr => b.ins().ushr(x, y),
        BinOp::Sar => b.ins().sshr(x, y),
        BinOp::UDiv | BinOp::URem | BinOp::SDiv | BinOp::SRem => {
            let zero = b.ins().iconst(I64, 0);
            let one = b.ins().iconst(I64, 1);
            let by_zero = b.ins().icmp_imm_s(IntCC::Equal, y, 0);
            // Signed division by -1 is negation (and the remainder is 0):
            // dividing by 1 instead avoids the i64::MIN / -1 trap.
            let by_minus_one = b.ins().icmp_imm_s(IntCC::Equal, y, -1);
            let avoid = if matches!(op, BinOp::SDiv | BinOp::SRem) {
                b.ins().bor(by_zero, by_minus_one)
            } else {
                by_zero
            };
            let d = b.ins().select(avoid, one, y);
            match op {
                BinOp::UDiv => {
                    let q = b.ins().udiv(x, d);
                    b.ins().select(by_zero, zero, q)
                }
                BinOp::URem => {
                    let r = b.ins().urem(x, d);
                    b.ins().select(by_zero, x, r)
                }
                BinOp::SDiv => {
                    let q = b.ins().sdiv(x, d);
                    let minus = b.ins().ineg(x);
                    let q = b.ins().select(by_minus_one, minus, q);
                    b.ins().select(by_zero, zero, q)
                }
                _ => {
                    let r = b.ins().srem(x, d);
                    let r = b.ins().select(by_minus_one, zero, r);
                    b.ins().select(by_zero, x, r)
                }
            }
        }
    }
}

fn load(b: &mut FunctionBuilder<'_>, kind: Load, at: Value) -> Value {
    let f = MemFlagsData::new();
    match kind {
        Load::U8 => b.ins().uload8(I64, f, at, 0),
        Load::U16 => b.ins().uload16(I64, f, at, 0),
        Load::U32 => b.ins().uload32(f, at, 0),
        Load::U64 => b.ins().load(I64, f, at, 0),
        Load::I8 => b.ins().sload8(I64, f, at, 0),
        Load::I16 => b.ins().sload16(I64, f, at, 0),
        Load::I32 => b.ins().sload32(f, at, 0),
        // Big-endian: a native load, byte-swapped on a little-endian host,
        // zero-extended.
        Load::Be16 => {
            let v = b.ins().load(I16, f, at, 0);
            let v = big_endian(b, v);
            b.ins().uextend(I64, v)
        }
        Load::Be32 => {
            let v = b.ins().load(I32, f, at, 0);
            let v = big_endian(b, v);
            b.ins().uextend(I64, v)
        }
        Load::Be64 => {
            let v = b.ins().load(I64, f, at, 0);
            big_endian(b, v)
        }
    }
}

/// `v`, loaded in the host's byte order, as a big-endian value.
fn big_endian(b: &mut FunctionBuilder<'_>, v: Value) -> Value {
    if cfg!(target_endian = "little") {
        b.ins().bswap(v)
    } else {
        v
    }
}

fn store(b: &mut FunctionBuilder<'_>, width: Width, v: Value, at: Value) {
    let f = MemFlagsData::new();
    match width {
        Width::W8 => b.ins().istore8(f, v, at, 0),
        Width::W16 => b.ins().istore16(f, v, at, 0),
        Width::W32 => b.ins().istore32(f, v, at, 0),
        Width::W64 => b.ins().store(f, v, at, 0),
    };
}
