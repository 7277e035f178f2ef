//! The emitter: copies stencils into a caller-provided buffer and fills
//! their data slots.

use crate::code::Code;
use crate::error::Error;
use crate::isa::{Insn, Label};
use crate::lower::{self, Slot};
use crate::stencil::{self, SLOT_ALIGN};
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
/// ```
/// use copyjit::{Assembler, BinOp, Insn, Reg};
///
/// let mut buf = [0u8; 256];
/// let mut asm: Assembler = Assembler::new(&mut buf);
/// asm.emit(Insn::BinImm { op: BinOp::Add, dst: Reg::R0, lhs: Reg::R0, imm: 41 })?;
/// let code = asm.finish()?;
/// assert!(!code.bytes().is_empty());
/// # Ok::<(), copyjit::Error>(())
/// ```
pub struct Assembler<'a, const LABELS: usize = 64> {
    buf: &'a mut [u8],
    entry: usize,
    pos: usize,
    labels: [LabelState; LABELS],
    /// How many labels are [`LabelState::Pending`], so that finishing need
    /// not look at every label.
    pending: usize,
    failed: bool,
}

impl<'a, const LABELS: usize> Assembler<'a, LABELS> {
    /// Starts emitting into `buf`, at its first address aligned to [`CODE_ALIGN`].
    pub fn new(buf: &'a mut [u8]) -> Self {
        let base = buf.as_ptr() as usize;
        let entry = base.next_multiple_of(CODE_ALIGN) - base;
        Assembler {
            buf,
            entry,
            pos: entry,
            labels: [LabelState::Unused; LABELS],
            pending: 0,
            failed: false,
        }
    }

    /// Bytes of code emitted so far.
    pub fn len(&self) -> usize {
        self.pos - self.entry
    }

    /// Whether nothing has been emitted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one instruction.
    ///
    /// On error nothing is written and the assembler will refuse to finish.
    pub fn emit(&mut self, insn: Insn) -> Result<(), Error> {
        self.emit_all(core::slice::from_ref(&insn))
    }

    /// Appends every instruction of `program`, stopping at the first error.
    pub fn emit_all(&mut self, program: &[Insn]) -> Result<(), Error> {
        if self.failed {
            return Err(Error::EarlierError);
        }
        // The work is done by `Writer`, which does not depend on `LABELS`:
        // it is compiled once, in this crate, with everything it calls
        // inlined, rather than for every label capacity a caller picks.
        let mut stage;
        let mut writer = Writer {
            buf: &mut *self.buf,
            pos: self.pos,
            stage: &mut [],
            staged: 0,
            labels: &mut self.labels,
            pending: &mut self.pending,
        };
        let result = if program.len() >= STAGE_FROM {
            stage = [0; STAGE];
            writer.stage = &mut stage;
            writer.emit_all::<true>(program)
        } else {
            writer.emit_all::<false>(program)
        };
        self.pos = writer.pos;
        self.failed = result.is_err();
        result
    }

    /// Ends the code with a return (so running off the end returns `R0`),
    /// checks every used label is bound, and hands out the finished code.
    pub fn finish(mut self) -> Result<Code<'a>, Error> {
        self.emit(Insn::Ret)?;
        if self.pending > 0
            && let Some(i) = self
                .labels
                .iter()
                .position(|s| matches!(s, LabelState::Pending(_)))
        {
            return Err(Error::UnboundLabel(Label(i as u16)));
        }
        Ok(Code::new(self.buf, self.entry, self.pos))
    }
}

/// The assembler's buffer, position and labels, for the emitting itself.
///
/// A long program is staged: each stencil is copied into `stage` as a
/// whole [`WINDOW`] of the stencil table (its code and whatever follows,
/// which the next op or the slots overwrite), a fixed-size copy that needs
/// no test of the stencil's length, and the stage goes to `buf` with one
/// exact copy when it is full and before returning. Bytes past the code in
/// `buf` are never written.
struct Writer<'w> {
    buf: &'w mut [u8],
    /// Where the next byte goes in `buf`, after the staged ones.
    pos: usize,
    /// Empty when not staging.
    stage: &'w mut [u8],
    /// Bytes at the start of `stage` that belong at `pos - staged` in `buf`.
    staged: usize,
    labels: &'w mut [LabelState],
    pending: &'w mut usize,
}

/// Programs at least this long are staged.
const STAGE_FROM: usize = 32;
/// Bytes of the stage.
const STAGE: usize = 1024;
/// Bytes copied per stencil when staging.
const WINDOW: usize = 64;

