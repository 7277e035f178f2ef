//! From cBPF to copyjit instructions.
//!
//! # Registers and memory
//!
//! | register | holds |
//! |---|---|
//! | `R0` | A, always zero-extended from 32 bits; the return value |
//! | `R1` | a temporary, which may hold a copy of X (see below) |
//! | `R2` | the packet's first byte |
//! | `R3` | the [`Context`](crate::run::Context): scratch memory `M[0..16]`, X, the captured and wire lengths |
//!
//! X lives in the context. The translation remembers when `R1` still holds
//! it, so a load of X right after `ldx` or another use of X costs nothing;
//! and which captured length earlier checks proved, so a packet load at a
//! constant offset below it needs no check. Both facts follow the forward
//! jumps and meet at their targets; a target of a backward jump starts from
//! nothing known.
//!
//! # Semantics (libpcap 1.10 `bpf_filter`)
//!
//! - 32-bit arithmetic wraps: `add`, `sub`, `mul` and `lsh` by a constant
//!   are copyjit's 32-bit forms (`add32` ...), and `neg` is `mul32` by
//!   `0xffff_ffff`; by X they are followed by an `and` with `0xffff_ffff`.
//!   The others cannot set the upper half of a zero-extended A.
//! - Packet loads are copyjit's big-endian loads (`load.be16`,
//!   `load.be32`), which work at any alignment on any target. Each is
//!   checked against the captured length first, in 64-bit arithmetic, so
//!   `X + k` never wraps: an access past the captured bytes returns 0 from
//!   the filter (label `L0`). A load at a constant offset is checked by one
//!   branch on the length in the context (`BranchMem`).
//! - Division and modulo by X = 0 return 0 from the filter.
//! - `lsh x` and `rsh x` with X ≥ 32 leave A = 0 (copyjit shifts by the count
//!   modulo 64, which gives 0 for 32 to 63 on a zero-extended A; 64 and more
//!   are tested for).
//!
//! Where libpcap is undefined, this translation defines:
//! - `lsh #k` and `rsh #k` with k ≥ 32 (undefined in C) leave A = 0, as the
//!   same shifts by X do.
//! - Reading an `M[k]` that was never written gives 0 (libpcap reads an
//!   uninitialised stack word).

use crate::filter::Filter;
use crate::instruction::op;
use crate::run::Context;
use copyjit::{BinOp, BinOp32, Cond, Insn, Label, Load, Reg, Width};

/// A (`R0`).
const RA: Reg = Reg::R0;
/// The temporary (`R1`).
const RT: Reg = Reg::R1;
/// The packet pointer (`R2`).
const RP: Reg = Reg::R2;
/// The context pointer (`R3`).
const RC: Reg = Reg::R3;

/// The low 32 bits.
const MASK: u64 = 0xffff_ffff;

/// The label every out-of-bounds load and division by zero jumps to: bound
/// to the program's first `ret #0` if it has one (tcpdump's filters all
/// do), else to a `ret imm 0` after the program.
const RETURN_ZERO: Label = Label(0);

/// The most copyjit instructions one cBPF instruction becomes, [`Insn::Bind`]s
/// included (`ld [x + k]`: a bind and 6 instructions).
pub const MAX_PER_INSN: usize = 7;
/// The most instructions after the last cBPF instruction (return 0).
pub(crate) const MAX_TAIL: usize = 2;

/// The copyjit instructions of one cBPF instruction.
#[derive(Clone, Copy)]
struct Chunk {
    insns: [Insn; MAX_PER_INSN],
    len: usize,
}

impl Chunk {
    const EMPTY: Chunk = Chunk {
        insns: [Insn::Nop; MAX_PER_INSN],
        len: 0,
    };

    fn push(&mut self, insn: Insn) {
        // MAX_PER_INSN bounds every chunk; a longer one is a bug in this
        // file, caught by the tests that translate every opcode.
        self.insns[self.len] = insn;
        self.len += 1;
    }
}

