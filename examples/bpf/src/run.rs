//! Running a translated filter: the context it reads, and the one call that
//! runs it in copyjit's interpreter or as generated code.

use copyjit::{Executable, Interpreter, Limits, Platform};
use core::mem::{MaybeUninit, offset_of};

/// A filter ready to run over packets, interpreted or compiled.
pub trait Run {
    /// Runs the filter over one packet and returns what it returns, as
    /// libpcap's `bpf_filter(program, packet, wirelen, packet.len())` does:
    /// `packet` is the captured bytes, `wirelen` the length on the wire
    /// (what `ld len` reads). 0 means "drop".
    ///
    /// A captured length above `u32::MAX` is taken as `u32::MAX`.
    fn run(&self, packet: &[u8], wirelen: u32) -> u32;
}

/// How a call enters the translation of one program
/// ([`crate::Filter::needs_context`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `R3` = the captured length: the program uses neither scratch memory
    /// nor the length on the wire, so a call writes no memory.
    Registers,
    /// `R3` = a [`Context`] on the runner's stack; `M[]` cleared first when
    /// the program reads it.
    Context {
        /// Whether the program reads scratch memory.
        clear_scratch: bool,
    },
}

/// What generated code finds at `R3` when the program uses scratch memory
/// or `len` (it finds the packet's address in `R2`, A in `R0`, X in `R1`).
#[repr(C)]
pub(crate) struct Context {
    /// The captured length.
    caplen: u64,
    /// The length on the wire.
    wirelen: u64,
    /// `M[0..16]`, zero-extended; cleared only when the program reads it.
    mem: MaybeUninit<[u64; 16]>,
}

impl Context {
    /// Offset of `M[0]`.
    pub(crate) const MEM: i64 = offset_of!(Context, mem) as i64;
    /// Offset of the captured length.
    pub(crate) const CAPLEN: i64 = offset_of!(Context, caplen) as i64;
    /// Offset of the wire length.
    pub(crate) const WIRELEN: i64 = offset_of!(Context, wirelen) as i64;
}

/// Calls `f` with the registers the translation expects at entry: A = 0,
/// X = 0, the packet, and the captured length or a context built here, in
/// place (inlined, so that the uninitialised scratch memory is never moved:
/// out of line, its 128 bytes were copied on every call, half the time of a
/// one-instruction filter).
#[inline(always)]
fn enter<R>(entry: Entry, packet: &[u8], wirelen: u32, f: impl FnOnce([u64; 4]) -> R) -> R {
    let caplen = packet.len().min(u32::MAX as usize) as u64;
    let packet = packet.as_ptr() as usize as u64;
    match entry {
        Entry::Registers => f([0, 0, packet, caplen]),
        Entry::Context { clear_scratch } => {
            let mut context = Context {
                caplen,
                wirelen: u64::from(wirelen),
                mem: MaybeUninit::uninit(),
            };
            if clear_scratch {
                context.mem.write([0; 16]);
            }
            f([0, 0, packet, &raw mut context as usize as u64])
        }
    }
}

/// A filter run by copyjit's interpreter ([`crate::Filter::interpreter`]).
pub struct Interpreted<'i, const LABELS: usize> {
    interpreter: Interpreter<'i, LABELS>,
    entry: Entry,
}

impl<'i, const LABELS: usize> Interpreted<'i, LABELS> {
    pub(crate) fn new(interpreter: Interpreter<'i, LABELS>, entry: Entry) -> Self {
        Interpreted { interpreter, entry }
    }

    /// As [`Run::run`].
    pub fn run(&self, packet: &[u8], wirelen: u32) -> u32 {
        // The translation has no `call`, and without a fuel limit nothing
        // else stops the interpreter with an error.
        self.run_with_fuel(packet, wirelen, u64::MAX).unwrap_or(0)
    }

    /// As [`Run::run`], but stopped with [`copyjit::Error::FuelExhausted`]
    /// after `fuel` copyjit instructions: a bound for programs whose
    /// backward jumps might loop forever (libpcap would hang on them).
    pub fn run_with_fuel(
        &self,
        packet: &[u8],
        wirelen: u32,
        fuel: u64,
    ) -> Result<u32, copyjit::Error> {
        // No call, so no call stack.
        let limits = Limits {
            call_depth: 0,
            fuel,
        };
        let result = enter(self.entry, packet, wirelen, |registers| {
            // SAFETY: the program is a translation of a validated filter
            // (only `Filter::interpreter` builds this type), entered as
            // `self.entry` says: it reads the packet only after checking the
            // offset against the captured length, reads and writes only the
            // context's fields, pushes nothing and calls no function. The
            // context and `packet` outlive the call.
            unsafe { self.interpreter.run_on(registers, limits, &mut []) }
        });
        result.map(|r| r as u32)
    }
}

impl<const LABELS: usize> Run for Interpreted<'_, LABELS> {
    fn run(&self, packet: &[u8], wirelen: u32) -> u32 {
        Interpreted::run(self, packet, wirelen)
    }
}

/// A filter compiled to machine code ([`crate::Filter::jit_compile`]).
pub struct Compiled<'b, P: Platform> {
    code: Executable<'b, P>,
    entry: Entry,
}

impl<'b, P: Platform> Compiled<'b, P> {
    pub(crate) fn new(code: Executable<'b, P>, entry: Entry) -> Self {
        Compiled { code, entry }
    }

    /// The machine code, from its entry to its end (to name it for a
    /// profiler, e.g. with `copyjit_linux::PerfMap`, or to disassemble it).
    pub fn bytes(&self) -> &[u8] {
        self.code.bytes()
    }

    /// As [`Run::run`].
    pub fn run(&self, packet: &[u8], wirelen: u32) -> u32 {
        enter(self.entry, packet, wirelen, |registers| {
            // SAFETY: the code was emitted from the translation of a
            // validated filter (only `Filter::jit_compile` builds this
            // type), with the contract stated for the interpreter above:
            // packet reads are bounds-checked big-endian loads (no alignment
            // needed), other accesses stay in the context, no push, no call.
            unsafe { self.code.call(registers) as u32 }
        })
    }
}

impl<P: Platform> Run for Compiled<'_, P> {
    fn run(&self, packet: &[u8], wirelen: u32) -> u32 {
        Compiled::run(self, packet, wirelen)
    }
}
