//! A bare-metal image for QEMU's riscv64 `virt` machine that JIT-compiles
//! with copyjit: it runs the core's self-test (every op form, as generated
//! code and in the interpreter), the billion-sum and a few classic BPF
//! filters over packets built into the image (`bpf.rs`), prints a line per
//! self-test group and per filter on the UART, and ends QEMU with exit
//! status 0 if all is well (see `exit.rs` for the other statuses).
//!
//! ```sh
//! # M-mode at 0x8000_0000, no firmware (the runner in .cargo/config.toml):
//! cargo run --release --target riscv64gc-unknown-none-elf -p copyjit-riscv64-demo
//! # S-mode at 0x8020_0000 under QEMU's default OpenSBI:
//! platform/riscv64-virt/run-smode.sh
//! ```
//!
//! Start-up is riscv-rt's: it sets the stack, zeroes `.bss`, copies
//! `.data`, turns the FPU on, installs a trap vector and calls `main`, in
//! M-mode or (with the `smode` feature) in S-mode. `build.rs` gives its
//! `link.x` a `memory.x` for the chosen load address. The heap for the code
//! buffers and program lists is linked_list_allocator's, over riscv-rt's
//! heap region, behind a spin lock.

#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

#[macro_use]
mod uart;
mod bpf;
mod clock;
mod exit;

use alloc::vec;
use alloc::vec::Vec;
use copyjit::Assembler;
use copyjit::selftest::{self, GroupReport};
use copyjit_riscv64_virt::SingleHart;
use core::panic::PanicInfo;

mod heap;

#[global_allocator]
static HEAP: heap::Locked = heap::Locked::empty();

/// The code buffer of the self-test: far more than its longest program.
const SELF_TEST_CODE_BYTES: usize = if cfg!(feature = "fail-demo") {
    // Too small for any program: every case fails.
    8
} else {
    64 * 1024
};

/// The billion-sum's bound: a tenth of a billion, as QEMU emulates.
const SUM_BOUND: u64 = 100_000_000;

const MODE: &str = if cfg!(feature = "smode") {
    "S-mode at 0x8020_0000 under OpenSBI"
} else {
    "M-mode at 0x8000_0000, no firmware"
};

#[riscv_rt::entry]
fn main() -> ! {
    init_heap();
    uart::CONSOLE.lock().init();
    println!(
        "copyjit on QEMU RISC-V virt, {MODE}; stencils for {} by {}",
        copyjit::TARGET,
        copyjit::COMPILER
    );
    let self_test_passed = self_test();
    let sum_right = billion_sum(SUM_BOUND);
    let filters_right = bpf::run();
    let status = if !self_test_passed {
        exit::SELF_TEST_FAILED
    } else if !sum_right {
        exit::WRONG_SUM
    } else if !filters_right {
        exit::BPF_FAILED
    } else {
        0
    };
    println!("exit status {status}");
    exit::exit(status)
}

/// Hands riscv-rt's heap region (between `.bss` and the stack, sized by
/// `_heap_size` in memory.x) to the allocator.
fn init_heap() {
    unsafe extern "C" {
        /// Its address is the heap's size (memory.x).
        static _heap_size: u8;
    }
    let size = (&raw const _heap_size) as usize;
    // SAFETY: riscv-rt's link.x reserves `_heap_size` bytes at
    // `heap_start()` for the heap, which nothing else uses; this runs
    // once, before the first allocation.
    unsafe { HEAP.lock().init(riscv_rt::heap_start().cast(), size) };
}

/// Runs the core's self-test in a heap buffer and prints a line per group.
fn self_test() -> bool {
    let mut code = vec![0u8; SELF_TEST_CODE_BYTES];
    let mut reports: Vec<GroupReport> = Vec::with_capacity(selftest::Group::ALL.len());
    let started = clock::now();
    let mut last = started;
    let summary = selftest::run(&SingleHart, &mut code, |r| {
        let now = clock::now();
        println!("{}", r.line(clock::micros(now - last) / 1000));
        last = now;
        reports.push(*r);
    });
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.group.name())
        .collect();
    println!(
        "self-test: {} cases, {} of {} op forms, {} failed in {} groups {:?}, {} ms",
        summary.cases,
        summary.forms_covered,
        summary.forms_total,
        summary.failed,
        failed.len(),
        failed,
        clock::micros(clock::now() - started) / 1000,
    );
    summary.complete()
}

/// Sums the integers below `n` with a three-op loop of generated code.
fn billion_sum(n: u64) -> bool {
    let program = selftest::sum_below(n);
    let mut buf = vec![0u8; 4096];
    let started = clock::now();
    let mut asm: Assembler = Assembler::new(&mut buf);
    let code = match asm.emit_all(&program).and_then(|()| asm.finish()) {
        Ok(code) => code,
        Err(e) => {
            println!("billion-sum: {e}");
            return false;
        }
    };
    let bytes = code.bytes().len();
    let Ok(code) = code.make_executable(&SingleHart);
    let compiled = clock::now() - started;
    let started = clock::now();
    // SAFETY: the program touches no memory and calls nothing.
    let sum = unsafe { code.call([0; 4]) };
    let ran = clock::now() - started;
    let expected = n * (n - 1) / 2;
    println!(
        "billion-sum, bound {n} under emulation: {sum} in {} ms, {} ns per iteration; {} instructions compiled into {bytes} bytes in {} us",
        clock::micros(ran) / 1000,
        clock::nanos(ran) / n.max(1),
        program.len(),
        clock::micros(compiled),
    );
    if sum != expected {
        println!("wrong sum: expected {expected}");
    }
    sum == expected
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    uart::print_last_words(format_args!("panic: {info}\n"));
    exit::exit(exit::PANICKED)
}

/// Every exception ends the run with a message (riscv-rt calls this for
/// exceptions without a handler of their own).
#[unsafe(export_name = "ExceptionHandler")]
extern "C" fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    let (cause, pc, value) = trap_registers();
    uart::print_last_words(format_args!(
        "exception {cause} at pc {pc:#x} (tval {value:#x})\n"
    ));
    exit::exit(exit::TRAPPED)
}

/// Interrupts are never enabled; one that arrives all the same ends the run
/// (riscv-rt calls this for interrupts without a handler of their own).
#[unsafe(export_name = "DefaultHandler")]
extern "C" fn interrupt_handler() -> ! {
    let (cause, pc, _) = trap_registers();
    uart::print_last_words(format_args!(
        "unexpected interrupt {:#x} at pc {pc:#x}\n",
        cause
    ));
    exit::exit(exit::TRAPPED)
}

/// The cause, faulting pc and trap value of the current trap.
#[cfg(not(feature = "smode"))]
fn trap_registers() -> (usize, usize, usize) {
    use riscv::register::{mcause, mepc, mtval};
    (mcause::read().bits(), mepc::read(), mtval::read())
}

/// The cause, faulting pc and trap value of the current trap.
#[cfg(feature = "smode")]
fn trap_registers() -> (usize, usize, usize) {
    use riscv::register::{scause, sepc, stval};
    (scause::read().bits(), sepc::read(), stval::read())
}
