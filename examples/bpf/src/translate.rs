//! From cBPF to copyjit instructions.
//!
//! # Registers and memory
//!
//! | register | holds |
//! |---|---|
//! | `R0` | A, always zero-extended from 32 bits; the return value |
//! | `R1` | X, always zero-extended from 32 bits |
//! | `R2` | the packet's first byte |
//! | `R3` | the captured length; or, for a program that uses scratch memory or `len`, the [`Context`](crate::run::Context) (scratch memory `M[0..16]`, the captured and wire lengths) |
//!
//! A program that touches neither scratch memory nor the length on the
//! wire (most of what tcpdump compiles) needs nothing in memory: a call is
//! four registers, and a bounds check one compare of `R3` with an
//! immediate. The others find the lengths and `M[]` in a context on the
//! runner's stack ([`Filter::needs_context`]).
//!
//! The translation remembers which captured length earlier checks proved,
//! so a packet load at a constant offset below it needs no check. That fact
//! follows the forward jumps and meets at their targets; a target of a
//! backward jump starts from nothing known.
//!
//! A check may also check more than its own load needs: as much as every
//! packet the program can still accept needs (a captured length below
//! that is rejected whichever way the program goes), so that one check
//! near the top covers the loads below it (`Translation::need`).
//!
//! A jump to a `ret` becomes that `ret` (a return is shorter and faster than
//! copyjit's jump, which goes through a slot); a conditional jump whose
//! targets are both elsewhere branches to one and returns in place of a
//! jump to the other when it is a `ret`.
//!
//! # Semantics (libpcap 1.10 `bpf_filter`)
//!
//! - 32-bit arithmetic wraps: `add`, `sub` and `mul` by a constant are
//!   copyjit's 32-bit forms (`add32` ...), `lsh #k` is `mul32` by 2^k
//!   (one machine instruction on x86_64, where a shift by an immediate
//!   from a slot is several), and `neg` is `mul32` by `0xffff_ffff`; by X
//!   they are followed by an `and` with `0xffff_ffff`. The others cannot
//!   set the upper half of a zero-extended A. An operation that leaves A
//!   as it is (`add #0`, `mul #1`, `and #0xffffffff` ...) is left out.
//! - Packet loads are copyjit's big-endian loads (`load.be16`,
//!   `load.be32`), which work at any alignment on any target. Each is
//!   checked against the captured length first, in 64-bit arithmetic, so
//!   `X + k` never wraps: an access past the captured bytes returns 0 from
//!   the filter (label `L0`). A load at a constant offset is checked by one
//!   branch on `R3` (or on the length in the context, `BranchMem`).
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
/// X (`R1`).
const RX: Reg = Reg::R1;
/// The packet pointer (`R2`).
const RP: Reg = Reg::R2;
/// The captured length, or the context pointer (`R3`).
const RC: Reg = Reg::R3;

/// The low 32 bits.
const MASK: u64 = 0xffff_ffff;

/// The label every out-of-bounds load and division by zero jumps to: bound
/// to the program's first `ret #0` if it has one (tcpdump's filters all
/// do), else to a `ret imm 0` after the program.
const RETURN_ZERO: Label = Label(0);

/// A bound of the copyjit instructions one cBPF instruction becomes,
/// [`Insn::Bind`]s included (6 today: `ld [x + k]` with a context is a bind
/// and 5 instructions, `lsh x` a bind, 4 instructions and an internal bind).
pub const MAX_PER_INSN: usize = 7;
/// The most instructions whose need [`Translation::fill_stretch`] keeps.
const STRETCH: usize = 32;

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

/// What is known on every path into a label so far: a lower bound of the
/// captured length (see `Translation::caplen_at_least`); `u16::MAX`, the
/// identity of the meet, while no path has been seen.
type Incoming = u16;

