//! The emitter: copies stencils into a caller-provided buffer and fills
//! their data slots.

use crate::code::Code;
use crate::error::Error;
use crate::isa::{Insn, Label};
use crate::layout;
use crate::layout::WINDOW;
use crate::lower::{self, Slot};
use crate::stencil::{self, NOP_LEN, NOPS, SKIP_LEN, SLOT_ALIGN, SLOT_DISTANCE, Stencil};
use crate::variant::Variant;

/// Generated code starts at an address aligned to this many bytes, and keeps
/// working when copied to another address with the same alignment: 64 on
/// powerpc64, where an instruction's place relative to 64-byte boundaries
/// matters (see `prefixed_pad`).
pub const CODE_ALIGN: usize = if cfg!(target_arch = "powerpc64") {
    64
} else {
    16
};

/// Ends the chain of unresolved references to a label.
const END_OF_CHAIN: u64 = u64::MAX;

/// Where a label stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LabelState {
    /// Neither used nor bound.
    Unused,
    /// Used before being bound: the offset of the last slot that refers to
    /// it. Each such slot holds the offset of the previous one until the
    /// label is bound, so forward references need no storage of their own.
    Pending(usize),
    /// Bound at this offset.
    Bound(usize),
}

/// Writes ops into a buffer the caller provides.
///
/// `LABELS` is how many labels (numbered from 0) the program may use; the
/// assembler keeps one word per label and allocates nothing.
///
/// Code goes into code blocks and data slots into the data block beside
/// each, [`SLOT_DISTANCE`] bytes after the block's first op with slots (see
/// the crate's README), so a program with any immediate, offset, branch,
/// call or host call needs at least `SLOT_DISTANCE` bytes more than its
/// code. [`Assembler::code_len`] counts the machine code alone.
///
/// ```
/// use copyjit::{Assembler, BinOp, Insn, Reg, SLOT_DISTANCE};
///
/// let mut buf = [0u8; 256 + 2 * SLOT_DISTANCE];
/// let mut asm: Assembler = Assembler::new(&mut buf);
/// asm.emit(Insn::MovImm { dst: Reg::R0, imm: 41 })?; // in every feature set
/// let code = asm.finish()?;
/// assert!(code.bytes().len() > SLOT_DISTANCE);
/// # Ok::<(), copyjit::Error>(())
/// ```
pub struct Assembler<'a, const LABELS: usize = 64> {
    buf: &'a mut [u8],
    entry: usize,
    at: Cursor,
    labels: [LabelState; LABELS],
    /// How many labels are [`LabelState::Pending`], so that finishing need
    /// not look at every label.
    pending: usize,
    /// Instructions emitted so far, [`Insn::Bind`]s included.
    emitted: usize,
    /// The error that stopped the assembler, if one did.
    failure: Option<Error>,
}

impl<const LABELS: usize> core::fmt::Debug for Assembler<'_, LABELS> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Assembler")
            .field("entry", &self.entry)
            .field("len", &self.len())
            .field("capacity", &self.buf.len())
            .field("pending_labels", &self.pending)
            .field("emitted", &self.emitted)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl Cursor {
    /// The end of everything written: the last code byte or, if the
    /// current block has slots, its last data slot (earlier blocks and
    /// their data lie before the current block).
    fn end(&self) -> usize {
        if self.block_end == OPEN {
            self.pos
        } else {
            self.pos.max(self.data_end + SLOT_DISTANCE)
        }
    }
}

/// The end of a code block that holds no slots yet, and so no data block to
/// stay clear of.
const OPEN: usize = usize::MAX;

/// Where the next op goes, as offsets into the buffer.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    /// The next code byte.
    pos: usize,
    /// The end of the current code block: [`SLOT_DISTANCE`] bytes after its
    /// first op with slots, where that op's slots begin; [`OPEN`] until the
    /// block has one.
    block_end: usize,
    /// Where the last slot of the current code block ends, less
    /// [`SLOT_DISTANCE`]: the end of its op's slot footprint, which the
    /// op's code covers (a slot lies [`SLOT_DISTANCE`] bytes after its op's
    /// first byte).
    data_end: usize,
    /// How many skips lie behind: each jumps a data block of
    /// [`SLOT_DISTANCE`] bytes.
    skips: usize,
}