/// What is known on every path into a label so far.
#[derive(Clone, Copy)]
struct Incoming {
    /// A lower bound of the captured length (see `Translation::caplen_at_least`).
    caplen_at_least: u16,
    /// Whether `R1` holds X.
    x_in_t: bool,
}

impl Incoming {
    /// No path seen yet: the identity of the meet.
    const NONE: Incoming = Incoming {
        caplen_at_least: u16::MAX,
        x_in_t: true,
    };
}

/// The translation of a [`Filter`], one copyjit instruction at a time
/// ([`Filter::translation`]).
///
/// Two facts flow along the program's forward edges and meet at labels, so
/// that checks and loads already done on every path are not done again: a
/// lower bound of the captured length (from the packet loads that passed
/// their check) and whether `R1` still holds X. A target of a backward jump
/// starts from nothing known.
pub struct Translation<'f, 'p, const LABELS: usize> {
    filter: &'f Filter<'p, LABELS>,
    /// What the jumps seen so far bring to each label.
    incoming: [Incoming; LABELS],
    /// The captured length is at least this here (clamped to 16 bits).
    caplen_at_least: u16,
    /// Whether the instruction being translated can fall through to the next.
    falls: bool,
    /// The next cBPF instruction to translate.
    pc: usize,
    chunk: Chunk,
    /// The next instruction of `chunk` to hand out.
    next: usize,
    /// Whether `R1` holds X.
    x_in_t: bool,
    /// The next label for the translation's own use.
    next_label: u16,
    /// Whether anything jumps to [`RETURN_ZERO`].
    return_zero_used: bool,
    /// Whether [`RETURN_ZERO`] is bound (to the program's `ret #0`).
    return_zero_bound: bool,
    /// Whether the tail has been produced.
    done: bool,
}

fn load(kind: Load, dst: Reg, base: Reg, offset: i64) -> Insn {
    Insn::Load {
        kind,
        dst,
        base,
        offset,
    }
}

fn store(src: Reg, offset: i64) -> Insn {
    Insn::Store {
        width: Width::W64,
        src,
        base: RC,
        offset,
    }
}

fn bin(op: BinOp, dst: Reg, rhs: Reg) -> Insn {
    Insn::Bin {
        op,
        dst,
        lhs: dst,
        rhs,
    }
}

fn bin_imm(op: BinOp, dst: Reg, imm: u64) -> Insn {
    Insn::BinImm {
        op,
        dst,
        lhs: dst,
        imm,
    }
}

/// The offset of `M[k]` in the context.
fn scratch(k: u32) -> i64 {
    Context::MEM + 8 * i64::from(k)
}

/// The right operand of a conditional jump.
#[derive(Clone, Copy)]
enum Rhs {
    Reg(Reg),
    Imm(u64),
}

impl<'f, 'p, const LABELS: usize> Translation<'f, 'p, LABELS> {
    pub(crate) fn new(filter: &'f Filter<'p, LABELS>) -> Self {
        Translation {
            filter,
            incoming: [Incoming::NONE; LABELS],
            caplen_at_least: 0,
            falls: true,
            pc: 0,
            chunk: Chunk::EMPTY,
            next: 0,
            // The runners enter with R1 = X = 0.
            x_in_t: true,
            next_label: filter.first_internal_label(),
            return_zero_used: false,
            return_zero_bound: false,
            done: false,
        }
    }

    fn emit(&mut self, insn: Insn) {
        self.chunk.push(insn);
    }

    /// Jumps to [`RETURN_ZERO`] when `lhs cond rhs`.
    fn fail_if(&mut self, cond: Cond, lhs: Reg, rhs: Rhs) {
        self.return_zero_used = true;
        self.emit(branch(cond, lhs, rhs, RETURN_ZERO));
    }