/// The translation of a [`Filter`], one copyjit instruction at a time
/// ([`Filter::translation`]).
///
/// A lower bound of the captured length (from the packet loads that passed
/// their check) flows along the program's forward edges and meets at
/// labels, so that checks already done on every path are not done again. A
/// target of a backward jump starts from nothing known.
pub struct Translation<'f, 'p, const LABELS: usize> {
    filter: &'f Filter<'p, LABELS>,
    /// What the jumps seen so far bring to each label.
    incoming: [Incoming; LABELS],
    /// For each jump target's label, the captured length that every packet
    /// the program can accept from there has ([`Translation::need`]).
    need: [u16; LABELS],
    /// The needs of the instructions from `stretch_start`, as many as
    /// `stretch_len` ([`Translation::fill_stretch`]).
    stretch: [u16; STRETCH],
    stretch_start: usize,
    stretch_len: usize,
    /// The captured length is at least this here (clamped to 16 bits).
    caplen_at_least: u16,
    /// Whether the instruction being translated can fall through to the next.
    falls: bool,
    /// The next cBPF instruction to translate.
    pc: usize,
    chunk: Chunk,
    /// The next instruction of `chunk` to hand out.
    next: usize,
    /// Whether `R3` points to the context (else it holds the captured length).
    context: bool,
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

/// Stores `src` to the context at `offset`.
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
        let mut translation = Translation {
            filter,
            incoming: [u16::MAX; LABELS],
            need: [0; LABELS],
            stretch: [0; STRETCH],
            stretch_start: 0,
            stretch_len: 0,
            caplen_at_least: 0,
            falls: true,
            pc: 0,
            chunk: Chunk::EMPTY,
            next: 0,
            context: filter.needs_context(),
            next_label: filter.first_internal_label(),
            return_zero_used: false,
            return_zero_bound: false,
            done: false,
        };
        translation.find_needs();
        translation
    }

    /// Fills [`Translation::need`] for every jump target, in one pass from
    /// the last instruction to the first. A program with a backward jump
    /// keeps 0 everywhere: it may loop forever where libpcap does, so no
    /// check may return earlier than the program would.
    fn find_needs(&mut self) {
        if self.filter.has_backward_jump() {
            return;
        }
        // The need of instruction `pc + 1`, and the label of the jump
        // target after `pc` (targets are numbered in order from 1).
        let (mut after, mut label) = (0, usize::from(self.filter.first_internal_label()));
        for pc in (0..self.filter.program().len()).rev() {
            after = self.need_step(pc, after);
            if self.filter.is_target(pc) {
                label -= 1;
                self.need[label] = after;
            }
        }
    }

    /// The need of instruction `pc`, from the need of `pc + 1` (`after`)
    /// and of the labels after it.
    fn need_step(&self, pc: usize, after: u16) -> u16 {
        let need_of = |to: usize| {
            if to == pc + 1 {
                after
            } else {
                self.need[usize::from(self.filter.label(to).0)]
            }
        };
        match Step::of(self.filter.program()[pc], pc) {
            Step::Return { accepts: true } => 0,
            Step::Return { accepts: false } => u16::MAX,
            Step::Load { end } => end.max(after),
            Step::Other => after,
            Step::Jump { to } => need_of(to),
            Step::Branch { jt, jf } => need_of(jt).min(need_of(jf)),
        }
    }

    /// A lower bound of the captured length of every packet the program
    /// accepts (returns other than 0 for) from instruction `pc` on: on
    /// every path from there to a `ret` other than `ret #0`, some packet
    /// load ends at least there. A packet shorter than that is rejected
    /// whichever way it goes (by a `ret #0` or a failed load), so a bounds
    /// check at `pc` may as well check this much, and spare the checks of
    /// the loads after it. `u16::MAX` when every path returns 0; 0 when
    /// the program has a backward jump.
    ///
    /// [`Translation::find_needs`] kept it for jump targets only; for the
    /// others it is worked out, and kept, for the stretch of code from `pc`
    /// that falls through to the next jump target.
    fn need(&mut self, pc: usize) -> u16 {
        if self.filter.has_backward_jump() {
            return 0;
        }
        if !(self.stretch_start..self.stretch_start + self.stretch_len).contains(&pc) {
            self.fill_stretch(pc);
        }
        self.stretch[pc - self.stretch_start]
    }

    /// Works out the needs of the instructions from `pc` up to the next
    /// jump target or through the first that does not fall through, at
    /// most [`STRETCH`] of them (the need after a longer stretch is taken
    /// as 0, a lower bound).
    fn fill_stretch(&mut self, pc: usize) {
        let program = self.filter.program();
        let mut end = pc + 1;
        while end - pc < STRETCH
            && end < program.len()
            && !self.filter.is_target(end)
            && Step::of(program[end - 1], end - 1).falls_through(end - 1)
        {
            end += 1;
        }
        let mut after = if end < program.len() && self.filter.is_target(end) {
            self.need[usize::from(self.filter.label(end).0)]
        } else {
            0
        };
        for at in (pc..end).rev() {
            after = self.need_step(at, after);
            self.stretch[at - pc] = after;
        }
        self.stretch_start = pc;
        self.stretch_len = end - pc;
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
    /// `R3`, or on the length in the context, no register touched; nothing
    /// when a check on every path here already proved it.
    fn check_caplen(&mut self, end: u64) {
        if end <= u64::from(self.caplen_at_least) {
            return;
        }
        // What every packet accepted from here needs (at least `end`).
        let end = end.max(u64::from(self.need(self.pc)));
        if self.context {
            self.return_zero_used = true;
            self.emit(Insn::BranchMem {
                cond: Cond::ULt,
                base: RC,
                offset: Context::CAPLEN,
                imm: end,
                target: RETURN_ZERO,
            });
        } else {
            self.fail_if(Cond::ULt, RC, Rhs::Imm(end));
        }
        self.caplen_at_least = end.min(u64::from(u16::MAX)) as u16;
    }

    /// A jump (taken or not) to instruction `to` carries what is known here.
    fn edge(&mut self, to: usize) -> Label {
        let label = self.filter.label(to);
        let incoming = &mut self.incoming[usize::from(label.0)];
        *incoming = (*incoming).min(self.caplen_at_least);
        label
    }

    /// The return instruction `pc` is, if it is one.
    fn ret_at(&self, pc: usize) -> Option<Insn> {
        let insn = self.filter.program()[pc];
        match insn.code {
            c if c == op::RET | op::K => Some(Insn::RetImm {
                imm: u64::from(insn.k),
            }),
            c if c == op::RET | op::A => Some(Insn::Ret),
            _ => None,
        }
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
        } else if matches!(
            (self.ret_at(jt), self.ret_at(jf)),
            (Some(_), None) | (Some(Insn::RetImm { imm: 0 }), Some(_))
        ) {
            // Neither target is next: the branch goes to one and `goto`
            // copies the `ret` at the other, here `jt`'s. When both return,
            // the `ret #0` is the copy (most packets are rejected, and a
            // branch not taken is cheaper).
            let target = self.edge(jf);
            self.emit(branch(inverse, lhs, rhs, target));
            self.goto(jt);
        } else {
            let target = self.edge(jt);
            self.emit(branch(cond, lhs, rhs, target));
            self.goto(jf);
        }
    }

    /// An unconditional jump to instruction `to`, unless it is the next one;
    /// a `ret` there is copied instead.
    fn goto(&mut self, to: usize) {
        if to != self.pc + 1 {
            if let Some(ret) = self.ret_at(to) {
                self.emit(ret);
            } else {
                let target = self.edge(to);
                self.emit(Insn::Jump { target });
            }
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
            } else if self.falls {
                self.caplen_at_least = self.caplen_at_least.min(incoming);
            } else {
                // Reached by jumps only (`u16::MAX` if by none: a `ret`
                // whose jumps all became copies of it).
                self.caplen_at_least = incoming;
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

            // Indexed loads: the check in 64 bits (X is below 2^32, k +
            // size below 2^33, so nothing wraps), with A as the temporary;
            // then A = the packet + X, and the load.
            c if c == LD | B | IND || c == LD | H | IND || c == LD | W | IND => {
                let size: u32 = match c & 0x18 {
                    B => 1,
                    H => 2,
                    _ => 4,
                };
                let end = k64 + u64::from(size);
                if self.context {
                    // X + end > caplen is X > caplen - end as signed
                    // numbers (the difference is above -2^33).
                    self.emit(load(Load::U64, RA, RC, Context::CAPLEN));
                    self.emit(bin_imm(BinOp::Sub, RA, end));
                    self.fail_if(Cond::SGt, RX, Rhs::Reg(RA));
                } else {
                    // caplen < X + end.
                    self.emit(Insn::BinImm {
                        op: BinOp::Add,
                        dst: RA,
                        lhs: RX,
                        imm: end,
                    });
                    self.fail_if(Cond::ULt, RC, Rhs::Reg(RA));
                }
                self.emit(Insn::Bin {
                    op: BinOp::Add,
                    dst: RA,
                    lhs: RX,
                    rhs: RP,
                });
                self.load_be(size, RA, i64::from(k));
                // X + k + size fitted, so k + size does.
                let end = (k64 + u64::from(size)).min(u64::from(u16::MAX)) as u16;
                self.caplen_at_least = self.caplen_at_least.max(end);
            }
            // X = 4 * (P[k] & 0xf): the multiplication as two additions,
            // shorter than copyjit's shift by an immediate on x86_64.
            c if c == LDX | B | MSH => {
                self.check_caplen(k64 + 1);
                self.emit(load(Load::U8, RX, RP, i64::from(k)));
                self.emit(bin_imm(BinOp::And, RX, 0xf));
                self.emit(bin(BinOp::Add, RX, RX));
                self.emit(bin(BinOp::Add, RX, RX));
            }
            // Filter::needs_context: a program that reads `len` or uses
            // M[] has R3 = the context.
            c if c == LD | W | LEN => self.emit(load(Load::U64, RA, RC, Context::WIRELEN)),
            c if c == LDX | W | LEN => self.emit(load(Load::U64, RX, RC, Context::WIRELEN)),
            c if c == LD | W | IMM => self.emit(Insn::MovImm { dst: RA, imm: k64 }),
            c if c == LDX | W | IMM => self.emit(Insn::MovImm { dst: RX, imm: k64 }),
            c if c == LD | W | MEM => self.emit(load(Load::U64, RA, RC, scratch(k))),
            c if c == LDX | W | MEM => self.emit(load(Load::U64, RX, RC, scratch(k))),
            c if c == ST => self.emit(store(RA, scratch(k))),
            c if c == STX => self.emit(store(RX, scratch(k))),

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
                    Rhs::Reg(RX)
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

            c if c == MISC | TAX => self.emit(Insn::Mov { dst: RX, src: RA }),
            c if c == MISC | TXA => self.emit(Insn::Mov { dst: RA, src: RX }),
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
        let k64 = u64::from(k);
        if by_x {
            if matches!(operation, DIV | MOD) {
                self.fail_if(Cond::Eq, RX, Rhs::Imm(0));
            }
            self.emit(bin(binop, RA, RX));
            if wraps {
                self.emit(bin_imm(BinOp::And, RA, MASK));
            }
            if matches!(operation, LSH | RSH) {
                // Counts of 64 and more wrapped modulo 64: A = 0 instead.
                let done = Label(self.next_label);
                self.next_label += 1;
                self.emit(branch(Cond::ULt, RX, Rhs::Imm(64), done));
                self.emit(Insn::MovImm { dst: RA, imm: 0 });
                self.emit(Insn::Bind(done));
            }
        } else if matches!(operation, LSH | RSH) && k >= 32 {
            self.emit(Insn::MovImm { dst: RA, imm: 0 });
        } else if match operation {
            ADD | SUB | OR | XOR | LSH | RSH => k == 0,
            MUL | DIV => k == 1,
            AND => k == u32::MAX,
            _ => false,
        } {
            // A op k is A (tcpdump's `protochain` has an `add #0`).
        } else {
            // `lsh #k` is `mul32` by 2^k: one machine instruction where a
            // shift by a count from a slot is several (x86_64).
            let (wrapping, k) = match operation {
                ADD => (Some(BinOp32::Add32), k64),
                SUB => (Some(BinOp32::Sub32), k64),
                MUL => (Some(BinOp32::Mul32), k64),
                LSH => (Some(BinOp32::Mul32), 1 << k),
                _ => (None, k64),
            };
            self.emit(match wrapping {
                Some(op) => Insn::BinImm32 {
                    op,
                    dst: RA,
                    lhs: RA,
                    imm: k,
                },
                None => bin_imm(binop, RA, k),
            });
        }
    }
}