impl<'a, const LABELS: usize> Assembler<'a, LABELS> {
    /// Starts emitting into `buf`, at its first address aligned to [`CODE_ALIGN`].
    pub fn new(buf: &'a mut [u8]) -> Self {
        let base = buf.as_ptr() as usize;
        let entry = base.next_multiple_of(CODE_ALIGN) - base;
        Assembler {
            buf,
            entry,
            at: Cursor {
                pos: entry,
                block_end: OPEN,
                data_end: entry,
                skips: 0,
            },
            labels: [LabelState::Unused; LABELS],
            pending: 0,
            emitted: 0,
            failure: None,
        }
    }

    /// Bytes the code spans so far, from its entry point to its last code
    /// byte or data slot, whichever is further.
    pub fn len(&self) -> usize {
        self.at.end() - self.entry
    }

    /// Bytes of machine code emitted so far: every code block's ops, their
    /// padding and the skips between blocks, without the data blocks.
    pub fn code_len(&self) -> usize {
        self.at.pos - self.entry - self.at.skips * SLOT_DISTANCE
    }

    /// Whether nothing has been emitted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many instructions have been emitted, [`Insn::Bind`]s included:
    /// after a failed [`Assembler::emit_all`], the failing instruction is
    /// `program[emitted - emitted_before]`.
    pub fn emitted(&self) -> usize {
        self.emitted
    }

    /// The offset of `label` from the code's entry point, once it is bound.
    pub fn label_offset(&self, label: Label) -> Option<usize> {
        match self.labels.get(usize::from(label.0))? {
            LabelState::Bound(at) => Some(at - self.entry),
            _ => None,
        }
    }

    /// Appends one instruction.
    ///
    /// On error nothing is written and the assembler will refuse to finish
    /// (but see [`Assembler::move_to`]).
    pub fn emit(&mut self, insn: Insn) -> Result<(), Error> {
        self.emit_all(core::slice::from_ref(&insn))
    }

    /// Appends one instruction, as [`Assembler::emit`] does, and tells
    /// where its machine code went: the range of offsets from the code's
    /// entry point, without the padding before it and its data slots (an
    /// empty range where a [`Insn::Bind`] binds its label). A list of these
    /// is the map from instructions to code that a disassembler or a
    /// profiler needs (see `examples/code_map.rs`).
    pub fn emit_mapped(&mut self, insn: Insn) -> Result<core::ops::Range<usize>, Error> {
        self.emit(insn)?;
        let len = match lower::lower(&insn) {
            Some((variant, _)) => stencil::code(variant).map_or(0, <[u8]>::len),
            None => 0,
        };
        let end = self.at.pos - self.entry;
        Ok(end - len..end)
    }

