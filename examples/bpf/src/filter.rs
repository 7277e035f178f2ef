//! A validated cBPF program: the one type that offers the translation, the
//! interpreter and the JIT.

use crate::error::Error;
use crate::instruction::{Instruction, Listing, op};
use crate::run::{Compiled, Entry, Interpreted};
use crate::translate::{self, Translation};
use copyjit::{Assembler, Code, Insn, Label, Platform};

/// The longest program accepted: `BPF_MAXINSNS`, as the Linux kernel and
/// libpcap's kernel builds limit it.
pub const MAX_INSNS: usize = 4096;

/// Labels enough for any valid program: "return 0", one per instruction as
/// a jump target, and one per instruction as a shift by X.
pub const MAX_LABELS: usize = 1 + 2 * MAX_INSNS;

/// Words of the jump-target bit set.
const WORDS: usize = MAX_INSNS / 64;

/// A classic BPF program that passed validation, borrowed from the caller.
///
/// Validation follows libpcap's `bpf_validate()` and rejects, besides, every
/// opcode that libpcap's `bpf_filter()` would abort on, so a `Filter` always
/// runs to a `ret`, or loops forever only where libpcap would too (a
/// backward `ja` into a cycle with no exit).
///
/// `LABELS` bounds the copyjit labels the translation may use, as in
/// [`copyjit::Assembler`]: one per jump target, one per shift by X, and one
/// for "return 0". [`Filter::labels`] says how many a program needs.
///
/// ```
/// use copyjit_bpf::{Filter, Instruction, Run, op::*};
///
/// // ldh [12]; jeq #0x800 jt 2 jf 3; ret #65535; ret #0 (`ip`)
/// let program = [
///     Instruction::stmt(LD | H | ABS, 12),
///     Instruction::jump(JMP | JEQ | K, 0x800, 0, 1),
///     Instruction::stmt(RET | K, 65535),
///     Instruction::stmt(RET | K, 0),
/// ];
/// let filter: Filter = Filter::new(&program)?;
/// let mut insns = [copyjit::Insn::Nop; 64];
/// let interpreted = filter.interpreter(&mut insns)?;
/// let mut packet = [0u8; 60];
/// packet[12..14].copy_from_slice(&[0x08, 0x00]);
/// assert_eq!(interpreted.run(&packet, 60), 65535);
/// assert_eq!(interpreted.run(&packet[..13], 60), 0); // ldh [12] is out of bounds
/// # Ok::<(), copyjit_bpf::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Filter<'p, const LABELS: usize = 64> {
    program: &'p [Instruction],
    /// Bit `i` is set when instruction `i` is the target of a jump (other
    /// than from instruction `i - 1`).
    targets: [u64; WORDS],
    /// Bit `i` is set when instruction `i` is the target of a backward jump.
    backward: [u64; WORDS],
    /// Whether any jump goes backward.
    loops: bool,
    /// How many targets the words before each word hold.
    rank: [u16; WORDS],
    /// Jump targets, which are numbered from label 1.
    target_count: usize,
    /// Labels the translation uses.
    labels: usize,
    /// Whether the program loads from scratch memory (so the runners clear it).
    reads_scratch: bool,
    /// Whether the program uses scratch memory or the length on the wire
    /// (so generated code finds them in a context).
    needs_context: bool,
    /// The first `ret #0`, which the translation's checks return through
    /// (`usize::MAX` if there is none).
    zero_return: usize,
}

