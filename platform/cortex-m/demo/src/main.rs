//! A bare-metal image for QEMU's Cortex-M machines that JIT-compiles with
//! copyjit: it runs the core's self-test (every op form, as generated code
//! and in the interpreter) and the billion-sum with a bound that suits an
//! emulator, prints a line per self-test group through semihosting, and
//! ends QEMU through semihosting with exit status 0 if all is well, 1 if
//! not.
//!
//! ```sh
//! # mps2-an386 (Cortex-M4), the runner in .cargo/config.toml:
//! cargo run --release --target thumbv7em-none-eabihf -p copyjit-cortex-m-demo
//! ```
//!
//! Start-up is cortex-m-rt's (`build.rs` gives its `link.x` a `memory.x`
//! for the machine). The code buffers are statics in RAM, away from the
//! stack: QEMU retranslates code whose memory page is written, so code
//! beside the stack would run many times slower.

#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

use copyjit::Assembler;
use copyjit::selftest;
use copyjit_cortex_m::SingleCore;
use core::panic::PanicInfo;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hprintln};

/// The code buffer of the self-test: far more than its longest program.
const SELF_TEST_CODE_BYTES: usize = if cfg!(feature = "fail-demo") {
    // Too small for any program: every case fails.
    8
} else {
    32 * 1024
};

/// The billion-sum's code buffer: its code and one data block.
const SUM_CODE_BYTES: usize = 4096;

/// The billion-sum's bound: a hundredth of a billion, as QEMU emulates a
/// 32-bit core doing 64-bit arithmetic.
const SUM_BOUND: u64 = 10_000_000;

#[entry]
fn main() -> ! {
    hprintln!(
        "copyjit on QEMU Cortex-M; stencils for {} by {}",
        copyjit::TARGET,
        copyjit::COMPILER
    );
    // `singleton!` hands out each static once; `main` runs once.
    let self_test_code =
        cortex_m::singleton!(: [u8; SELF_TEST_CODE_BYTES] = [0; SELF_TEST_CODE_BYTES]);
    let sum_code = cortex_m::singleton!(: [u8; SUM_CODE_BYTES] = [0; SUM_CODE_BYTES]);
    let (Some(self_test_code), Some(sum_code)) = (self_test_code, sum_code) else {
        unreachable!("main runs once")
    };
    let self_test_passed = self_test(self_test_code);
    let sum_right = billion_sum(SUM_BOUND, sum_code);
    let passed = self_test_passed && sum_right;
    hprintln!(
        "{}",
        if passed {
            "exit status 0"
        } else if !self_test_passed {
            "exit status 1: the self-test failed"
        } else {
            "exit status 1: wrong sum"
        }
    );
    exit(passed)
}

/// Ends QEMU through semihosting: exit status 0 when `passed`, else 1.
fn exit(passed: bool) -> ! {
    debug::exit(if passed {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Without a debugger or semihosting nothing ends the run.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Host time in hundredths of a second (semihosting `SYS_CLOCK`): what
/// the emulation takes, since QEMU's Cortex-M cores have no cycle counter.
fn centis() -> u32 {
    // SAFETY: SYS_CLOCK takes no argument and only returns a value; QEMU
    // runs with semihosting enabled (the runner's `-semihosting`).
    unsafe { cortex_m_semihosting::syscall!(CLOCK) as u32 }
}

/// Runs the core's self-test in `code` and prints a line per group.
fn self_test(code: &mut [u8]) -> bool {
    let started = centis();
    let mut last = started;
    let summary = selftest::run(&SingleCore, code, |r| {
        let now = centis();
        hprintln!("{}", r.line(u64::from(now.wrapping_sub(last)) * 10));
        last = now;
    });
    hprintln!(
        "{}",
        summary.line(u64::from(centis().wrapping_sub(started)) * 10)
    );
    summary.complete()
}

/// Sums the integers below `n` with a three-op loop of generated code.
fn billion_sum(n: u64, buf: &mut [u8]) -> bool {
    let program = selftest::sum_below(n);
    let mut asm: Assembler = Assembler::new(buf);
    let code = match asm.emit_all(&program).and_then(|()| asm.finish()) {
        Ok(code) => code,
        Err(e) => {
            hprintln!("billion-sum: {}", e);
            return false;
        }
    };
    let bytes = code.bytes().len();
    let Ok(code) = code.make_executable(&SingleCore);
    let started = centis();
    // SAFETY: the program touches no memory and calls nothing.
    let sum = unsafe { code.call([0; 4]) };
    let ran = u64::from(centis().wrapping_sub(started));
    let expected = n * (n - 1) / 2;
    hprintln!(
        "billion-sum, bound {} under emulation: {} in {} ms, {} ns per iteration; {} instructions in {} bytes",
        n,
        sum,
        ran * 10,
        ran * 10_000_000 / n.max(1),
        program.len(),
        bytes,
    );
    if sum != expected {
        hprintln!("wrong sum: expected {}", expected);
    }
    sum == expected
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    exit(false)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("hard fault at pc {:#x}", frame.pc());
    exit(false)
}

#[exception]
unsafe fn DefaultHandler(irq: i16) {
    hprintln!("unexpected exception or interrupt {}", irq);
    exit(false)
}
