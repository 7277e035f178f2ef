//! Random valid programs using every opcode, over random packets: compiled
//! and interpreted results must be libpcap's `bpf_filter`'s (and the
//! reference model's; see `common::expected`).
//!
//! The programs aim at the edges: loads straddling the captured length,
//! `X + k` past 2^32, division and modulo by X = 0, shifts by X of 32 and
//! more, 32-bit wrap-around, backward `ja` loops (bounded by a counter in
//! `M[15]`, as protochain's are by the header chain). They steer clear of
//! what libpcap leaves undefined: every `M[k]` is written before the body
//! and constant shifts stay below 32. Every other program uses neither
//! scratch memory nor `len` (so generated code gets the captured length in
//! a register) and has no loop but more `ret #0` (so its bounds checks
//! check what the packets it can still accept need).

mod common;

use copyjit_bpf::{Filter, Instruction, MAX_LABELS, Run, op::*};
use copyjit_linux::{CodeMemory, Linux};

/// Constants near every edge the semantics has.
fn constant(rng: &mut fastrand::Rng) -> u32 {
    const EDGES: [u32; 20] = [
        0,
        1,
        2,
        3,
        4,
        7,
        8,
        13,
        14,
        31,
        32,
        33,
        63,
        64,
        65,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fffc,
        0xffff_fffe,
        0xffff_ffff,
    ];
    match rng.u8(..4) {
        0 => EDGES[rng.usize(..EDGES.len())],
        1 => rng.u32(..),
        _ => rng.u32(..80),
    }
}

/// One straight-line instruction (no jump, no return); never writes `M[15]`;
/// without `memory`, touches neither `M[]` nor `len`.
fn straight(rng: &mut fastrand::Rng, memory: bool) -> Instruction {
    loop {
        let insn = any_straight(rng);
        let class = insn.code & 7;
        let mode = insn.code & 0xe0;
        let uses_memory =
            matches!(class, ST | STX) || (matches!(class, LD | LDX) && matches!(mode, MEM | LEN));
        if memory || !uses_memory {
            return insn;
        }
    }
}

fn any_straight(rng: &mut fastrand::Rng) -> Instruction {
    let k = constant(rng);
    let scratch = rng.u32(..15);
    let offset = rng.u32(..72);
    let alu_ops = [ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH];
    match rng.u8(..24) {
        0 => Instruction::stmt(LD | W | ABS, offset),
        1 => Instruction::stmt(LD | H | ABS, offset),
        2 => Instruction::stmt(LD | B | ABS, offset),
        3 => Instruction::stmt(LD | W | IND, if rng.bool() { offset } else { k }),
        4 => Instruction::stmt(LD | H | IND, if rng.bool() { offset } else { k }),
        5 => Instruction::stmt(LD | B | IND, if rng.bool() { offset } else { k }),
        6 => Instruction::stmt(LDX | B | MSH, offset),
        7 => Instruction::stmt(LD | W | LEN, 0),
        8 => Instruction::stmt(LDX | W | LEN, 0),
        9 => Instruction::stmt(LD | W | IMM, k),
        10 => Instruction::stmt(LDX | W | IMM, k),
        11 => Instruction::stmt(LD | W | MEM, rng.u32(..16)),
        12 => Instruction::stmt(LDX | W | MEM, rng.u32(..16)),
        13 => Instruction::stmt(ST, scratch),
        14 => Instruction::stmt(STX, scratch),
        15 => Instruction::stmt(MISC | TAX, 0),
        16 => Instruction::stmt(MISC | TXA, 0),
        17 => Instruction::stmt(ALU | NEG, 0),
        18 | 19 => {
            let op = alu_ops[rng.usize(..alu_ops.len())];
            Instruction::stmt(ALU | op | X, 0)
        }
        _ => {
            let op = alu_ops[rng.usize(..alu_ops.len())];
            let k = match op {
                DIV | MOD if k == 0 => 1,
                LSH | RSH => k % 32,
                _ => k,
            };
            Instruction::stmt(ALU | op | K, k)
        }
    }
}

