//! What the core needs from the platform it runs on, and what it promises
//! in return.

use core::fmt;

/// Instruction-cache maintenance and memory permissions for generated code.
///
/// The core writes code through ordinary stores, then asks the platform to
/// make it visible to instruction fetch and executable. Implementations:
/// `copyjit-linux` (hosted Linux, never writable and executable at once),
/// and for bare metal, one core each:
/// `copyjit-riscv64-virt` (RISC-V, 64 and 32 bits, `fence.i`),
/// `copyjit-cortex-m` (Cortex-M without caches, `dsb` + `isb`) and
/// `copyjit-aarch64-virt` (`dc cvau` / `ic ivau`).
///
/// # The contract
///
/// The core ([`crate::Code::make_executable`], [`crate::Executable`]) calls
/// the methods in one order for one region, the buffer an assembler wrote:
/// [`flush_icache`](Self::flush_icache) over the code, then
/// [`make_executable`](Self::make_executable) over the whole buffer, then,
/// once nothing runs in it any more, [`make_writable`](Self::make_writable)
/// over the same buffer (also after a failed `make_executable`).
///
/// An implementation may assume that:
/// - the region is a `&mut [u8]` the core holds for the whole sequence, so
///   no other Rust code reads or writes it meanwhile;
/// - nothing writes the region between `make_executable` and
///   `make_writable`, and no code runs in it outside that span;
/// - `make_writable` gets exactly the `ptr` and `len` that
///   `make_executable` got.
///
/// An implementation must guarantee that:
/// - it changes nothing outside the `len` bytes at `ptr`: no permission of
///   any other byte, even one on the same page (a platform whose
///   permissions cover whole pages refuses a region that does not cover its
///   pages whole, or works on memory it owns);
/// - after `flush_icache` and a successful `make_executable`, instruction
///   fetch from the region sees the bytes the core wrote, on every core
///   that may run them, and the region is readable;
/// - after a successful `make_writable` the region is readable and
///   writable again, as it was before `make_executable`;
/// - a refused `make_executable` leaves the region in a state from which
///   `make_writable` restores it (a region refused before anything was
///   changed needs nothing restored: `make_writable` then succeeds).
///
/// If `make_writable` fails, the core does not hand the region back, since
/// safe code would then write memory that may not be writable:
/// [`crate::Executable::into_writable`] returns the code still executable,
/// and dropping it panics (see [`crate::Executable`]). On Linux this takes
/// the kernel running out of memory for its mapping structures.
///
/// Only `unsafe` code inside an implementation can change permissions or
/// caches, so breaking the contract takes an `unsafe` block that is wrong.
pub trait Platform {
    /// Why the platform refused; `core::convert::Infallible` where nothing fails.
    type Error: fmt::Debug + fmt::Display;

    /// Makes `code`, just written through data stores, visible to
    /// instruction fetch on every hart or core that may run it.
    fn flush_icache(&self, code: &[u8]) -> Result<(), Self::Error>;

    /// Makes the `len` bytes at `ptr` readable and executable, and no
    /// longer writable where the platform can enforce it.
    ///
    /// # Safety
    /// The region must be memory the caller owns for as long as it is
    /// executable, and nothing may write to it until [`Platform::make_writable`].
    unsafe fn make_executable(&self, ptr: *mut u8, len: usize) -> Result<(), Self::Error>;

    /// Makes the `len` bytes at `ptr` readable and writable, and no longer
    /// executable where the platform can enforce it.
    ///
    /// # Safety
    /// The region must be memory the caller owns, that it passed to
    /// [`Platform::make_executable`] before, and no code in it may be
    /// running or be run until it is made executable again.
    unsafe fn make_writable(&self, ptr: *mut u8, len: usize) -> Result<(), Self::Error>;
}

/// A [`Platform`] whose flushes and permissions hold for every core and
/// thread of the program, so that code it made executable can run on any of
/// them: [`crate::Executable`] is then `Send` and `Sync`.
///
/// # Safety
/// After [`Platform::flush_icache`] and a successful
/// [`Platform::make_executable`] on one thread, any other thread that
/// obtains the code through a synchronizing operation (a thread spawn or
/// join, a channel, a lock, an acquire load) must fetch the bytes the core
/// wrote, and the permissions must be the same for every thread. A platform
/// that flushes only the current core (`fence.i` on one hart) must not
/// implement this trait.
pub unsafe trait AllCores: Platform + Sync {}