    /// Moves the code emitted so far into `buf`, at its first address
    /// aligned to [`CODE_ALIGN`], to go on emitting there; hands back the
    /// buffer it was in. Code and data are relative, so nothing but their
    /// place changes.
    ///
    /// This is how a program outgrows its buffer without being emitted
    /// again: when an instruction fails with [`Error::BufferTooSmall`] it
    /// has written nothing, and after the move it can be emitted again
    /// (from `program[emitted() - emitted_before]` on, after a failed
    /// [`Assembler::emit_all`]). An assembler stopped by any other error
    /// stays stopped. If `buf` cannot hold what was emitted, this fails
    /// with [`Error::BufferTooSmall`] and changes nothing.
    pub fn move_to(&mut self, buf: &'a mut [u8]) -> Result<&'a mut [u8], Error> {
        let base = buf.as_ptr() as usize;
        let entry = base.next_multiple_of(CODE_ALIGN) - base;
        // Empty if nothing was emitted into a buffer too small to reach an
        // aligned address.
        let code = self.buf.get(self.entry..self.at.end()).unwrap_or_default();
        let needed = entry + code.len();
        let capacity = buf.len();
        let dst = buf
            .get_mut(entry..needed)
            .ok_or(Error::BufferTooSmall { needed, capacity })?;
        dst.copy_from_slice(code);
        // Every offset kept moves with the code.
        let moved = |at: usize| at - self.entry + entry;
        for state in &mut self.labels {
            *state = match *state {
                LabelState::Unused => LabelState::Unused,
                LabelState::Pending(last) => {
                    // Each slot of a chain holds the offset of the one
                    // before, in the buffer: those move too.
                    let mut link = last;
                    loop {
                        let next = read_slot(buf, moved(link));
                        if next == END_OF_CHAIN {
                            break;
                        }
                        write_slot(buf, moved(link), moved(next as usize) as u64);
                        link = next as usize;
                    }
                    LabelState::Pending(moved(last))
                }
                LabelState::Bound(at) => LabelState::Bound(moved(at)),
            };
        }
        self.at = Cursor {
            pos: moved(self.at.pos),
            block_end: match self.at.block_end {
                OPEN => OPEN,
                block_end => moved(block_end),
            },
            data_end: moved(self.at.data_end),
            skips: self.at.skips,
        };
        self.entry = entry;
        if matches!(self.failure, Some(Error::BufferTooSmall { .. })) {
            self.failure = None;
        }
        Ok(core::mem::replace(&mut self.buf, buf))
    }

    /// Appends every instruction of `program`, one after the other, and
    /// stops at the first error.
    ///
    /// Each instruction is emitted whole or not at all: on error, the
    /// instructions before the failing one are emitted (a [`Insn::Bind`]
    /// among them has filled in the slots that referred to its label), the
    /// failing one has written nothing, and the assembler will refuse to
    /// finish.
    pub fn emit_all(&mut self, program: &[Insn]) -> Result<(), Error> {
        if self.failure.is_some() {
            return Err(Error::EarlierError);
        }
        // The work is done by `Writer`, which does not depend on `LABELS`:
        // it is compiled once, in this crate, with everything it calls
        // inlined, rather than for every label capacity a caller picks.
        let mut stage;
        let mut failure = None;
        let mut writer = Writer {
            buf: &mut *self.buf,
            at: self.at,
            stage: &mut [],
            staged: 0,
            labels: &mut self.labels,
            pending: &mut self.pending,
            failure: &mut failure,
        };
        let result = if program.len() >= STAGE_FROM {
            stage = [0; STAGE];
            writer.stage = &mut stage;
            writer.emit_all::<true>(program)
        } else {
            writer.emit_all::<false>(program)
        };
        self.at = writer.at;
        match result {
            Ok(()) => {
                self.emitted += program.len();
                Ok(())
            }
            Err(Stopped { done }) => {
                self.emitted += done;
                // `Failed` is made only by `Writer::fail`, which records
                // the error.
                let error = failure.unwrap_or(Error::EarlierError);
                self.failure = Some(error);
                Err(error)
            }
        }
    }

    /// Checks every used label is bound, ends the code with a return (so
    /// running off the end returns `R0`), and hands out the finished code:
    /// from its entry point to its last code byte or data slot.
    ///
    /// On error nothing is written.
    pub fn finish(mut self) -> Result<Code<'a>, Error> {
        if self.failure.is_some() {
            return Err(Error::EarlierError);
        }
        if self.pending > 0
            && let Some(i) = self
                .labels
                .iter()
                .position(|s| matches!(s, LabelState::Pending(_)))
        {
            return Err(Error::UnboundLabel(Label(i as u16)));
        }
        self.emit(Insn::Ret)?;
        Ok(Code::new(self.buf, self.entry, self.at.end()))
    }
}

/// The assembler's buffer, cursor and labels, for the emitting itself.
///
/// A long program is staged: each stencil is copied into `stage` as a
/// whole [`WINDOW`] of the stencil table (its code and whatever follows,
/// which the next op overwrites), a fixed-size copy that needs no test of
/// the stencil's length, and the stage goes to `buf` with one exact copy
/// when it is full, at the end of a code block and before returning. Only
/// code is staged; slots are written straight into their data block. Bytes
/// of `buf` outside the code and the slots are never written.
struct Writer<'w> {
    buf: &'w mut [u8],
    /// Where the next op goes; `at.pos` counts the staged bytes.
    at: Cursor,
    /// Empty when not staging.
    stage: &'w mut [u8],
    /// Bytes at the start of `stage` that belong at `at.pos - staged` in `buf`.
    staged: usize,
    labels: &'w mut [LabelState],
    pending: &'w mut usize,
    /// The error that stopped the emitting, recorded by [`Writer::fail`].
    failure: &'w mut Option<Error>,
}

/// Records `error` in `failure`: out of line, on the error path only, and
/// apart from the writer, whose fields then stay in registers.
#[cold]
#[inline(never)]
fn record(failure: &mut Option<Error>, error: Error) -> Failed {
    *failure = Some(error);
    Failed
}

/// Emitting stopped at `program[done]`, which failed.
struct Stopped {
    done: usize,
}

/// An instruction failed; [`Writer::failure`] says why.
///
/// The emitting passes this empty token instead of the [`Error`]: a
/// 24-byte error returned through every instruction's placement is kept in
/// registers across the loop and stored to memory on every instruction.
struct Failed;