    /// Returns 0 from the filter unless the captured length is at least
    /// `end` (the end of a packet load at a constant offset): one branch on
    /// the length in the context, no register touched; nothing when a check
    /// on every path here already proved it.
    fn check_caplen(&mut self, end: u64) {
        if end <= u64::from(self.caplen_at_least) {
            return;
        }
        self.return_zero_used = true;
        self.emit(Insn::BranchMem {
            cond: Cond::ULt,
            base: RC,
            offset: Context::CAPLEN,
            imm: end,
            target: RETURN_ZERO,
        });
        self.caplen_at_least = end.min(u64::from(u16::MAX)) as u16;
    }

    /// A jump (taken or not) to instruction `to` carries what is known here.
    fn edge(&mut self, to: usize) -> Label {
        let label = self.filter.label(to);
        let incoming = &mut self.incoming[usize::from(label.0)];
        incoming.caplen_at_least = incoming.caplen_at_least.min(self.caplen_at_least);
        incoming.x_in_t &= self.x_in_t;
        label
    }

    /// Puts X into `R1`, unless it is there already.
    fn x_to_t(&mut self) {
        if !self.x_in_t {
            self.emit(load(Load::U64, RT, RC, Context::X));
            self.x_in_t = true;
        }
    }

    /// Sets X from `R1` (which then holds it).
    fn t_to_x(&mut self) {
        self.emit(store(RT, Context::X));
        self.x_in_t = true;
    }

    /// `R1` no longer holds X.
    fn clobber_t(&mut self) {
        self.x_in_t = false;
    }

    /// A = the `size`-byte big-endian value at `[base + offset]`.
    fn load_be(&mut self, size: u32, base: Reg, offset: i64) {
        let kind = match size {
            1 => Load::U8,
            2 => Load::Be16,
            _ => Load::Be32,
        };
        self.emit(load(kind, RA, base, offset));
    }

    /// A conditional jump: to `jt` when `lhs cond rhs`, else to `jf`
    /// (absolute indexes), falling through where one is the next instruction.
    fn jump(&mut self, cond: Cond, inverse: Cond, lhs: Reg, rhs: Rhs, jt: usize, jf: usize) {
        let next = self.pc + 1;
        if jt == jf {
            self.goto(jt);
        } else if jf == next {
            let target = self.edge(jt);
            self.emit(branch(cond, lhs, rhs, target));
        } else if jt == next {
            let target = self.edge(jf);
            self.emit(branch(inverse, lhs, rhs, target));
        } else {
            let target = self.edge(jt);
            self.emit(branch(cond, lhs, rhs, target));
            self.goto(jf);
        }
    }

    /// An unconditional jump to instruction `to`, unless it is the next one.
    fn goto(&mut self, to: usize) {
        if to != self.pc + 1 {
            let target = self.edge(to);
            self.emit(Insn::Jump { target });
            self.falls = false;
        }
    }

