//! Classic BPF filters on bare metal: `copyjit-bpf` (without its tool's
//! features) compiles a few filters `tcpdump -ddd` wrote (`bpf/*.ddd`) and
//! runs them over packets built into the image (`bpf/packets.txt`), as
//! generated code and in copyjit's interpreter. Every packet's value must be
//! the same from both, and each filter must accept as many packets as
//! tcpdump does.

use crate::clock;
use alloc::vec;
use alloc::vec::Vec;
use copyjit::Insn;
use copyjit_bpf::{Filter, Instruction, Run, parse_ddd};
use copyjit_riscv64_virt::SingleHart;

/// Each filter: its expression, its `tcpdump -ddd` program, and how many of
/// the packets tcpdump accepts with it.
const FILTERS: [(&str, &str, usize); 4] = [
    ("tcp port 80", include_str!("bpf/tcp-port-80.ddd"), 2),
    (
        "vlan 100 and (tcp port 80 or udp port 53 or icmp)",
        include_str!("bpf/vlan-100.ddd"),
        1,
    ),
    (
        "ip6 protochain 6",
        include_str!("bpf/ip6-protochain-6.ddd"),
        3,
    ),
    (
        "udp port 53 or arp",
        include_str!("bpf/udp-53-or-arp.ddd"),
        2,
    ),
];

/// The packets: per packet a comment line, then the length on the wire and
/// the captured bytes in hex.
const PACKETS: &str = include_str!("bpf/packets.txt");

/// Passes over the packets when timing, so that the clock's 100 ns ticks
/// are fine enough.
const TIMING_PASSES: u32 = 200;

/// The packets of [`PACKETS`]: the length on the wire and the bytes.
fn packets() -> Option<Vec<(u32, Vec<u8>)>> {
    let mut packets = Vec::new();
    for line in PACKETS.lines().filter(|l| !l.starts_with('#')) {
        let (wirelen, hex) = line.split_once(' ')?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        packets.push((wirelen.parse().ok()?, bytes));
    }
    Some(packets)
}

/// Runs every filter over every packet, compiled and interpreted, prints a
/// line per filter, and says whether all agreed with each other and with
/// tcpdump's counts.
pub fn run() -> bool {
    let Some(packets) = packets() else {
        println!("bpf: the packet list does not parse");
        return false;
    };
    let mut all_right = true;
    for (expression, ddd, want) in FILTERS {
        match run_filter(ddd, &packets) {
            Ok((accepted, mismatches, [jit_ns, interp_ns])) => {
                let right = mismatches == 0 && accepted == want;
                println!(
                    "  bpf {expression:<52} accepts {accepted} of {} (tcpdump {want}), {mismatches} JIT/interpreter mismatches, {jit_ns} / {interp_ns} ns per packet  {}",
                    packets.len(),
                    if right { "ok" } else { "FAILED" },
                );
                all_right &= right;
            }
            Err(e) => {
                println!("  bpf {expression}: {e}  FAILED");
                all_right = false;
            }
        }
    }
    all_right
}

/// Compiles one filter and runs it over the packets both ways: the number
/// accepted by the JIT, the packets whose values differ, and the time per
/// packet of each (JIT, interpreter) in ns.
fn run_filter(
    ddd: &str,
    packets: &[(u32, Vec<u8>)],
) -> Result<(usize, usize, [u64; 2]), &'static str> {
    let mut program = [Instruction::stmt(0, 0); 64];
    let program = parse_ddd(ddd, &mut program).map_err(|_| "the filter does not parse")?;
    let filter: Filter = Filter::new(program).map_err(|_| "the filter does not validate")?;
    let mut code = vec![0u8; filter.code_bound()];
    let compiled = filter
        .jit_compile(&mut code, &SingleHart)
        .map_err(|_| "the filter does not compile")?;
    let mut insns = vec![Insn::Nop; filter.translation_bound()];
    let interpreted = filter
        .interpreter(&mut insns)
        .map_err(|_| "the filter does not translate")?;
    let mut accepted = 0;
    let mut mismatches = 0;
    for (wirelen, bytes) in packets {
        let jit = compiled.run(bytes, *wirelen);
        accepted += usize::from(jit != 0);
        mismatches += usize::from(jit != interpreted.run(bytes, *wirelen));
    }
    // The faster of two timings: the first also pays for QEMU translating
    // the code it runs.
    let per_packet = |engine: &dyn Run| (0..2).map(|_| time(engine, packets)).min().unwrap_or(0);
    Ok((
        accepted,
        mismatches,
        [per_packet(&compiled), per_packet(&interpreted)],
    ))
}

/// The time `engine` takes per packet over [`TIMING_PASSES`] passes, in ns.
fn time(engine: &dyn Run, packets: &[(u32, Vec<u8>)]) -> u64 {
    let started = clock::now();
    let mut sum = 0u64;
    for _ in 0..TIMING_PASSES {
        for (wirelen, bytes) in packets {
            sum = sum.wrapping_add(u64::from(engine.run(bytes, *wirelen)));
        }
    }
    core::hint::black_box(sum);
    clock::nanos(clock::now() - started) / (u64::from(TIMING_PASSES) * packets.len() as u64)
}