/// Programs at least this long are staged.
const STAGE_FROM: usize = 32;
/// Bytes of the stage.
const STAGE: usize = 1024;

impl Writer<'_> {
    /// Emits `program` up to its first error. A plain loop, so that every
    /// instruction kind's placement is inlined into it (through a closure,
    /// the compiler makes the whole placement one call per instruction).
    #[inline(always)]
    fn emit_all<const STAGED: bool>(&mut self, program: &[Insn]) -> Result<(), Stopped> {
        for insn in program {
            // Returning from inside the loop: a result carried across
            // iterations is stored to memory on every one.
            if let Err(Failed) = self.emit::<STAGED>(insn) {
                self.flush();
                // The index, from the address: a counter would be one
                // more value live across the loop.
                let bytes = insn as *const Insn as usize - program.as_ptr() as usize;
                let done = bytes / size_of::<Insn>();
                return Err(Stopped { done });
            }
        }
        self.flush();
        Ok(())
    }

    /// Records why emitting stopped.
    #[inline(always)]
    fn fail(&mut self, error: Error) -> Failed {
        record(self.failure, error)
    }

    #[inline(always)]
    fn emit<const STAGED: bool>(&mut self, insn: &Insn) -> Result<(), Failed> {
        /// Places a lowered instruction.
        struct Place<'p, 'w, const STAGED: bool>(&'p mut Writer<'w>);
        impl<const STAGED: bool> lower::Form for Place<'_, '_, STAGED> {
            type Output = Result<(), Failed>;
            #[inline(always)]
            fn form<const N: usize>(self, variant: Variant, slots: [Slot; N]) -> Self::Output {
                if let Err(e) = lower::check_form(variant, &slots, self.0.labels.len()) {
                    return Err(self.0.fail(e));
                }
                self.0.place::<N, STAGED>(variant, slots)
            }
        }
        match lower::lower_with(insn, Place::<STAGED>(self)) {
            Some(placed) => placed,
            None => match *insn {
                Insn::Bind(label) => match lower::check_label(label, self.labels.len()) {
                    Ok(()) => self.bind(label),
                    Err(e) => Err(self.fail(e)),
                },
                _ => Ok(()),
            },
        }
    }

    /// Copies `variant`'s code, after padding and, if the code block is
    /// full, a skip into the next one; then fills the slots in the data
    /// block. Checks room first, so nothing is half-written.
    #[inline(always)]
    fn place<const N: usize, const STAGED: bool>(
        &mut self,
        variant: Variant,
        slots: [Slot; N],
    ) -> Result<(), Failed> {
        debug_assert_eq!(variant.slots(), N, "{variant:?}");
        let Some(stencil) = Stencil::of(variant) else {
            return Err(self.fail(Error::Unsupported));
        };
        let (base, len) = (self.buf.as_ptr() as usize, self.buf.len());
        let mut pad = match pad_for::<N>(stencil, base, self.at.pos) {
            Ok(pad) => pad,
            Err(e) => return Err(self.fail(e)),
        };
        if !layout::fits(self.at.pos, pad, stencil.len, SKIP_LEN, self.at.block_end) {
            let next = next_block::<N>(self.at.pos, stencil, base, len);
            let skip = stencil::code(Variant::Skip);
            let ((start, next_pad), Some(skip)) = (next.map_err(|e| self.fail(e))?, skip) else {
                return Err(self.fail(Error::Unsupported));
            };
            // The skip, straight into the buffer.
            self.flush();
            write_at(self.buf, self.at.pos, skip);
            self.at.skips += 1;
            self.at.pos = start;
            self.at.data_end = start;
            self.at.block_end = OPEN;
            if PADDED::<N>() {
                pad = next_pad;
            }
        }
        let op_at = self.at.pos + pad;
        let end = op_end::<N>(op_at, stencil.len);
        if end > self.buf.len() {
            let capacity = self.buf.len();
            return Err(self.fail(Error::BufferTooSmall {
                needed: end,
                capacity,
            }));
        }
        if !pad.is_multiple_of(NOP_LEN) {
            // build.rs checks every op is a whole number of no-ops long.
            return Err(self.fail(Error::Unsupported));
        }
        if N > 0 && self.at.block_end == OPEN {
            // The block's first slots: its data block starts here.
            self.at.block_end = op_at + SLOT_DISTANCE;
        }
        self.put_padded::<N, STAGED>(pad, stencil);
        for (k, slot) in slots.into_iter().enumerate() {
            let at = op_at + layout::slot_offset(SLOT_DISTANCE, k);
            let value = match slot {
                Slot::Value(v) => v,
                Slot::Label(l) => self.refer(l, at),
            };
            write_slot(self.buf, at, value);
        }
        if N > 0 {
            self.at.data_end = op_at + layout::footprint(N);
        }
        Ok(())
    }

    /// Writes `pad` bytes of no-ops and then a stencil's code at the current
    /// position. When staging, both are fixed-size copies (a window of
    /// no-ops, then the stencil's window over its tail) with one test of the
    /// stage's room.
    #[inline(always)]
    fn put_padded<const N: usize, const STAGED: bool>(&mut self, pad: usize, stencil: Stencil) {
        let len = stencil.len;
        if STAGED && pad <= NOPS.len() && len <= WINDOW {
            if self.staged + pad + WINDOW > self.stage.len() {
                self.flush();
            }
            let at = self.staged;
            // Padding is short but for the rare prefixed-instruction case
            // on powerpc64.
            const SHORT: usize = 8;
            // Only ops with slots are padded, but on powerpc64: a constant
            // test where the padding is a constant 0.
            // Copies of a constant length, so each is a move or two.
            if N > 0 || pad > 0 {
                if pad <= SHORT {
                    if let Some(dst) = self.stage.get_mut(at..at + SHORT) {
                        dst.copy_from_slice(&NOPS[..SHORT]);
                    }
                } else if let Some(dst) = self.stage.get_mut(at..at + NOPS.len()) {
                    dst.copy_from_slice(&NOPS);
                }
            }
            if let Some(dst) = self.stage.get_mut(at + pad..at + pad + WINDOW) {
                dst.copy_from_slice(stencil.window);
            }
            self.staged = at + pad + len;
            self.at.pos += pad + len;
        } else {
            // Not staging, or a stencil without a whole window: straight
            // into the buffer, after the staged bytes.
            self.flush();
            let mut done = 0;
            while done < pad {
                let n = (pad - done).min(NOPS.len());
                write_at(self.buf, self.at.pos + done, &NOPS[..n]);
                done += n;
            }
            self.at.pos += pad;
            self.put_direct(stencil.code());
        }
    }

    /// Writes the staged bytes to the buffer.
    #[inline(always)]
    fn flush(&mut self) {
        let start = self.at.pos - self.staged;
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(start..self.at.pos),
            self.stage.get(..self.staged),
        ) {
            dst.copy_from_slice(src);
        }
        self.staged = 0;
    }

    /// Writes a stencil's code at the current position, with nothing staged;
    /// the caller checked the room.
    ///
    /// Stencils are short, and calling `memcpy` for a few bytes costs more
    /// than the copy: this copies any length up to 32 bytes with at most
    /// two overlapping fixed-size moves, inlined where each instruction
    /// kind is placed, so that the length tests are predicted per kind.
    #[inline(always)]
    fn put_direct(&mut self, code: &[u8]) {
        let n = code.len();
        let end = self.at.pos + n;
        let Some(dst) = self.buf.get_mut(self.at.pos..end) else {
            return;
        };
        if n >= 16 {
            if n <= 32 {
                dst[..16].copy_from_slice(&code[..16]);
                dst[n - 16..].copy_from_slice(&code[n - 16..]);
            } else {
                dst.copy_from_slice(code);
            }
        } else if n >= 8 {
            dst[..8].copy_from_slice(&code[..8]);
            dst[n - 8..].copy_from_slice(&code[n - 8..]);
        } else if n >= 4 {
            dst[..4].copy_from_slice(&code[..4]);
            dst[n - 4..].copy_from_slice(&code[n - 4..]);
        } else if n > 0 {
            dst[0] = code[0];
            dst[n / 2] = code[n / 2];
            dst[n - 1] = code[n - 1];
        }
        self.at.pos = end;
    }

    /// The value for the slot at `slot` that refers to `label`: the
    /// distance if it is bound, else a link in the label's chain.
    #[inline(always)]
    fn refer(&mut self, label: Label, slot: usize) -> u64 {
        let state = &mut self.labels[usize::from(label.0)];
        match *state {
            LabelState::Bound(at) => relative(at, slot),
            LabelState::Unused => {
                *state = LabelState::Pending(slot);
                *self.pending += 1;
                END_OF_CHAIN
            }
            LabelState::Pending(last) => {
                *state = LabelState::Pending(slot);
                last as u64
            }
        }
    }

    /// Binds `label` here and fills every slot waiting for it.
    #[inline(always)]
    fn bind(&mut self, label: Label) -> Result<(), Failed> {
        let here = self.at.pos;
        let state = &mut self.labels[usize::from(label.0)];
        let mut link = match *state {
            LabelState::Bound(_) => return Err(self.fail(Error::LabelRebound(label))),
            LabelState::Unused => END_OF_CHAIN,
            LabelState::Pending(last) => {
                *self.pending -= 1;
                last as u64
            }
        };
        *state = LabelState::Bound(here);
        // Slots are never staged, so the chain is in the buffer.
        while link != END_OF_CHAIN {
            let slot = link as usize;
            link = read_slot(self.buf, slot);
            write_slot(self.buf, slot, relative(here, slot));
        }
        Ok(())
    }
}

