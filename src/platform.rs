//! What the core needs from the platform it runs on.

use core::fmt;

/// Instruction-cache maintenance and memory permissions for generated code.
///
/// The core writes code through ordinary stores, then asks the platform to
/// make it visible to instruction fetch and executable. Implementations:
/// `copyjit-linux` (hosted Linux, never writable and executable at once) and
/// `copyjit-riscv64-virt` (bare-metal RISC-V on QEMU's `virt` machine).
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
    /// The region must be memory the caller owns, and no code in it may be
    /// running or be run until it is made executable again.
    unsafe fn make_writable(&self, ptr: *mut u8, len: usize) -> Result<(), Self::Error>;
}
