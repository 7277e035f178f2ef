//! Ends the run: QEMU's SiFive test device ("sifive,test1" at 0x10_0000)
//! makes QEMU exit with the status written to it, so CI reads the verdict
//! from the exit status.

/// The test device's only register.
const TEST_DEVICE: usize = 0x10_0000;
/// Written alone: QEMU exits with status 0.
const PASS: u32 = 0x5555;
/// Written with a status in the upper 16 bits: QEMU exits with it.
const FAIL: u32 = 0x3333;

/// A self-test case failed.
pub const SELF_TEST_FAILED: u16 = 1;
/// The billion-sum gave the wrong sum.
pub const WRONG_SUM: u16 = 2;
/// The image panicked.
pub const PANICKED: u16 = 3;
/// An exception or an unexpected interrupt trapped.
pub const TRAPPED: u16 = 4;
/// A BPF filter gave different values compiled and interpreted, or did not
/// accept as many packets as tcpdump.
pub const BPF_FAILED: u16 = 5;

/// Ends QEMU with exit status `status` (0 for success).
pub fn exit(status: u16) -> ! {
    let value = if status == 0 {
        PASS
    } else {
        (u32::from(status) << 16) | FAIL
    };
    // SAFETY: the test device is mapped at this address on the virt
    // machine (and left accessible to S-mode by OpenSBI); the write ends
    // the emulation.
    unsafe { core::ptr::write_volatile(TEST_DEVICE as *mut u32, value) };
    loop {
        riscv::asm::wfi();
    }
}