/// The 8-byte slot at `at` in `buf` (0 if it lies outside).
#[inline(always)]
fn read_slot(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    if let Some(src) = buf.get(at..at + 8) {
        bytes.copy_from_slice(src);
    }
    u64::from_ne_bytes(bytes)
}

/// Writes `value` into the 8-byte slot at `at` in `buf`, if it lies inside.
#[inline(always)]
fn write_slot(buf: &mut [u8], at: usize, value: u64) {
    if let Some(dst) = buf.get_mut(at..).and_then(<[u8]>::first_chunk_mut) {
        *dst = value.to_ne_bytes();
    }
}

/// Whether an op with `N` slots can need padding: to align its slots,
/// where the target needs that, and on powerpc64 to keep a prefixed
/// instruction inside 64 bytes. Where it is false the padding is a constant
/// 0 for the compiler, and the emit loop has no padding to test or copy.
#[allow(non_snake_case, reason = "a constant of N, named as one")]
const fn PADDED<const N: usize>() -> bool {
    (N > 0 && SLOT_ALIGN > 1) || cfg!(target_arch = "powerpc64")
}

/// Bytes of padding before `stencil`, which has `N` slots, placed at offset
/// `pos` of a buffer at address `base`: enough to keep its slots aligned,
/// and on powerpc64 its prefixed instructions inside 64-byte blocks. (The
/// previous op's slots end before this op's begin: every op is at least as
/// long as its slots, see `layout::footprint`.)
#[inline(always)]
fn pad_for<const N: usize>(stencil: Stencil, base: usize, pos: usize) -> Result<usize, Error> {
    if !PADDED::<N>() {
        return Ok(0);
    }
    // SLOT_ALIGN is a power of two, and the slots lie a multiple of 8 bytes
    // after the op.
    let pad = if N == 0 {
        0
    } else {
        base.wrapping_add(pos).wrapping_neg() & (SLOT_ALIGN - 1)
    };
    // Power instructions, and so the no-op, are 4 bytes.
    #[cfg(target_arch = "powerpc64")]
    let pad = prefixed_pad(
        stencil::prefixed(stencil.code()),
        base.wrapping_add(pos),
        pad,
        if N == 0 { 4 } else { SLOT_ALIGN },
    )?;
    let _ = stencil;
    Ok(pad)
}