/// A random program of about `size` body instructions; without `memory`,
/// one that touches neither `M[]` nor `len` and has no loop.
fn program(rng: &mut fastrand::Rng, size: usize, memory: bool) -> Vec<Instruction> {
    let mut p = Vec::new();
    if memory {
        // Define every scratch word; M[15] is the loop counter, kept small.
        for k in 0..15 {
            p.push(Instruction::stmt(LD | W | IMM, constant(rng)));
            p.push(Instruction::stmt(ST, k));
        }
        p.push(Instruction::stmt(LD | W | IMM, 3));
        p.push(Instruction::stmt(ST, 15));
    }
    p.push(Instruction::stmt(LD | W | IMM, constant(rng)));
    // Jumps are placed with a placeholder and aimed once the length is known:
    // (index, forward-only).
    let mut jumps = Vec::new();
    // The counter's store of each loop, and its header after the load: a
    // jump landing there would store an arbitrary count, so it lands on the
    // load before instead (always still ahead of the jump).
    let mut forbidden = std::collections::BTreeSet::new();
    let mut i = 0;
    while i < size {
        match rng.u8(..12) {
            0..=2 => {
                let code = [JEQ, JGT, JGE, JSET][rng.usize(..4)] | if rng.bool() { X } else { K };
                jumps.push(p.len());
                p.push(Instruction::jump(JMP | code, constant(rng), 0, 0));
            }
            3 if rng.u8(..3) == 0 => {
                jumps.push(p.len());
                p.push(Instruction::stmt(JMP | JA, 0));
            }
            4 if rng.u8(..4) == 0 => {
                p.push(Instruction::stmt(
                    RET | if rng.bool() { A } else { K },
                    constant(rng),
                ));
            }
            4 if !memory => p.push(Instruction::stmt(RET | K, 0)),
            5 if memory && rng.u8(..3) == 0 => {
                // A loop: counter init, header, body, backward ja.
                p.push(Instruction::stmt(LD | W | IMM, rng.u32(..4)));
                forbidden.insert(p.len());
                p.push(Instruction::stmt(ST, 15));
                let header = p.len();
                p.push(Instruction::stmt(LD | W | MEM, 15));
                let exit_test = p.len();
                forbidden.insert(p.len());
                p.push(Instruction::jump(JMP | JEQ | K, 0, 0, 0));
                forbidden.insert(p.len());
                p.push(Instruction::stmt(ALU | SUB | K, 1));
                forbidden.insert(p.len());
                p.push(Instruction::stmt(ST, 15));
                for _ in 0..rng.usize(1..8) {
                    if rng.u8(..4) == 0 {
                        jumps.push(p.len());
                        p.push(Instruction::jump(JMP | JGT | K, constant(rng), 0, 0));
                    } else {
                        p.push(straight(rng, memory));
                    }
                }
                let back = p.len();
                let offset = header as i64 - (back as i64 + 1);
                p.push(Instruction::stmt(JMP | JA, offset as i32 as u32));
                // Exit past the backward jump.
                p[exit_test].jt = (back - exit_test) as u8;
                i += back - header;
            }
            _ => p.push(straight(rng, memory)),
        }
        i += 1;
    }
    p.push(Instruction::stmt(RET | A, 0));
    let last = if memory || rng.bool() {
        constant(rng)
    } else {
        0
    };
    p.push(Instruction::stmt(RET | K, last));
    let len = p.len();
    for j in jumps {
        let room = (len - j - 2).min(255);
        let mut aim = || {
            let mut offset: usize = if rng.u8(..3) == 0 {
                0
            } else {
                rng.usize(..=room)
            };
            while forbidden.contains(&(j + 1 + offset)) {
                offset -= 1;
            }
            offset
        };
        if p[j].code == JMP | JA {
            p[j].k = aim() as u32;
        } else {
            p[j].jt = aim() as u8;
            p[j].jf = aim() as u8;
        }
    }
    p
}

fn packet(rng: &mut fastrand::Rng) -> (Vec<u8>, u32) {
    let len = match rng.u8(..4) {
        0 => rng.usize(..8),
        _ => rng.usize(..96),
    };
    let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    let wirelen = match rng.u8(..4) {
        0 => rng.u32(..),
        1 => rng.u32(..len as u32 + 1),
        _ => len as u32 + rng.u32(..100),
    };
    (data, wirelen)
}

