//! One classic BPF instruction, its opcodes, and the disassembler that
//! prints it as `tcpdump -d` does.

use core::fmt;

/// One classic BPF instruction, laid out as `struct bpf_insn` (`<pcap/bpf.h>`,
/// `<linux/filter.h>`), so a slice of them can be handed to C as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Instruction {
    /// The opcode: class, size or operation, mode or source.
    pub code: u16,
    /// Conditional jumps: instructions to skip when the condition holds.
    pub jt: u8,
    /// Conditional jumps: instructions to skip when it does not.
    pub jf: u8,
    /// The constant operand: an immediate, a packet offset, a scratch index
    /// or an unconditional jump's offset.
    pub k: u32,
}

impl Instruction {
    /// An instruction without jump offsets (`BPF_STMT`).
    pub const fn stmt(code: u16, k: u32) -> Self {
        Instruction {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump (`BPF_JUMP`).
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Self {
        Instruction { code, jt, jf, k }
    }

    /// The instruction as `tcpdump -d` prints it at index `pc`, jump targets
    /// absolute: `(001) jeq      #0x800           jt 2`, a tab, `jf 5`.
    pub const fn at(self, pc: usize) -> Disassembly {
        Disassembly { insn: self, pc }
    }
}

/// The opcodes: the constants of `<pcap/bpf.h>`, and every full opcode that
/// libpcap's `bpf_filter` executes.
pub mod op {
    /// Instruction class: load into A.
    pub const LD: u16 = 0x00;
    /// Instruction class: load into X.
    pub const LDX: u16 = 0x01;
    /// Instruction class: store A into scratch memory.
    pub const ST: u16 = 0x02;
    /// Instruction class: store X into scratch memory.
    pub const STX: u16 = 0x03;
    /// Instruction class: arithmetic on A.
    pub const ALU: u16 = 0x04;
    /// Instruction class: jumps.
    pub const JMP: u16 = 0x05;
    /// Instruction class: return.
    pub const RET: u16 = 0x06;
    /// Instruction class: register moves.
    pub const MISC: u16 = 0x07;

    /// Load size: 32 bits.
    pub const W: u16 = 0x00;
    /// Load size: 16 bits.
    pub const H: u16 = 0x08;
    /// Load size: 8 bits.
    pub const B: u16 = 0x10;

    /// Load mode: the constant `k`.
    pub const IMM: u16 = 0x00;
    /// Load mode: packet bytes at `k`.
    pub const ABS: u16 = 0x20;
    /// Load mode: packet bytes at `X + k`.
    pub const IND: u16 = 0x40;
    /// Load mode: scratch word `M[k]`.
    pub const MEM: u16 = 0x60;
    /// Load mode: the packet's length on the wire.
    pub const LEN: u16 = 0x80;
    /// Load mode: `4 * (packet[k] & 0xf)`, an IPv4 header length.
    pub const MSH: u16 = 0xa0;

    /// Arithmetic: addition.
    pub const ADD: u16 = 0x00;
    /// Arithmetic: subtraction.
    pub const SUB: u16 = 0x10;
    /// Arithmetic: multiplication.
    pub const MUL: u16 = 0x20;
    /// Arithmetic: unsigned division.
    pub const DIV: u16 = 0x30;
    /// Arithmetic: bitwise or.
    pub const OR: u16 = 0x40;
    /// Arithmetic: bitwise and.
    pub const AND: u16 = 0x50;
    /// Arithmetic: shift left.
    pub const LSH: u16 = 0x60;
    /// Arithmetic: logical shift right.
    pub const RSH: u16 = 0x70;
    /// Arithmetic: negation.
    pub const NEG: u16 = 0x80;
    /// Arithmetic: unsigned remainder.
    pub const MOD: u16 = 0x90;
    /// Arithmetic: exclusive or.
    pub const XOR: u16 = 0xa0;

    /// Jump: always, by the 32-bit `k`.
    pub const JA: u16 = 0x00;
    /// Jump: if equal.
    pub const JEQ: u16 = 0x10;
    /// Jump: if unsigned greater than.
    pub const JGT: u16 = 0x20;
    /// Jump: if unsigned greater than or equal.
    pub const JGE: u16 = 0x30;
    /// Jump: if any bit of the and is set.
    pub const JSET: u16 = 0x40;

    /// Operand source: the constant `k`.
    pub const K: u16 = 0x00;
    /// Operand source: X.
    pub const X: u16 = 0x08;
    /// Return value: A.
    pub const A: u16 = 0x10;

    /// Misc: X = A.
    pub const TAX: u16 = 0x00;
    /// Misc: A = X.
    pub const TXA: u16 = 0x80;

    /// The class bits of an opcode.
    pub const fn class(code: u16) -> u16 {
        code & 0x07
    }

    /// Every opcode libpcap's `bpf_filter` executes. Any other
    /// code makes it abort, so validation rejects it.
    pub const ALL: [u16; 49] = [
        LD | W | IMM,
        LDX | W | IMM,
        ST,
        STX,
        ALU | ADD | K,
        JMP | JA,
        RET | K,
        MISC | TAX,
        ALU | ADD | X,
        ALU | SUB | K,
        JMP | JEQ | K,
        RET | A,
        ALU | SUB | X,
        JMP | JEQ | X,
        LD | W | ABS,
        ALU | MUL | K,
        JMP | JGT | K,
        LD | H | ABS,
        ALU | MUL | X,
        JMP | JGT | X,
        LD | B | ABS,
        ALU | DIV | K,
        JMP | JGE | K,
        ALU | DIV | X,
        JMP | JGE | X,
        LD | W | IND,
        ALU | OR | K,
        JMP | JSET | K,
        LD | H | IND,
        ALU | OR | X,
        JMP | JSET | X,
        LD | B | IND,
        ALU | AND | K,
        ALU | AND | X,
        LD | W | MEM,
        LDX | W | MEM,
        ALU | LSH | K,
        ALU | LSH | X,
        ALU | RSH | K,
        ALU | RSH | X,
        LD | W | LEN,
        LDX | W | LEN,
        ALU | NEG,
        MISC | TXA,
        ALU | MOD | K,
        ALU | MOD | X,
        ALU | XOR | K,
        ALU | XOR | X,
        LDX | B | MSH,
    ];

    /// Whether libpcap's `bpf_filter` executes `code`.
    pub const fn is_known(code: u16) -> bool {
        code < 256 && KNOWN[code as usize]
    }

    /// [`ALL`] as a table indexed by opcode (all of them are below 256).
    const KNOWN: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < ALL.len() {
            table[ALL[i] as usize] = true;
            i += 1;
        }
        table
    };
}

/// An instruction at its index, printed as one line of `tcpdump -d`
/// (`bpf_image()` in libpcap): mnemonic padded to 8 columns, constants as
/// libpcap prints them, jump targets absolute.
#[derive(Clone, Copy, Debug)]
pub struct Disassembly {
    insn: Instruction,
    pc: usize,
}

/// What a [`Disassembly`] prints after the mnemonic.
enum Operand {
    None,
    Text(&'static str),
    /// `#0x…`
    Hex(u32),
    /// `#…`, signed as libpcap prints it.
    Dec(u32),
    /// `[…]`
    Abs(u32),
    /// `[x + …]`
    Ind(u32),
    /// `M[…]`
    Mem(u32),
    /// `4*([…]&0xf)`
    Msh(u32),
    /// An absolute instruction index.
    Target(i64),
    /// `0x…`, an opcode libpcap does not know.
    Code(u16),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // libpcap prints several of these with `%d`, so as signed 32-bit.
        match *self {
            Operand::None => Ok(()),
            Operand::Text(s) => f.write_str(s),
            Operand::Hex(k) => write!(f, "#0x{k:x}"),
            Operand::Dec(k) => write!(f, "#{}", k as i32),
            Operand::Abs(k) => write!(f, "[{}]", k as i32),
            Operand::Ind(k) => write!(f, "[x + {}]", k as i32),
            Operand::Mem(k) => write!(f, "M[{}]", k as i32),
            Operand::Msh(k) => write!(f, "4*([{}]&0xf)", k as i32),
            Operand::Target(t) => write!(f, "{t}"),
            Operand::Code(c) => write!(f, "0x{c:x}"),
        }
    }
}

impl Disassembly {
    fn parts(&self) -> (&'static str, Operand) {
        use op::*;
        let k = self.insn.k;
        match self.insn.code {
            c if c == RET | K => ("ret", Operand::Dec(k)),
            c if c == RET | A => ("ret", Operand::None),
            c if c == LD | W | ABS => ("ld", Operand::Abs(k)),
            c if c == LD | H | ABS => ("ldh", Operand::Abs(k)),
            c if c == LD | B | ABS => ("ldb", Operand::Abs(k)),
            c if c == LD | W | LEN => ("ld", Operand::Text("#pktlen")),
            c if c == LDX | W | LEN => ("ldx", Operand::Text("#pktlen")),
            c if c == LD | W | IND => ("ld", Operand::Ind(k)),
            c if c == LD | H | IND => ("ldh", Operand::Ind(k)),
            c if c == LD | B | IND => ("ldb", Operand::Ind(k)),
            c if c == LD | W | IMM => ("ld", Operand::Hex(k)),
            c if c == LDX | W | IMM => ("ldx", Operand::Hex(k)),
            c if c == LDX | B | MSH => ("ldxb", Operand::Msh(k)),
            c if c == LD | W | MEM => ("ld", Operand::Mem(k)),
            c if c == LDX | W | MEM => ("ldx", Operand::Mem(k)),
            c if c == ST => ("st", Operand::Mem(k)),
            c if c == STX => ("stx", Operand::Mem(k)),
            c if c == JMP | JA => (
                "ja",
                // libpcap computes `n + 1 + k` in 32 bits and prints it signed.
                Operand::Target(i64::from(
                    (self.pc as u32).wrapping_add(1).wrapping_add(k) as i32
                )),
            ),
            c if c == JMP | JGT | K => ("jgt", Operand::Hex(k)),
            c if c == JMP | JGE | K => ("jge", Operand::Hex(k)),
            c if c == JMP | JEQ | K => ("jeq", Operand::Hex(k)),
            c if c == JMP | JSET | K => ("jset", Operand::Hex(k)),
            c if c == JMP | JGT | X => ("jgt", Operand::Text("x")),
            c if c == JMP | JGE | X => ("jge", Operand::Text("x")),
            c if c == JMP | JEQ | X => ("jeq", Operand::Text("x")),
            c if c == JMP | JSET | X => ("jset", Operand::Text("x")),
            c if c == ALU | NEG => ("neg", Operand::None),
            c if c == MISC | TAX => ("tax", Operand::None),
            c if c == MISC | TXA => ("txa", Operand::None),
            c if class(c) == ALU && op::is_known(c) => {
                let name = match c & 0xf0 {
                    ADD => "add",
                    SUB => "sub",
                    MUL => "mul",
                    DIV => "div",
                    MOD => "mod",
                    AND => "and",
                    OR => "or",
                    XOR => "xor",
                    LSH => "lsh",
                    _ => "rsh",
                };
                let operand = if c & X != 0 {
                    Operand::Text("x")
                } else if matches!(c & 0xf0, AND | OR | XOR) {
                    Operand::Hex(k)
                } else {
                    Operand::Dec(k)
                };
                (name, operand)
            }
            c => ("unimp", Operand::Code(c)),
        }
    }
}

impl fmt::Display for Disassembly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, operand) = self.parts();
        let code = self.insn.code;
        if op::class(code) == op::JMP && code != op::JMP | op::JA && op::is_known(code) {
            // `%-16s` needs the operand's width: format it into a small buffer.
            let mut buf = Small::default();
            fmt::write(&mut buf, format_args!("{operand}"))?;
            write!(
                f,
                "({:03}) {:<8} {:<16} jt {}\tjf {}",
                self.pc,
                name,
                buf.as_str(),
                self.pc + 1 + usize::from(self.insn.jt),
                self.pc + 1 + usize::from(self.insn.jf),
            )
        } else {
            write!(f, "({:03}) {:<8} {}", self.pc, name, operand)
        }
    }
}

/// A fixed buffer for one formatted operand (at most 20 bytes are needed).
#[derive(Default)]
struct Small {
    bytes: [u8; 32],
    len: usize,
}

impl Small {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended, so the prefix is UTF-8.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for Small {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A whole program as `tcpdump -d` prints it, one line per instruction.
#[derive(Clone, Copy, Debug)]
pub struct Listing<'p>(pub &'p [Instruction]);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (pc, insn) in self.0.iter().enumerate() {
            writeln!(f, "{}", insn.at(pc))?;
        }
        Ok(())
    }
}

impl fmt::Display for Instruction {
    /// The `tcpdump -d` line as if the instruction stood at index 0.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.at(0).fmt(f)
    }
}