/// Where the next code block goes when `stencil`, with `N` slots, does not
/// fit the current one, which ends at `pos`, of a buffer at address `base`,
/// `len` bytes long: the next block's start (past the current block's data
/// block, which ends at most `SLOT_DISTANCE` bytes after `pos`) and the
/// op's padding there. Checks that the skip and the op fit the buffer, so
/// that on error nothing is written. Out of line: it runs once per block,
/// and it takes no reference to the writer, whose fields then stay in
/// registers.
#[cold]
#[inline(never)]
fn next_block<const N: usize>(
    pos: usize,
    stencil: Stencil,
    base: usize,
    len: usize,
) -> Result<(usize, usize), Error> {
    let start = pos + SKIP_LEN + SLOT_DISTANCE;
    let pad = pad_for::<N>(stencil, base, start)?;
    if !layout::fits(start, pad, stencil.len, SKIP_LEN, start + SLOT_DISTANCE)
        || !pad.is_multiple_of(NOP_LEN)
    {
        // build.rs checks that every op fits an empty block and is a
        // whole number of no-ops long.
        return Err(Error::Unsupported);
    }
    let end = op_end::<N>(start + pad, stencil.len);
    if end > len {
        return Err(Error::BufferTooSmall {
            needed: end,
            capacity: len,
        });
    }
    Ok((start, pad))
}