impl<'p, const LABELS: usize> Filter<'p, LABELS> {
    /// Validates `program`.
    ///
    /// The checks are `bpf_validate()`'s (jumps inside the program, the
    /// 32-bit `ja` offset wrapping as libpcap computes it so backward jumps
    /// pass, no constant division or modulo by 0, scratch indexes below 16,
    /// a final return), plus: every opcode must be one `bpf_filter()`
    /// executes, the program at most [`MAX_INSNS`] long, and its labels
    /// within `LABELS`.
    pub fn new(program: &'p [Instruction]) -> Result<Self, Error> {
        use op::*;
        let len = program.len();
        if len == 0 {
            return Err(Error::Empty);
        }
        if len > MAX_INSNS {
            return Err(Error::TooLong { len });
        }
        let mut targets = [0u64; WORDS];
        let mut backward = [0u64; WORDS];
        let mut loops = false;
        // A jump to the next instruction is no jump: it needs no label.
        let mut mark = |pc: usize, target: u32| -> Result<(), Error> {
            let t = target as usize;
            if t >= len {
                return Err(Error::JumpOutOfRange { pc, target });
            }
            if t != pc + 1 {
                targets[t / 64] |= 1 << (t % 64);
            }
            if t <= pc {
                backward[t / 64] |= 1 << (t % 64);
                loops = true;
            }
            Ok(())
        };
        let mut shifts_by_x = 0;
        let mut reads_scratch = false;
        let mut needs_context = false;
        let mut zero_return = usize::MAX;
        for (pc, insn) in program.iter().enumerate() {
            let code = insn.code;
            if !op::is_known(code) {
                return Err(Error::UnknownOpcode { pc, code });
            }
            if code == RET | K && insn.k == 0 && zero_return == usize::MAX {
                zero_return = pc;
            }
            let next = pc as u32 + 1;
            match class(code) {
                LD | LDX if code & 0xe0 == LEN => needs_context = true,
                LD | LDX if code & 0xe0 == MEM => {
                    reads_scratch = true;
                    needs_context = true;
                    if insn.k >= 16 {
                        return Err(Error::ScratchOutOfRange { pc, index: insn.k });
                    }
                }
                ST | STX if insn.k >= 16 => {
                    return Err(Error::ScratchOutOfRange { pc, index: insn.k });
                }
                ST | STX => needs_context = true,
                ALU if matches!(code & 0xf0, DIV | MOD) && code & X == 0 && insn.k == 0 => {
                    return Err(Error::DivisionByZero { pc });
                }
                ALU if matches!(code & 0xf0, LSH | RSH) && code & X != 0 => shifts_by_x += 1,
                JMP if code == JMP | JA => mark(pc, next.wrapping_add(insn.k))?,
                JMP => {
                    mark(pc, next + u32::from(insn.jt))?;
                    mark(pc, next + u32::from(insn.jf))?;
                }
                _ => {}
            }
        }
        if class(program[len - 1].code) != RET {
            return Err(Error::NoFinalReturn);
        }
        let mut rank = [0u16; WORDS];
        let mut target_count = 0;
        let words = len.div_ceil(64);
        for (word, r) in targets[..words].iter().zip(&mut rank) {
            *r = target_count as u16;
            target_count += word.count_ones() as usize;
        }
        let labels = 1 + target_count + shifts_by_x;
        if labels > LABELS {
            return Err(Error::TooManyLabels {
                needed: labels,
                capacity: LABELS,
            });
        }
        Ok(Filter {
            program,
            targets,
            backward,
            loops,
            rank,
            target_count,
            labels,
            reads_scratch,
            needs_context,
            zero_return,
        })
    }

