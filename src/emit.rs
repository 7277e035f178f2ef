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
        let mut writer = Writer {
            buf: &mut *self.buf,
            pos: self.pos,
            labels: &mut self.labels,
        };
        let result = writer.emit_all(program);
        self.pos = writer.pos;
        self.failed = result.is_err();
        result
    }

    /// Ends the code with a return (so running off the end returns `R0`),
    /// checks every used label is bound, and hands out the finished code.
    pub fn finish(mut self) -> Result<Code<'a>, Error> {
        self.emit(Insn::Ret)?;
        if let Some(i) = self
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
struct Writer<'w> {
    buf: &'w mut [u8],
    pos: usize,
    labels: &'w mut [LabelState],
}

impl Writer<'_> {
    fn emit_all(&mut self, program: &[Insn]) -> Result<(), Error> {
        for insn in program {
            self.emit(insn)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn emit(&mut self, insn: &Insn) -> Result<(), Error> {
        /// Places a lowered instruction.
        struct Place<'p, 'w>(&'p mut Writer<'w>);
        impl lower::Form for Place<'_, '_> {
            type Output = Result<(), Error>;
            #[inline(always)]
            fn form<const N: usize>(self, variant: Variant, slots: [Slot; N]) -> Self::Output {
                lower::check_form(variant, &slots, self.0.labels.len())?;
                self.0.place(variant, slots)
            }
        }
        match lower::lower_with(insn, Place(self)) {
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
    fn place<const N: usize>(&mut self, variant: Variant, slots: [Slot; N]) -> Result<(), Error> {
        debug_assert_eq!(variant.slots(), N, "{variant:?}");
        let code = stencil::code(variant).ok_or(Error::Unsupported)?;
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
        if pad > 0 {
            for _ in 0..pad / nop.len() {
                self.put(nop);
            }
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
    fn refer(&mut self, label: Label) -> u64 {
        let slot = self.pos;
        let state = &mut self.labels[usize::from(label.0)];
        match *state {
            LabelState::Bound(at) => relative(at, slot),
            LabelState::Unused => {
                *state = LabelState::Pending(slot);
                END_OF_CHAIN
            }
            LabelState::Pending(last) => {
                *state = LabelState::Pending(slot);
                last as u64
            }
        }
    }

    /// Binds `label` here and fills every slot waiting for it.
    fn bind(&mut self, label: Label) -> Result<(), Error> {
        let here = self.pos;
        let state = &mut self.labels[usize::from(label.0)];
        let mut link = match *state {
            LabelState::Bound(_) => return Err(Error::LabelRebound(label)),
            LabelState::Unused => END_OF_CHAIN,
            LabelState::Pending(last) => last as u64,
        };
        *state = LabelState::Bound(here);
        while link != END_OF_CHAIN {
            let slot = link as usize;
            link = self.read_slot(slot);
            self.write_slot(slot, relative(here, slot));
        }
        Ok(())
    }

    fn read_slot(&self, at: usize) -> u64 {
        let mut bytes = [0; 8];
        if let Some(src) = self.buf.get(at..at + 8) {
            bytes.copy_from_slice(src);
        }
        u64::from_ne_bytes(bytes)
    }

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