#[test]
fn random_programs_match_libpcap() {
    let programs: usize = std::env::var("COPYJIT_BPF_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let mut rng = fastrand::Rng::with_seed(0xb9f);
    let mut memory = CodeMemory::new(1 << 20).unwrap();
    let mut insns = vec![copyjit::Insn::Nop; 64 * 1024];
    let packets: Vec<(Vec<u8>, u32)> = (0..48).map(|_| packet(&mut rng)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..programs {
        let size = rng.usize(4..60);
        let scratch = n % 2 == 0;
        let program = program(&mut rng, size, scratch);
        seen.extend(program.iter().map(|i| i.code));
        let filter: Filter<'_, MAX_LABELS> = Filter::new(&program).unwrap_or_else(|e| {
            panic!(
                "program {n} rejected: {e}\n{}",
                copyjit_bpf::Listing(&program)
            )
        });
        #[cfg(target_arch = "x86_64")]
        assert!(common::libpcap_validate(&program));
        assert!(scratch || !filter.needs_context());
        assert!(filter.code_bound() <= memory.len());
        let compiled = filter.jit_compile(memory.as_mut_slice(), &Linux).unwrap();
        let interpreted = filter.interpreter(&mut insns).unwrap();
        for (data, wirelen) in &packets {
            let want = common::expected(&program, data, *wirelen).unwrap_or_else(|e| {
                panic!(
                    "program {n}: {e}\npacket ({} bytes, wire {wirelen}): {data:02x?}\n{}",
                    data.len(),
                    filter.listing()
                )
            });
            let jit = compiled.run(data, *wirelen);
            let interp = Run::run(&interpreted, data, *wirelen);
            assert!(
                jit == want && interp == want,
                "program {n}: expected {want}, jit {jit}, interpreter {interp}\npacket ({} bytes, wire {wirelen}): {data:02x?}\n{}",
                data.len(),
                filter.listing()
            );
        }
    }
    for code in copyjit_bpf::op::ALL {
        assert!(seen.contains(&code), "no program used opcode {code:#04x}");
    }
}

#[test]
fn defined_where_libpcap_is_not() {
    let packet = [0u8; 4];
    let check = |program: &[Instruction], want: u32| {
        let filter: Filter = Filter::new(program).unwrap();
        let mut memory = CodeMemory::new(filter.code_bound()).unwrap();
        let compiled = filter.jit_compile(memory.as_mut_slice(), &Linux).unwrap();
        let mut insns = vec![copyjit::Insn::Nop; filter.translation_bound()];
        let interpreted = filter.interpreter(&mut insns).unwrap();
        assert_eq!(compiled.run(&packet, 4), want, "{}", filter.listing());
        assert_eq!(interpreted.run(&packet, 4), want, "{}", filter.listing());
    };
    // An unwritten M[k] reads 0, even after another program ran.
    check(
        &[
            Instruction::stmt(LD | W | IMM, 7),
            Instruction::stmt(ST, 3),
            Instruction::stmt(RET | A, 0),
        ],
        7,
    );
    check(
        &[
            Instruction::stmt(LD | W | MEM, 3),
            Instruction::stmt(RET | A, 0),
        ],
        0,
    );
    check(
        &[
            Instruction::stmt(LDX | W | MEM, 9),
            Instruction::stmt(MISC | TXA, 0),
            Instruction::stmt(RET | A, 0),
        ],
        0,
    );
    // Constant shifts of 32 or more leave A = 0, as shifts by X do.
    for code in [ALU | LSH | K, ALU | RSH | K] {
        for k in [32, 33, 63, 64, 0xffff_ffff] {
            check(
                &[
                    Instruction::stmt(LD | W | IMM, 0xffff_ffff),
                    Instruction::stmt(code, k),
                    Instruction::stmt(RET | A, 0),
                ],
                0,
            );
        }
    }
}

#[test]
fn fuel_stops_a_backward_loop_in_the_interpreter() {
    // `ja` back to itself: libpcap would spin forever.
    let program = [
        Instruction::stmt(LD | W | IMM, 1),
        Instruction::stmt(JMP | JA, (-1i32) as u32),
        Instruction::stmt(RET | A, 0),
    ];
    let filter: Filter = Filter::new(&program).unwrap();
    let mut insns = vec![copyjit::Insn::Nop; filter.translation_bound()];
    let interpreted = filter.interpreter(&mut insns).unwrap();
    assert_eq!(
        interpreted.run_with_fuel(&[], 0, 10_000),
        Err(copyjit::Error::FuelExhausted)
    );
}