    /// The program.
    pub fn program(&self) -> &'p [Instruction] {
        self.program
    }

    /// The program as `tcpdump -d` prints it.
    pub fn listing(&self) -> Listing<'p> {
        Listing(self.program)
    }

    /// How many copyjit labels the translation uses (at most `LABELS`).
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// Whether the program uses scratch memory (`M[]`) or the length on the
    /// wire (`len`): generated code then finds them, and the captured
    /// length, in a context on the runner's stack (`R3` points to it).
    /// Otherwise `R3` holds the captured length and a call needs no memory.
    pub fn needs_context(&self) -> bool {
        self.needs_context
    }

    /// How the runners enter the translation.
    fn entry(&self) -> Entry {
        if self.needs_context {
            Entry::Context {
                clear_scratch: self.reads_scratch,
            }
        } else {
            Entry::Registers
        }
    }

    /// Whether instruction `pc` is the target of a jump.
    pub(crate) fn is_target(&self, pc: usize) -> bool {
        self.targets[pc / 64] & (1 << (pc % 64)) != 0
    }

    /// Whether the program has a backward jump (and so may loop).
    pub(crate) fn has_backward_jump(&self) -> bool {
        self.loops
    }

    /// Whether instruction `pc` is the target of a backward jump.
    pub(crate) fn is_backward_target(&self, pc: usize) -> bool {
        self.backward[pc / 64] & (1 << (pc % 64)) != 0
    }

    /// The label of instruction `pc`, which must be a jump target.
    pub(crate) fn label(&self, pc: usize) -> Label {
        let below = self.targets[pc / 64] & ((1u64 << (pc % 64)) - 1);
        Label(1 + self.rank[pc / 64] + below.count_ones() as u16)
    }

    /// Whether instruction `pc` is the program's first `ret #0`.
    pub(crate) fn is_zero_return(&self, pc: usize) -> bool {
        pc == self.zero_return
    }

    /// The first label free for the translation's own use.
    pub(crate) fn first_internal_label(&self) -> u16 {
        1 + self.target_count as u16
    }

    /// The translation to copyjit instructions, one at a time, allocating
    /// nothing. [`Insn::Bind`]s are part of it.
    pub fn translation(&self) -> Translation<'_, 'p, LABELS> {
        Translation::new(self)
    }

    /// At least as many instructions as the translation has.
    pub fn translation_bound(&self) -> usize {
        self.program.len() * translate::MAX_PER_INSN + translate::MAX_TAIL
    }

    /// Writes the translation into `out` and returns the written part.
    pub fn translate<'o>(&self, out: &'o mut [Insn]) -> Result<&'o [Insn], Error> {
        let capacity = out.len();
        let mut needed = 0;
        let mut translation = self.translation();
        while let Some(chunk) = translation.next_chunk() {
            if let Some(slots) = out.get_mut(needed..needed + chunk.len()) {
                slots.copy_from_slice(chunk);
            }
            needed += chunk.len();
        }
        if needed > capacity {
            return Err(Error::TranslationTooLong { needed, capacity });
        }
        Ok(&out[..needed])
    }

    /// Translates into `insns` and checks the result for copyjit's
    /// interpreter, which then runs it: the same semantics as the JIT,
    /// where memory cannot be made executable.
    pub fn interpreter<'i>(&self, insns: &'i mut [Insn]) -> Result<Interpreted<'i, LABELS>, Error> {
        let program = self.translate(insns)?;
        Ok(Interpreted::new(
            copyjit::Interpreter::new(program)?,
            self.entry(),
        ))
    }

    /// Translates and emits the program into `buf`: finished code, not yet
    /// executable. [`Filter::jit_compile`] goes on to make it run; this step
    /// alone is what compiling costs without the platform's calls.
    ///
    /// Give a generous buffer: [`Filter::code_bound`] bytes always suffice.
    pub fn emit<'b>(&self, buf: &'b mut [u8]) -> Result<Code<'b>, Error> {
        /// Instructions translated before each hand-over to the assembler
        /// (which stages programs of 32 instructions and more).
        const BATCH: usize = 64;
        let mut asm: Assembler<'b, LABELS> = Assembler::new(buf);
        let mut batch = [Insn::Nop; BATCH];
        let mut n = 0;
        let mut translation = self.translation();
        while let Some(chunk) = translation.next_chunk() {
            if n + chunk.len() > BATCH {
                asm.emit_all(&batch[..n])?;
                n = 0;
            }
            batch[n..n + chunk.len()].copy_from_slice(chunk);
            n += chunk.len();
        }
        asm.emit_all(&batch[..n])?;
        Ok(asm.finish()?)
    }

    /// A code buffer size that always suffices for [`Filter::emit`]: 256
    /// bytes per copyjit instruction and 16 KiB besides, room for any op
    /// layout of the core.
    pub fn code_bound(&self) -> usize {
        self.translation_bound() * 256 + 16 * 1024
    }

    /// Compiles the program into `buf` and makes it executable with
    /// `platform`.
    pub fn jit_compile<'b, P: Platform>(
        &self,
        buf: &'b mut [u8],
        platform: &'b P,
    ) -> Result<Compiled<'b, P>, JitError<P::Error>> {
        let code = self.emit(buf).map_err(JitError::Compile)?;
        let executable = code.make_executable(platform).map_err(JitError::Platform)?;
        Ok(Compiled::new(executable, self.entry()))
    }
}

/// Why [`Filter::jit_compile`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitError<E> {
    /// The translation or the emitting failed.
    Compile(Error),
    /// The platform could not make the code executable.
    Platform(E),
}

impl<E: core::fmt::Display> core::fmt::Display for JitError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            JitError::Compile(e) => e.fmt(f),
            JitError::Platform(e) => write!(f, "making the code executable: {e}"),
        }
    }
}

impl<E: core::error::Error> core::error::Error for JitError<E> {}