/// What one cBPF instruction does, as [`Translation::need`] sees it.
enum Step {
    /// `ret`: `accepts` unless it is `ret #0`.
    Return { accepts: bool },
    /// A packet load whose bounds check needs a captured length of at least
    /// `end` (clamped to 16 bits); indexed loads too, as `X` is not negative.
    Load { end: u16 },
    /// `ja` to instruction `to`.
    Jump { to: usize },
    /// A conditional jump to `jt` or `jf`.
    Branch { jt: usize, jf: usize },
    /// Anything else: on to the next instruction.
    Other,
}

impl Step {
    /// Whether instruction `pc` may go on to `pc + 1`.
    fn falls_through(&self, pc: usize) -> bool {
        match *self {
            Step::Return { .. } => false,
            Step::Jump { to } => to == pc + 1,
            Step::Branch { jt, jf } => jt == pc + 1 || jf == pc + 1,
            Step::Load { .. } | Step::Other => true,
        }
    }

    #[inline]
    fn of(insn: crate::Instruction, pc: usize) -> Step {
        use op::*;
        let code = insn.code;
        let size = match code & 0x18 {
            B => 1,
            H => 2,
            _ => 4,
        };
        let end = |size: u64| (u64::from(insn.k) + size).min(u64::from(u16::MAX)) as u16;
        match class(code) {
            RET => Step::Return {
                accepts: !(code == RET | K && insn.k == 0),
            },
            LD if matches!(code & 0xe0, ABS | IND) => Step::Load { end: end(size) },
            LDX if code & 0xe0 == MSH => Step::Load { end: end(1) },
            // Validation made these instruction indexes.
            JMP if code == JMP | JA => Step::Jump {
                to: (pc as u32 + 1).wrapping_add(insn.k) as usize,
            },
            JMP => Step::Branch {
                jt: pc + 1 + usize::from(insn.jt),
                jf: pc + 1 + usize::from(insn.jf),
            },
            _ => Step::Other,
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