    /// Translates instruction `self.pc` into `self.chunk`.
    fn lower(&mut self) {
        use op::*;
        let pc = self.pc;
        let insn = self.filter.program()[pc];
        let k = insn.k;
        let k64 = u64::from(k);
        let next = pc + 1;
        self.chunk.len = 0;
        if self.filter.is_target(pc) {
            let label = self.filter.label(pc);
            self.emit(Insn::Bind(label));
            let incoming = self.incoming[usize::from(label.0)];
            if self.filter.is_backward_target(pc) {
                self.caplen_at_least = 0;
                self.x_in_t = false;
            } else if self.falls {
                self.caplen_at_least = self.caplen_at_least.min(incoming.caplen_at_least);
                self.x_in_t &= incoming.x_in_t;
            } else {
                self.caplen_at_least = incoming.caplen_at_least;
                self.x_in_t = incoming.x_in_t;
            }
        }
        self.falls = true;
        let code = insn.code;
        match code {
            c if c == RET | K => {
                if self.filter.is_zero_return(pc) {
                    self.emit(Insn::Bind(RETURN_ZERO));
                    self.return_zero_bound = true;
                }
                self.emit(Insn::RetImm { imm: k64 });
                self.falls = false;
            }
            c if c == RET | A => {
                self.emit(Insn::Ret);
                self.falls = false;
            }

            // Absolute loads: a check (unless proven), then the load.
            c if c == LD | B | ABS || c == LD | H | ABS || c == LD | W | ABS => {
                let size: u32 = match c & 0x18 {
                    B => 1,
                    H => 2,
                    _ => 4,
                };
                self.check_caplen(k64 + u64::from(size));
                self.load_be(size, RP, i64::from(k));
            }

            // Indexed loads: X + k + size > caplen, in 64 bits, is
            // X > caplen - (k + size) as signed numbers (X is below 2^32,
            // the difference above -2^33), so A holds the difference and R1
            // keeps X; then A = the packet + X, and the load.
            c if c == LD | B | IND || c == LD | H | IND || c == LD | W | IND => {
                let size: u32 = match c & 0x18 {
                    B => 1,
                    H => 2,
                    _ => 4,
                };
                self.x_to_t();
                self.emit(load(Load::U64, RA, RC, Context::CAPLEN));
                self.emit(bin_imm(BinOp::Sub, RA, k64 + u64::from(size)));
                self.fail_if(Cond::SGt, RT, Rhs::Reg(RA));
                self.emit(Insn::Bin {
                    op: BinOp::Add,
                    dst: RA,
                    lhs: RT,
                    rhs: RP,
                });
                self.load_be(size, RA, i64::from(k));
                // X + k + size fitted, so k + size does.
                let end = (k64 + u64::from(size)).min(u64::from(u16::MAX)) as u16;
                self.caplen_at_least = self.caplen_at_least.max(end);
            }
            c if c == LDX | B | MSH => {
                self.check_caplen(k64 + 1);
                self.emit(load(Load::U8, RT, RP, i64::from(k)));
                self.clobber_t();
                self.emit(bin_imm(BinOp::And, RT, 0xf));
                self.emit(bin_imm(BinOp::Shl, RT, 2));
                self.t_to_x();
            }
            c if c == LD | W | LEN => self.emit(load(Load::U64, RA, RC, Context::WIRELEN)),
            c if c == LDX | W | LEN => {
                self.emit(load(Load::U64, RT, RC, Context::WIRELEN));
                self.t_to_x();
            }
            c if c == LD | W | IMM => self.emit(Insn::MovImm { dst: RA, imm: k64 }),
            c if c == LDX | W | IMM => {
                self.emit(Insn::MovImm { dst: RT, imm: k64 });
                self.t_to_x();
            }
            c if c == LD | W | MEM => self.emit(load(Load::U64, RA, RC, scratch(k))),
            c if c == LDX | W | MEM => {
                self.emit(load(Load::U64, RT, RC, scratch(k)));
                self.t_to_x();
            }
            c if c == ST => self.emit(store(RA, scratch(k))),
            c if c == STX => {
                self.x_to_t();
                self.emit(store(RT, scratch(k)));
            }

            c if c == JMP | JA => {
                // Validation made `pc + 1 + k` (32-bit wrapping) an index.
                let to = (next as u32).wrapping_add(k) as usize;
                self.goto(to);
            }
            c if class(c) == JMP => {
                let (cond, inverse) = match c & 0xf0 {
                    JEQ => (Cond::Eq, Cond::Ne),
                    JGT => (Cond::UGt, Cond::ULe),
                    JGE => (Cond::UGe, Cond::ULt),
                    // `jset`: A & (X or k) is not zero.
                    _ => (Cond::Test, Cond::NotTest),
                };
                let jt = next + usize::from(insn.jt);
                let jf = next + usize::from(insn.jf);
                let rhs = if c & X != 0 {
                    self.x_to_t();
                    Rhs::Reg(RT)
                } else {
                    Rhs::Imm(k64)
                };
                self.jump(cond, inverse, RA, rhs, jt, jf);
            }

            // -A = A * (2^32 - 1) modulo 2^32.
            c if c == ALU | NEG => self.emit(Insn::BinImm32 {
                op: BinOp32::Mul32,
                dst: RA,
                lhs: RA,
                imm: MASK,
            }),
            c if class(c) == ALU => self.alu(c & 0xf0, c & X != 0, k),

            c if c == MISC | TAX => {
                self.emit(store(RA, Context::X));
                self.clobber_t();
            }
            c if c == MISC | TXA => {
                if self.x_in_t {
                    self.emit(Insn::Mov { dst: RA, src: RT });
                } else {
                    self.emit(load(Load::U64, RA, RC, Context::X));
                }
            }
            // Validation admits no other opcode.
            _ => self.emit(Insn::Ret),
        }
    }

