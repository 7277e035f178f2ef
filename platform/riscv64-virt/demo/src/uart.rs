//! The console: the NS16550 UART of QEMU's virt machine, behind a spin lock
//! so that lines from different contexts never interleave.

use core::fmt;
use spin::Mutex;

/// The UART's registers start here, one byte apart.
const BASE: usize = 0x1000_0000;
/// Transmit holding register (write).
const THR: usize = 0;
/// Interrupt enable register.
const IER: usize = 1;
/// FIFO control register (write).
const FCR: usize = 2;
/// Line control register.
const LCR: usize = 3;
/// Line status register.
const LSR: usize = 5;
/// LSR: the transmit holding register can take a byte.
const LSR_THR_EMPTY: u8 = 1 << 5;

/// The console everything prints to.
pub static CONSOLE: Mutex<Uart> = Mutex::new(Uart { base: BASE });

/// An NS16550-compatible UART, transmit only.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// Polled mode, 8 data bits, no parity, one stop bit, FIFOs on. QEMU
    /// ignores the baud rate, so the divisor is left alone.
    pub fn init(&mut self) {
        self.write(IER, 0);
        self.write(LCR, 0b11);
        self.write(FCR, 1);
    }

    fn put(&mut self, byte: u8) {
        while self.read(LSR) & LSR_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        self.write(THR, byte);
    }

    fn read(&self, reg: usize) -> u8 {
        // SAFETY: `base + reg` is one of the UART's byte registers on the
        // virt machine, which are always mapped and read without side
        // effects except on the receive buffer, which is never read.
        unsafe { core::ptr::read_volatile((self.base + reg) as *const u8) }
    }

    fn write(&mut self, reg: usize, value: u8) {
        // SAFETY: as in `read`; `&mut self` (held under the console lock)
        // keeps register writes from interleaving.
        unsafe { core::ptr::write_volatile((self.base + reg) as *mut u8, value) }
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}

/// Prints on the console after a panic or trap, when the lock may be held
/// by the code that was interrupted and will never release it.
pub fn print_last_words(args: fmt::Arguments<'_>) {
    use fmt::Write as _;
    let _ = match CONSOLE.try_lock() {
        Some(mut console) => console.write_fmt(args),
        None => Uart { base: BASE }.write_fmt(args),
    };
}

/// Prints a line on the console.
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::uart::CONSOLE.lock(), $($arg)*);
    }};
}