/// The end of what an op of `code_len` bytes with `N` slots writes when it
/// starts at `op_at`: its code, or its last slot, which lies past the code
/// (build.rs checks that every op is shorter than the slot distance).
#[inline(always)]
fn op_end<const N: usize>(op_at: usize, code_len: usize) -> usize {
    if N == 0 {
        op_at + code_len
    } else {
        op_at + layout::slot_offset(SLOT_DISTANCE, N)
    }
}

/// Copies `bytes` to `at` in `buf`, if they fit; out of line, for the rare
/// writes (the skip between blocks).
#[inline(never)]
fn write_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// The slot value that makes a slot at `slot` point at `target` (with the
/// Thumb bit where the stencils are Thumb code, since the ops branch to it
/// with `bx`/`blx`).
fn relative(target: usize, slot: usize) -> u64 {
    (target as u64).wrapping_sub(slot as u64) + stencil::THUMB_BIT as u64
}

/// Padding for Power10, which traps on an 8-byte prefixed instruction that
/// crosses a 64-byte boundary: the least padding, from `pad` on in steps of
/// `step` bytes, that keeps each prefixed instruction of a stencil placed at
/// address `at` plus the padding inside one 64-byte block. `prefixed` gives
/// the instructions' offsets in the stencil, which `build.rs` records.
#[cfg(any(target_arch = "powerpc64", test))]
fn prefixed_pad(
    prefixed: impl Iterator<Item = usize> + Clone,
    at: usize,
    pad: usize,
    step: usize,
) -> Result<usize, Error> {
    let crosses = |pad: usize| {
        prefixed
            .clone()
            .any(|offset| at.wrapping_add(pad + offset) % 64 == 60)
    };
    (pad..pad + 64)
        .step_by(step)
        .find(|&p| !crosses(p))
        .ok_or(Error::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::prefixed_pad;

    /// Prefixed instructions at these offsets in a stencil.
    fn at(offsets: &[usize]) -> impl Iterator<Item = usize> + Clone + '_ {
        offsets.iter().copied()
    }

    #[test]
    fn prefixed_instructions_never_cross_64_bytes() {
        // `pld` (8 bytes), then `add`.
        let pld_then_add = [0];
        // At 60 the prefix would end the block and its suffix start the next.
        assert_eq!(prefixed_pad(at(&pld_then_add), 60, 0, 4), Ok(4));
        assert_eq!(prefixed_pad(at(&pld_then_add), 64 + 56, 0, 4), Ok(0));
        assert_eq!(prefixed_pad(at(&pld_then_add), 52, 0, 4), Ok(0));
        // Slot alignment pads in steps of 8, starting from what it needs.
        assert_eq!(prefixed_pad(at(&pld_then_add), 52, 8, 8), Ok(16));
        let add_then_pld = [4];
        assert_eq!(prefixed_pad(at(&add_then_pld), 56, 0, 4), Ok(4));
        // Two prefixed instructions: both must fit.
        assert_eq!(prefixed_pad(at(&[0, 8]), 52, 0, 4), Ok(4));
        // Without prefixed instructions nothing moves.
        assert_eq!(prefixed_pad(at(&[]), 60, 0, 4), Ok(0));
    }
}

#[cfg(test)]
mod staging_tests {
    use super::*;
    use crate::isa::{BinOp, Cond, Load, Reg, UnOp, Width};
    use std::vec::Vec;

    extern "C" fn host(r0: u64, _: u64, _: u64, _: u64) -> u64 {
        r0
    }

