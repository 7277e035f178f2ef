//! A bare-metal image for QEMU's aarch64 `virt` machine that JIT-compiles
//! with copyjit: it runs the core's self-test (every op form, as generated
//! code and in the interpreter) and the billion-sum, prints a line per
//! self-test group on the PL011 UART, and ends QEMU through semihosting
//! with exit status 0 if all is well, 1 if not.
//!
//! ```sh
//! # the runner in .cargo/config.toml:
//! cargo run --release --target aarch64-unknown-none -p copyjit-aarch64-demo
//! ```
//!
//! QEMU starts it at `_start` in EL1 with the MMU and caches off. `_start`
//! turns on FP/SIMD (Rust code on aarch64-unknown-none uses it; the
//! stencils do not), zeroes `.bss`, sets the stack and calls `main`.

#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

use copyjit::Assembler;
use copyjit::selftest;
use copyjit_aarch64_virt::SingleCore;
use core::fmt::Write;
use core::panic::PanicInfo;

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    mov x0, #(3 << 20)
    msr cpacr_el1, x0
    isb
    ldr x0, =__bss_start
    ldr x1, =__bss_end
1:  cmp x0, x1
    b.hs 2f
    str xzr, [x0], #8
    b 1b
2:  ldr x0, =__stack_top
    mov sp, x0
    bl main
3:  wfe
    b 3b
"#
);

/// The code buffer of the self-test: far more than its longest program.
const SELF_TEST_CODE_BYTES: usize = if cfg!(feature = "fail-demo") {
    // Too small for any program: every case fails.
    8
} else {
    64 * 1024
};

/// The billion-sum's code buffer: its code and one data block.
const SUM_CODE_BYTES: usize = 4096;

/// The billion-sum's bound: a hundredth of a billion, as QEMU emulates.
const SUM_BOUND: u64 = 10_000_000;

static mut SELF_TEST_CODE: [u8; SELF_TEST_CODE_BYTES] = [0; SELF_TEST_CODE_BYTES];
static mut SUM_CODE: [u8; SUM_CODE_BYTES] = [0; SUM_CODE_BYTES];

/// The PL011 UART of the virt machine; QEMU needs no set-up to send.
struct Uart;

impl Uart {
    const DATA: usize = 0x0900_0000;
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: the virt machine maps a PL011 at this address; a
            // write to its data register sends one byte.
            unsafe { core::ptr::write_volatile(Uart::DATA as *mut u32, u32::from(b)) };
        }
        Ok(())
    }
}

macro_rules! println {
    ($($arg:tt)*) => {{
        let _ = writeln!(Uart, $($arg)*);
    }};
}

#[unsafe(no_mangle)]
extern "C" fn main() -> ! {
    println!(
        "copyjit on QEMU aarch64 virt, EL1, MMU off; stencils for {} by {}",
        copyjit::TARGET,
        copyjit::COMPILER
    );
    // SAFETY: `main` runs once, on the one core, and nothing else names
    // these statics: each becomes one exclusive slice over all its bytes.
    let (self_test_code, sum_code) = unsafe {
        (
            core::slice::from_raw_parts_mut(
                (&raw mut SELF_TEST_CODE).cast::<u8>(),
                SELF_TEST_CODE_BYTES,
            ),
            core::slice::from_raw_parts_mut((&raw mut SUM_CODE).cast::<u8>(), SUM_CODE_BYTES),
        )
    };
    let self_test_passed = self_test(self_test_code);
    let sum_right = billion_sum(SUM_BOUND, sum_code);
    let passed = self_test_passed && sum_right;
    println!("exit status {}", u32::from(!passed));
    exit(u32::from(!passed))
}

/// Ends QEMU with exit status `status` through semihosting (`SYS_EXIT`
/// with `ADP_Stopped_ApplicationExit`, which QEMU turns into its status).
fn exit(status: u32) -> ! {
    let block: [u64; 2] = [0x2_0026, u64::from(status)];
    // SAFETY: the semihosting call reads the two words of `block` and ends
    // the emulation (QEMU runs with `-semihosting`); without a debugger it
    // would trap, and the loop below is never reached either way.
    unsafe {
        core::arch::asm!("hlt #0xf000", in("w0") 0x18u32, in("x1") block.as_ptr(), options(nostack));
    }
    loop {
        core::hint::spin_loop();
    }
}

/// Counter ticks (CNTVCT_EL0) since reset.
fn now() -> u64 {
    let ticks: u64;
    // SAFETY: reading the virtual counter has no effect.
    unsafe {
        core::arch::asm!("mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack, preserves_flags));
    }
    ticks
}

/// Microseconds in `ticks` (CNTFRQ_EL0 ticks per second).
fn micros(ticks: u64) -> u64 {
    let frequency: u64;
    // SAFETY: reading the counter frequency has no effect.
    unsafe {
        core::arch::asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack, preserves_flags));
    }
    ticks * 1_000_000 / frequency.max(1)
}

/// Runs the core's self-test in `code` and prints a line per group.
fn self_test(code: &mut [u8]) -> bool {
    let started = now();
    let mut last = started;
    let summary = selftest::run(&SingleCore, code, |r| {
        let now = now();
        println!("{}", r.line(micros(now - last) / 1000));
        last = now;
    });
    println!("{}", summary.line(micros(now() - started) / 1000));
    summary.complete()
}

/// Sums the integers below `n` with a three-op loop of generated code.
fn billion_sum(n: u64, buf: &mut [u8]) -> bool {
    let program = selftest::sum_below(n);
    let mut asm: Assembler = Assembler::new(buf);
    let code = match asm.emit_all(&program).and_then(|()| asm.finish()) {
        Ok(code) => code,
        Err(e) => {
            println!("billion-sum: {e}");
            return false;
        }
    };
    let bytes = code.bytes().len();
    let Ok(code) = code.make_executable(&SingleCore);
    let started = now();
    // SAFETY: the program touches no memory and calls nothing.
    let sum = unsafe { code.call([0; 4]) };
    let ran = micros(now() - started);
    let expected = n * (n - 1) / 2;
    println!(
        "billion-sum, bound {n} under emulation: {sum} in {} ms, {} ns per iteration; {} instructions in {bytes} bytes",
        ran / 1000,
        ran * 1000 / n.max(1),
        program.len(),
    );
    if sum != expected {
        println!("wrong sum: expected {expected}");
    }
    sum == expected
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    println!("panic: {info}");
    exit(1)
}
