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

/// What generated code finds at `R3`: scratch memory, X and the lengths
/// (it finds the packet's address in `R2`).
///
/// The runners build one per call on their stack: four words written, and
/// `M[]` cleared only for programs that read it.
#[repr(C)]
pub(crate) struct Context {
    /// `M[0..16]`, zero-extended; cleared only when the program reads it.
    mem: MaybeUninit<[u64; 16]>,
    /// X, zero-extended.
    x: u64,
    /// The captured length.
    caplen: u64,
    /// The length on the wire.
    wirelen: u64,
}

impl Context {
    /// Offset of `M[0]`.
    pub(crate) const MEM: i64 = offset_of!(Context, mem) as i64;
    /// Offset of X.
    pub(crate) const X: i64 = offset_of!(Context, x) as i64;
    /// Offset of the captured length.
    pub(crate) const CAPLEN: i64 = offset_of!(Context, caplen) as i64;
    /// Offset of the wire length.
    pub(crate) const WIRELEN: i64 = offset_of!(Context, wirelen) as i64;

    /// Inlined into the runners, so that the uninitialised scratch memory is
    /// never copied (out of line, the 128 bytes were moved on every call:
    /// half the time of a one-instruction filter).
    #[inline(always)]
    fn new(packet: &[u8], wirelen: u32, clear_scratch: bool) -> Self {
        Context {
            mem: if clear_scratch {
                MaybeUninit::new([0; 16])
            } else {
                MaybeUninit::uninit()
            },
            x: 0,
            caplen: packet.len().min(u32::MAX as usize) as u64,
            wirelen: u64::from(wirelen),
        }
    }

    /// The registers the translation expects at entry: A = 0, R1 = X = 0,
    /// the packet, the context.
    #[inline(always)]
    fn registers(&mut self, packet: &[u8]) -> [u64; 4] {
        [
            0,
            0,
            packet.as_ptr() as usize as u64,
            &raw mut *self as usize as u64,
        ]
    }
}

/// A filter run by copyjit's interpreter ([`crate::Filter::interpreter`]).
pub struct Interpreted<'i, const LABELS: usize> {
    interpreter: Interpreter<'i, LABELS>,
    clear_scratch: bool,
}

impl<'i, const LABELS: usize> Interpreted<'i, LABELS> {
    pub(crate) fn new(interpreter: Interpreter<'i, LABELS>, clear_scratch: bool) -> Self {
        Interpreted {
            interpreter,
            clear_scratch,
        }
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
        let mut context = Context::new(packet, wirelen, self.clear_scratch);
        let registers = context.registers(packet);
        // No call, so no call stack.
        let limits = Limits {
            call_depth: 0,
            fuel,
        };
        // SAFETY: the program is a translation of a validated filter (only
        // `Filter::interpreter` builds this type): it reads the packet only
        // after checking the offset against the captured length, reads and
        // writes only the context's fields, pushes nothing and calls no
        // function. `context` and `packet` outlive the call.
        let result = unsafe { self.interpreter.run_on(registers, limits, &mut []) };
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
    clear_scratch: bool,
}

impl<'b, P: Platform> Compiled<'b, P> {
    pub(crate) fn new(code: Executable<'b, P>, clear_scratch: bool) -> Self {
        Compiled {
            code,
            clear_scratch,
        }
    }

    /// As [`Run::run`].
    pub fn run(&self, packet: &[u8], wirelen: u32) -> u32 {
        let mut context = Context::new(packet, wirelen, self.clear_scratch);
        let registers = context.registers(packet);
        // SAFETY: the code was emitted from the translation of a validated
        // filter (only `Filter::jit_compile` builds this type), with the
        // contract stated for the interpreter above: packet reads are
        // bounds-checked byte loads (no alignment needed), other accesses
        // stay in `context`, no push, no call.
        unsafe { self.code.call(registers) as u32 }
    }
}

impl<P: Platform> Run for Compiled<'_, P> {
    fn run(&self, packet: &[u8], wirelen: u32) -> u32 {
        Compiled::run(self, packet, wirelen)
    }
}