impl Writer<'_> {
    fn emit_all<const STAGED: bool>(&mut self, program: &[Insn]) -> Result<(), Error> {
        let result = program
            .iter()
            .try_for_each(|insn| self.emit::<STAGED>(insn));
        self.flush();
        result
    }

    #[inline(always)]
    fn emit<const STAGED: bool>(&mut self, insn: &Insn) -> Result<(), Error> {
        /// Places a lowered instruction.
        struct Place<'p, 'w, const STAGED: bool>(&'p mut Writer<'w>);
        impl<const STAGED: bool> lower::Form for Place<'_, '_, STAGED> {
            type Output = Result<(), Error>;
            #[inline(always)]
            fn form<const N: usize>(self, variant: Variant, slots: [Slot; N]) -> Self::Output {
                lower::check_form(variant, &slots, self.0.labels.len())?;
                self.0.place::<N, STAGED>(variant, slots)
            }
        }
        match lower::lower_with(insn, Place::<STAGED>(self)) {
            Some(placed) => placed,
            None => match *insn {
                Insn::Bind(label) => {
                    lower::check_label(label, self.labels.len())?;
                    self.bind(label)
                }
                _ => Ok(()),
            },
        }
    }

    /// Copies `variant`'s code, padded so its slots are aligned, then fills
    /// the slots. Checks room first, so nothing is half-written.
    #[inline(always)]
    fn place<const N: usize, const STAGED: bool>(
        &mut self,
        variant: Variant,
        slots: [Slot; N],
    ) -> Result<(), Error> {
        debug_assert_eq!(variant.slots(), N, "{variant:?}");
        let (code, window) =
            stencil::code_and_window::<WINDOW>(variant).ok_or(Error::Unsupported)?;
        // Bytes up to the next SLOT_ALIGN boundary (a power of two): none
        // where slots need no alignment, and the compiler knows it.
        let pad = if N == 0 {
            0
        } else {
            let slot_address = (self.buf.as_ptr() as usize).wrapping_add(self.pos + code.len());
            slot_address.wrapping_neg() & (SLOT_ALIGN - 1)
        };
        // Power instructions, and so the no-op, are 4 bytes.
        #[cfg(target_arch = "powerpc64")]
        let pad = prefixed_pad(
            code,
            (self.buf.as_ptr() as usize).wrapping_add(self.pos),
            pad,
            if slots.is_empty() { 4 } else { SLOT_ALIGN },
        )?;
        let nop = if pad > 0 {
            let nop = stencil::code(Variant::Nop).ok_or(Error::Unsupported)?;
            if nop.is_empty() || pad % nop.len() != 0 {
                // build.rs checks every op is a whole number of no-ops long.
                return Err(Error::Unsupported);
            }
            nop
        } else {
            &[]
        };
        let needed = self.pos + pad + code.len() + 8 * N;
        if needed > self.buf.len() {
            return Err(Error::BufferTooSmall {
                needed,
                capacity: self.buf.len(),
            });
        }
        // Stage the op if the stage has room for the padding, a whole
        // window (or the code, if longer) and the slots.
        let span = pad + code.len().max(WINDOW) + 8 * N;
        if STAGED && self.staged + span > self.stage.len() {
            self.flush();
        }
        if STAGED && span <= self.stage.len() {
            for _ in 0..pad.checked_div(nop.len()).unwrap_or(0) {
                self.stage_bytes(nop);
            }
            let (at, len) = (self.staged, code.len());
            match (window, self.stage.get_mut(at..at + WINDOW)) {
                (Some(window), Some(dst)) if len <= WINDOW => dst.copy_from_slice(window),
                _ => {
                    if let Some(dst) = self.stage.get_mut(at..at + len) {
                        dst.copy_from_slice(code);
                    }
                }
            }
            self.staged = at + len;
            self.pos += len;
            for slot in slots {
                let value = match slot {
                    Slot::Value(v) => v,
                    Slot::Label(l) => self.refer(l),
                };
                self.stage_bytes(&value.to_ne_bytes());
            }
            return Ok(());
        }
        for _ in 0..pad.checked_div(nop.len()).unwrap_or(0) {
            self.put(nop);
        }
        self.put_code(code);
        for slot in slots {
            let value = match slot {
                Slot::Value(v) => v,
                Slot::Label(l) => self.refer(l),
            };
            self.put(&value.to_ne_bytes());
        }
        Ok(())
    }

    /// Appends bytes to the stage; the caller checked the room.
    #[inline(always)]
    fn stage_bytes(&mut self, bytes: &[u8]) {
        let end = self.staged + bytes.len();
        if let Some(dst) = self.stage.get_mut(self.staged..end) {
            dst.copy_from_slice(bytes);
        }
        self.staged = end;
        self.pos += bytes.len();
    }

    /// Writes the staged bytes to the buffer.
    #[inline(always)]
    fn flush(&mut self) {
        let start = self.pos - self.staged;
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(start..self.pos),
            self.stage.get(..self.staged),
        ) {
            dst.copy_from_slice(src);
        }
        self.staged = 0;
    }

    /// Writes a stencil's code at the current position; the caller checked
    /// the room.
    ///
    /// Stencils are short, and calling `memcpy` for a few bytes costs more
    /// than the copy: this copies any length up to 32 bytes with at most
    /// two overlapping fixed-size moves, inlined where each instruction
    /// kind is placed, so that the length tests are predicted per kind.
    #[inline(always)]
    fn put_code(&mut self, code: &[u8]) {
        let n = code.len();
        let end = self.pos + n;
        let Some(dst) = self.buf.get_mut(self.pos..end) else {
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
        self.pos = end;
    }

    /// Writes bytes at the current position; the caller checked the room.
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    /// The slot value for a reference to `label` from the slot at the
    /// current position: the distance if it is bound, else a chain link.
    #[inline(always)]
    fn refer(&mut self, label: Label) -> u64 {
        let slot = self.pos;
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
    fn bind(&mut self, label: Label) -> Result<(), Error> {
        let here = self.pos;
        let state = &mut self.labels[usize::from(label.0)];
        let mut link = match *state {
            LabelState::Bound(_) => return Err(Error::LabelRebound(label)),
            LabelState::Unused => END_OF_CHAIN,
            LabelState::Pending(last) => {
                *self.pending -= 1;
                last as u64
            }
        };
        *state = LabelState::Bound(here);
        if link != END_OF_CHAIN {
            // The slots to fill may still be staged.
            self.flush();
        }
        while link != END_OF_CHAIN {
            let slot = link as usize;
            link = self.read_slot(slot);
            self.write_slot(slot, relative(here, slot));
        }
        Ok(())
    }

    #[inline(always)]
    fn read_slot(&self, at: usize) -> u64 {
        let mut bytes = [0; 8];
        if let Some(src) = self.buf.get(at..at + 8) {
            bytes.copy_from_slice(src);
        }
        u64::from_ne_bytes(bytes)
    }

    #[inline(always)]
    fn write_slot(&mut self, at: usize, value: u64) {
        if let Some(dst) = self.buf.get_mut(at..at + 8) {
            dst.copy_from_slice(&value.to_ne_bytes());
        }
    }
}

/// The slot value that makes a slot at `slot` point at `target`.
fn relative(target: usize, slot: usize) -> u64 {
    (target as u64).wrapping_sub(slot as u64)
}

/// Padding for Power10, which traps on an 8-byte prefixed instruction
/// (primary opcode 1) that crosses a 64-byte boundary: the least padding, from
/// `pad` on in steps of `step` bytes, that keeps each prefixed instruction of
/// `code`, placed at address `at` plus the padding, inside one 64-byte block.
#[cfg(any(target_arch = "powerpc64", test))]
fn prefixed_pad(code: &[u8], at: usize, pad: usize, step: usize) -> Result<usize, Error> {
    let crosses = |pad: usize| {
        let mut words = code
            .chunks_exact(4)
            .map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
            .enumerate();
        while let Some((i, word)) = words.next() {
            if word >> 26 == 1 {
                if at.wrapping_add(pad + 4 * i) % 64 == 60 {
                    return true;
                }
                // The suffix, whatever its opcode.
                words.next();
            }
        }
        false
    };
    (pad..pad + 64)
        .step_by(step)
        .find(|&p| !crosses(p))
        .ok_or(Error::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::prefixed_pad;

    /// Power code as bytes: `pld` (prefix, then a suffix), then `add`.
    fn code(words: &[u32]) -> std::vec::Vec<u8> {
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }
    const PREFIX: u32 = 0x0410_0000;
    const SUFFIX: u32 = 0xe460_0000;
    const ADD: u32 = 0x7c63_2214;

    #[test]
    fn prefixed_instructions_never_cross_64_bytes() {
        let pld_then_add = code(&[PREFIX, SUFFIX, ADD]);
        // At 60 the prefix would end the block and its suffix start the next.
        assert_eq!(prefixed_pad(&pld_then_add, 60, 0, 4), Ok(4));
        assert_eq!(prefixed_pad(&pld_then_add, 64 + 56, 0, 4), Ok(0));
        assert_eq!(prefixed_pad(&pld_then_add, 52, 0, 4), Ok(0));
        // Slot alignment pads in steps of 8, starting from what it needs.
        assert_eq!(prefixed_pad(&pld_then_add, 52, 8, 8), Ok(16));
        let add_then_pld = code(&[ADD, PREFIX, SUFFIX]);
        assert_eq!(prefixed_pad(&add_then_pld, 56, 0, 4), Ok(4));
        // A suffix is never taken for a prefix, whatever its opcode.
        let prefix_suffix_like = code(&[PREFIX, PREFIX, ADD]);
        assert_eq!(prefixed_pad(&prefix_suffix_like, 56, 0, 4), Ok(0));
        // Without prefixed instructions nothing moves.
        assert_eq!(prefixed_pad(&code(&[ADD; 20]), 60, 0, 4), Ok(0));
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
