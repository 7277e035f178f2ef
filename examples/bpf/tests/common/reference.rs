//! A plain cBPF interpreter in Rust, written from the semantics the crate
//! documents: the oracle on targets without libpcap, itself checked against
//! libpcap's `bpf_filter` wherever libpcap is there.

use copyjit_bpf::{Instruction, op::*};

/// The value the program returns for the packet; `None` if it ran more than
/// `steps` instructions (a backward loop).
pub fn run(program: &[Instruction], packet: &[u8], wirelen: u32, steps: u64) -> Option<u32> {
    let caplen = packet.len() as u64;
    // Big-endian bytes at `at`, or `None` past the captured length.
    let fetch = |at: u64, size: u64| -> Option<u32> {
        if at + size > caplen {
            return None;
        }
        let bytes = &packet[at as usize..(at + size) as usize];
        Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
    };
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    for _ in 0..steps {
        let insn = program[pc];
        let k = insn.k;
        pc += 1;
        let size = match insn.code & 0x18 {
            W => 4,
            H => 2,
            _ => 1,
        };
        match insn.code {
            c if c == RET | K => return Some(k),
            c if c == RET | A => return Some(a),
            c if c & 0xe7 == LD | ABS => match fetch(u64::from(k), size) {
                Some(v) => a = v,
                None => return Some(0),
            },
            c if c & 0xe7 == LD | IND => match fetch(u64::from(x) + u64::from(k), size) {
                Some(v) => a = v,
                None => return Some(0),
            },
            c if c == LDX | B | MSH => match fetch(u64::from(k), 1) {
                Some(v) => x = (v & 0xf) * 4,
                None => return Some(0),
            },
            c if c == LD | W | LEN => a = wirelen,
            c if c == LDX | W | LEN => x = wirelen,
            c if c == LD | W | IMM => a = k,
            c if c == LDX | W | IMM => x = k,
            c if c == LD | W | MEM => a = mem[k as usize],
            c if c == LDX | W | MEM => x = mem[k as usize],
            c if c == ST => mem[k as usize] = a,
            c if c == STX => mem[k as usize] = x,
            c if c == MISC | TAX => x = a,
            c if c == MISC | TXA => a = x,
            c if c == ALU | NEG => a = a.wrapping_neg(),
            c if c == JMP | JA => pc = (pc as u32).wrapping_add(k) as usize,
            c if c & 7 == JMP => {
                let rhs = if c & X != 0 { x } else { k };
                let taken = match c & 0xf0 {
                    JEQ => a == rhs,
                    JGT => a > rhs,
                    JGE => a >= rhs,
                    _ => a & rhs != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            c if c & 7 == ALU => {
                let rhs = if c & X != 0 { x } else { k };
                a = match c & 0xf0 {
                    ADD => a.wrapping_add(rhs),
                    SUB => a.wrapping_sub(rhs),
                    MUL => a.wrapping_mul(rhs),
                    DIV if rhs == 0 => return Some(0),
                    DIV => a / rhs,
                    MOD if rhs == 0 => return Some(0),
                    MOD => a % rhs,
                    AND => a & rhs,
                    OR => a | rhs,
                    XOR => a ^ rhs,
                    LSH => a.checked_shl(rhs).unwrap_or(0),
                    _ => a.checked_shr(rhs).unwrap_or(0),
                };
            }
            c => panic!("opcode {c:#x} passed validation"),
        }
    }
    None
}