    /// `A = A op (X or k)`.
    fn alu(&mut self, operation: u16, by_x: bool, k: u32) {
        use op::*;
        let binop = match operation {
            ADD => BinOp::Add,
            SUB => BinOp::Sub,
            MUL => BinOp::Mul,
            DIV => BinOp::UDiv,
            MOD => BinOp::URem,
            AND => BinOp::And,
            OR => BinOp::Or,
            XOR => BinOp::Xor,
            LSH => BinOp::Shl,
            _ => BinOp::Shr,
        };
        let wraps = matches!(operation, ADD | SUB | MUL | LSH);
        if by_x {
            self.x_to_t();
            if matches!(operation, DIV | MOD) {
                self.fail_if(Cond::Eq, RT, Rhs::Imm(0));
            }
            self.emit(bin(binop, RA, RT));
            if wraps {
                self.emit(bin_imm(BinOp::And, RA, MASK));
            }
            if matches!(operation, LSH | RSH) {
                // Counts of 64 and more wrapped modulo 64: A = 0 instead.
                let done = Label(self.next_label);
                self.next_label += 1;
                self.emit(branch(Cond::ULt, RT, Rhs::Imm(64), done));
                self.emit(Insn::MovImm { dst: RA, imm: 0 });
                self.emit(Insn::Bind(done));
            }
        } else if matches!(operation, LSH | RSH) && k >= 32 {
            self.emit(Insn::MovImm { dst: RA, imm: 0 });
        } else {
            let wrapping = match operation {
                ADD => Some(BinOp32::Add32),
                SUB => Some(BinOp32::Sub32),
                MUL => Some(BinOp32::Mul32),
                LSH => Some(BinOp32::Shl32),
                _ => None,
            };
            self.emit(match wrapping {
                Some(op) => Insn::BinImm32 {
                    op,
                    dst: RA,
                    lhs: RA,
                    imm: u64::from(k),
                },
                None => bin_imm(binop, RA, u64::from(k)),
            });
        }
    }
}

fn branch(cond: Cond, lhs: Reg, rhs: Rhs, target: Label) -> Insn {
    match rhs {
        Rhs::Reg(rhs) => Insn::Branch {
            cond,
            lhs,
            rhs,
            target,
        },
        Rhs::Imm(imm) => Insn::BranchImm {
            cond,
            lhs,
            imm,
            target,
        },
    }
}

impl<const LABELS: usize> Translation<'_, '_, LABELS> {
    /// The copyjit instructions of the next cBPF instruction (or of the
    /// tail after the last), at most [`MAX_PER_INSN`]; `None` at the end.
    /// The iterator hands out the same instructions one at a time.
    pub fn next_chunk(&mut self) -> Option<&[Insn]> {
        self.next = self.chunk.len;
        if self.pc < self.filter.program().len() {
            self.lower();
            self.pc += 1;
        } else if !self.done {
            self.done = true;
            self.chunk.len = 0;
            if self.return_zero_used && !self.return_zero_bound {
                self.emit(Insn::Bind(RETURN_ZERO));
                self.emit(Insn::RetImm { imm: 0 });
            }
        } else {
            return None;
        }
        self.next = self.chunk.len;
        Some(&self.chunk.insns[..self.chunk.len])
    }
}

impl<const LABELS: usize> Iterator for Translation<'_, '_, LABELS> {
    type Item = Insn;

    fn next(&mut self) -> Option<Insn> {
        while self.next == self.chunk.len {
            self.next_chunk()?;
            self.next = 0;
        }
        self.next += 1;
        Some(self.chunk.insns[self.next - 1])
    }
}
