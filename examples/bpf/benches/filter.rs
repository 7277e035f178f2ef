//! Per-packet time of cBPF filters compiled by copyjit, in copyjit's
//! interpreter, and in libpcap's `bpf_filter`, over the same generated
//! capture of a few thousand mixed packets; and compile time (validate,
//! translate, emit into mapped memory) per cBPF instruction.
//!
//! `cargo bench -p copyjit-bpf` prints criterion's figures, then a table of
//! the fastest of several passes over the capture for each, with ratios,
//! and two references measured the same way: the bench's loop alone, and
//! `tcp port 80` written by hand in Rust (what an optimising compiler makes
//! of the filter: a bound for any JIT called once per packet).
//!
//! Every engine is called once per packet through the same loop, with the
//! same arguments; libpcap's program is checked once, as the filter is
//! validated once. With `COPYJIT_PERF_MAP` set, each compiled filter is
//! named in the perf map (`/tmp/perf-<pid>.map`) for `perf report`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{LONG_FILTER, Libpcap, Packet, capture, tcpdump_compile};
use copyjit_bpf::{Filter, Instruction, MAX_LABELS, Run};
use copyjit_linux::{CodeMemory, Linux, PerfMap};
use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Packets in the capture.
const PACKETS: usize = 4000;

const FILTERS: [(&str, &str); 5] = [
    // No expression: `ret #262144`, the cost of the call alone.
    ("(none: ret only)", ""),
    ("tcp port 80", "tcp port 80"),
    (
        "vlan 100 and (tcp port 80 or udp port 53 or icmp)",
        "vlan 100 and (tcp port 80 or udp port 53 or icmp)",
    ),
    ("60-instruction ports and nets", LONG_FILTER),
    ("ip6 protochain 6", "ip6 protochain 6"),
];

/// Runs `f` over every packet and returns the sum of the values.
fn pass(packets: &[Packet], f: impl Fn(&[u8], u32) -> u32) -> u64 {
    packets
        .iter()
        .map(|p| u64::from(f(black_box(&p.data), black_box(p.wirelen))))
        .sum()
}

/// The fastest of `reps` passes, in ns per packet.
fn fastest(packets: &[Packet], reps: usize, f: impl Fn(&[u8], u32) -> u32) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            black_box(pass(packets, &f));
            start.elapsed().as_secs_f64() * 1e9 / packets.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// `tcp port 80` as tcpdump compiles it for Ethernet (`tcpdump -d`), written
