//! Time from the `time` CSR, which counts at the virt machine's timebase
//! frequency in M-mode and, through OpenSBI's `mcounteren`, in S-mode. (The
//! CLINT's `mtime` it mirrors is M-mode only.)

/// The virt machine's `timebase-frequency` (its device tree says 10 MHz).
const TICKS_PER_SECOND: u64 = 10_000_000;

/// Ticks since reset.
pub fn now() -> u64 {
    riscv::register::time::read() as u64
}

/// Microseconds in `ticks`.
pub fn micros(ticks: u64) -> u64 {
    ticks * 1_000_000 / TICKS_PER_SECOND
}

/// Nanoseconds in `ticks`.
pub fn nanos(ticks: u64) -> u64 {
    ticks * (1_000_000_000 / TICKS_PER_SECOND)
}