    /// A long program with every kind of instruction, labels bound before
    /// and after their uses, and many uses of one label.
    fn program(len: usize) -> Vec<Insn> {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut p = Vec::new();
        p.push(Insn::Bind(Label(0)));
        for i in 0..len {
            if i == len / 2 {
                p.push(Insn::Bind(Label(1)));
            }
            let r = Reg::ALL[next(4)];
            let s = Reg::ALL[next(4)];
            let imm = [0, 1, 63, u64::MAX][next(4)];
            p.push(match next(18) {
                0 => Insn::Bin {
                    op: BinOp::ALL[next(BinOp::ALL.len())],
                    dst: r,
                    lhs: s,
                    rhs: r,
                },
                1 => Insn::BinImm {
                    op: BinOp::ALL[next(BinOp::ALL.len())],
                    dst: r,
                    lhs: s,
                    imm: imm & 63,
                },
                2 => Insn::Unary {
                    op: UnOp::ALL[next(2)],
                    dst: r,
                    src: s,
                },
                3 => Insn::Mov { dst: r, src: s },
                4 => Insn::MovImm { dst: r, imm },
                5 => Insn::Branch {
                    cond: Cond::ALL[next(Cond::ALL.len())],
                    lhs: r,
                    rhs: s,
                    target: Label(next(3) as u16),
                },
                6 => Insn::BranchImm {
                    cond: Cond::ALL[next(Cond::ALL.len())],
                    lhs: r,
                    imm,
                    target: Label(1),
                },
                7 => Insn::Jump {
                    target: Label(next(3) as u16),
                },
                8 => Insn::Load {
                    kind: Load::ALL[next(Load::ALL.len())],
                    dst: r,
                    base: s,
                    offset: -8,
                },
                9 => Insn::Store {
                    width: Width::ALL[next(Width::ALL.len())],
                    src: r,
                    base: s,
                    offset: 16,
                },
                10 => Insn::Push { src: r },
                11 => Insn::Pop { dst: r },
                12 => Insn::CallHost { dst: r, func: host },
                13 => Insn::Call { target: Label(2) },
                14 => Insn::Ret,
                15 => Insn::Nop,
                _ => Insn::Mov { dst: r, src: r },
            });
        }
        p.retain(crate::stencil::supports); // Only the forms the crate's features include.
        p.push(Insn::Bind(Label(2)));
        p
    }

    /// Emits `p` into a buffer of `size` bytes (filled with 0xCC) either in
    /// one call or one instruction at a time; the result, and the buffer.
    fn emit(p: &[Insn], size: usize, whole: bool) -> (Result<usize, Error>, Vec<u8>) {
        let mut storage = std::vec![0xCCu8; size + CODE_ALIGN];
        let offset = storage.as_ptr().align_offset(CODE_ALIGN);
        let buf = &mut storage[offset..offset + size];
        let mut asm: Assembler = Assembler::new(buf);
        let emitted = if whole {
            asm.emit_all(p)
        } else {
            p.iter().try_for_each(|&insn| asm.emit(insn))
        };
        let written = asm.len();
        let result = emitted.and_then(|()| asm.finish().map(|c| c.bytes().len()));
        let result = result.inspect_err(|_| {
            // What stays in the buffer after a failure: the code so far.
            assert!(
                buf[written..].iter().all(|&b| b == 0xCC),
                "wrote past {written}"
            );
        });
        (result, buf.to_vec())
    }

    #[test]
    fn staged_and_direct_emits_write_the_same_bytes() {
        for len in [STAGE_FROM, 100, 3000] {
            let p = program(len);
            let (whole, bytes) = emit(&p, 1 << 20, true);
            let (single, single_bytes) = emit(&p, 1 << 20, false);
            let size = whole.unwrap();
            assert_eq!(Ok(size), single, "{len}");
            assert_eq!(bytes, single_bytes, "{len}");
            assert!(bytes[size..].iter().all(|&b| b == 0xCC), "{len}");
            // Too small by a little and by a lot: the same error either way,
            // and nothing written past the code emitted before it.
            for short in [1, 7, 64, 1000, size / 2].into_iter().filter(|&s| s < size) {
                let (whole, _) = emit(&p, size - short, true);
                let (single, _) = emit(&p, size - short, false);
                assert!(
                    matches!(whole, Err(Error::BufferTooSmall { .. })),
                    "{whole:?}"
                );
                assert_eq!(whole, single, "{len} {short}");
            }
        }
    }

    #[test]
    fn a_staged_emit_that_fails_keeps_the_code_before_the_error() {
        let mut p = program(200);
        let good = p.len();
        p.push(Insn::Jump { target: Label(999) });
        p.extend(program(50));
        // Two buffers that start at the same address modulo CODE_ALIGN.
        let size = 1 << 16;
        let mut a_storage = std::vec![0xCCu8; size + CODE_ALIGN];
        let mut b_storage = a_storage.clone();
        let a_offset = a_storage.as_ptr().align_offset(CODE_ALIGN);
        let b_offset = b_storage.as_ptr().align_offset(CODE_ALIGN);
        let a = &mut a_storage[a_offset..a_offset + size];
        let b = &mut b_storage[b_offset..b_offset + size];
        let written = {
            let mut asm: Assembler = Assembler::new(a);
            assert_eq!(asm.emit_all(&p), Err(Error::LabelOutOfRange(Label(999))));
            asm.len()
        };
        {
            let mut asm: Assembler = Assembler::new(b);
            asm.emit_all(&p[..good]).unwrap();
            assert_eq!(asm.len(), written);
        }
        assert!(a == b, "the failed emit wrote other bytes");
    }
}