/// by hand: the bounds checks, loads and branches an optimising compiler
/// makes of it, called out of line as the engines are.
#[inline(never)]
fn tcp_port_80_by_hand(p: &[u8], _wirelen: u32) -> u32 {
    fn be16(p: &[u8], at: usize) -> u32 {
        u32::from(u16::from_be_bytes([p[at], p[at + 1]]))
    }
    let (n, accept) = (p.len(), 65535);
    if n < 14 {
        return 0;
    }
    match be16(p, 12) {
        0x86dd => {
            if n < 21 || p[20] != 6 || n < 56 {
                0
            } else if be16(p, 54) == 80 || (n >= 58 && be16(p, 56) == 80) {
                accept
            } else {
                0
            }
        }
        0x800 => {
            if n < 24 || p[23] != 6 || be16(p, 20) & 0x1fff != 0 {
                return 0;
            }
            let x = 4 * usize::from(p[14] & 0xf);
            if n < x + 16 {
                0
            } else if be16(p, x + 14) == 80 || (n >= x + 18 && be16(p, x + 16) == 80) {
                accept
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// Page-aligned memory from the heap, which glibc's `malloc` serves from
/// next to the binary for blocks below 128 KiB, where `mmap` (`CodeMemory`)
/// maps far from it: generated code there is called the way a function of
/// the binary is. Leaked, so that the allocator never writes to the pages
/// once they are executable.
fn near_the_binary(len: usize) -> &'static mut [u8] {
    const PAGE: usize = 4096;
    let block = Vec::leak(vec![0u8; len + PAGE]);
    let start = block.as_ptr().align_offset(PAGE);
    &mut block[start..start + len]
}

/// The fastest of `reps` compilations (validate, translate, emit), in ns.
fn compile_ns(program: &[Instruction], buf: &mut [u8], reps: usize) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            let filter: Filter = Filter::new(black_box(program)).unwrap();
            let code = filter.emit(&mut *buf).unwrap();
            black_box(code.bytes().len());
            start.elapsed().as_secs_f64() * 1e9
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let (path, packets) = capture("bench", 42, PACKETS);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    let perf_map = std::env::var_os("COPYJIT_PERF_MAP").map(|_| PerfMap::open().unwrap());
    let mut rows = Vec::new();
    let mut references = Vec::new();
    for (name, expr) in FILTERS {
        let program = tcpdump_compile(&path, expr);
        let libpcap = Libpcap::new(&program);
        let filter: Filter<'_, MAX_LABELS> = Filter::new(&program).unwrap();
        let mut memory = CodeMemory::new(filter.code_bound()).unwrap();
        let compiled = filter.jit_compile(memory.as_mut_slice(), &Linux).unwrap();
        if let Some(map) = &perf_map {
            map.register(compiled.bytes(), &format!("bpf {name}"))
                .unwrap();
        }
        let mut insns = vec![copyjit::Insn::Nop; filter.translation_bound()];
        let interpreted = filter.interpreter(&mut insns).unwrap();
        let want = pass(&packets, |p, w| libpcap.run(p, w));
        assert_eq!(
            pass(&packets, |p, w| compiled.run(p, w)),
            want,
            "{name}: jit"
        );
        assert_eq!(
            pass(&packets, |p, w| interpreted.run(p, w)),
            want,
            "{name}: interpreter"
        );

        let mut group = criterion.benchmark_group(format!("filter/{name}"));
        group.throughput(Throughput::Elements(PACKETS as u64));
        group.bench_function("copyjit", |b| {
            b.iter(|| pass(&packets, |p, w| compiled.run(p, w)))
        });
        group.bench_function("libpcap", |b| {
            b.iter(|| pass(&packets, |p, w| libpcap.run(p, w)))
        });
        group.bench_function("interpreter", |b| {
            b.iter(|| pass(&packets, |p, w| Run::run(&interpreted, p, w)))
        });
        group.finish();

        let mut buf = CodeMemory::new(filter.code_bound()).unwrap();
        let mut group = criterion.benchmark_group(format!("compile/{name}"));
        group.throughput(Throughput::Elements(program.len() as u64));
        group.bench_function("validate+translate+emit", |b| {
            b.iter(|| {
                let filter: Filter = Filter::new(black_box(&program)).unwrap();
                filter.emit(buf.as_mut_slice()).unwrap().bytes().len()
            })
        });
        group.finish();

        let emitted = filter
            .translation()
            .filter(|i| !matches!(i, copyjit::Insn::Bind(_)))
            .count();
        let jit = fastest(&packets, 50, |p, w| compiled.run(p, w));
        let libpcap_ns = fastest(&packets, 50, |p, w| libpcap.run(p, w));
        let interp = fastest(&packets, 10, |p, w| interpreted.run(p, w));
        let compile = compile_ns(&program, buf.as_mut_slice(), 200) / program.len() as f64;
        // The first accepted packet, over and over: the whole path runs and
        // every branch is predicted.
        let accepted = packets
            .iter()
            .position(|p| libpcap.run(&p.data, p.wirelen) != 0)
            .unwrap_or(0);
        let same: Vec<Packet> = (0..PACKETS)
            .map(|_| Packet {
                data: packets[accepted].data.clone(),
                wirelen: packets[accepted].wirelen,
            })
            .collect();
        let jit_same = fastest(&same, 50, |p, w| compiled.run(p, w));
        // The same code, next to the binary rather than in a mapping of its
        // own (the filters here need a few KiB).
        let near = filter
            .jit_compile(near_the_binary(64 * 1024), &Linux)
            .unwrap();
        assert_eq!(pass(&packets, |p, w| near.run(p, w)), want, "{name}: near");
        references.push((
            format!("copyjit `{name}`, its code on the heap next to the binary"),
            format!(
                "{:.2} / {:.2}",
                fastest(&packets, 50, |p, w| near.run(p, w)),
                fastest(&same, 50, |p, w| near.run(p, w))
            ),
        ));
        let libpcap_same = fastest(&same, 50, |p, w| libpcap.run(p, w));
        if expr == "tcp port 80" {
            assert_eq!(pass(&packets, tcp_port_80_by_hand), want, "by hand");
            references.push((
                "`tcp port 80` written by hand in Rust".to_string(),
                format!(
                    "{:.2} / {:.2}",
                    fastest(&packets, 50, tcp_port_80_by_hand),
                    fastest(&same, 50, tcp_port_80_by_hand)
                ),
            ));
        }
        rows.push((
            name,
            program.len(),
            emitted,
            [jit, libpcap_ns, interp, jit_same, libpcap_same],
            compile,
        ));
    }
    let loop_alone = |p: &[u8], w: u32| p.len() as u32 ^ w;
    references.push((
        "the bench's loop alone (no call)".to_string(),
        format!("{:.2}", fastest(&packets, 50, loop_alone)),
    ));

    println!(
        "\n{PACKETS} packets; ns per packet, the fastest of several passes; compile = validate + translate + emit\n"
    );
    println!(
        "| filter | cBPF insns | copyjit insns (per cBPF) | copyjit ns | libpcap ns | interpreter ns | libpcap ÷ copyjit | interpreter ÷ copyjit | one accepted packet repeated: copyjit / libpcap ns | compile ns per cBPF insn |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (name, n, emitted, [jit, libpcap, interp, jit_same, libpcap_same], compile) in rows {
        println!(
            "| `{name}` | {n} | {emitted} ({:.2}) | {jit:.2} | {libpcap:.2} | {interp:.1} | {:.2}× | {:.1}× | {jit_same:.2} / {libpcap_same:.2} | {compile:.1} |",
            emitted as f64 / n as f64,
            libpcap / jit,
            interp / jit,
        );
    }
    println!("\nReferences, ns per packet (mixed / one accepted packet repeated):\n");
    for (name, ns) in references {
        println!("- {name}: {ns}");
    }
}
