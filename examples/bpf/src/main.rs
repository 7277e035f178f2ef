//! Runs a classic BPF filter over a capture, compiled by copyjit or in its
//! interpreter.
//!
//! ```text
//! copyjit-bpf [--values] [--interpret] [--listing] [--translation] FILTER CAPTURE
//! ```
//!
//! FILTER is `tcpdump -ddd` output; CAPTURE a pcap or pcapng file. Prints
//! `accepted N of M packets`, or with `--values` the value the filter returned
//! for each packet, one per line in capture order.

use copyjit_bpf::{Filter, Instruction, MAX_INSNS, MAX_LABELS, Run, parse_ddd};
use copyjit_linux::{CodeMemory, Linux};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str =
    "usage: copyjit-bpf [--values] [--interpret] [--listing] [--translation] FILTER CAPTURE
  FILTER   a filter in `tcpdump -ddd` format
  CAPTURE  a pcap or pcapng file
  --values     print the value the filter returns for each packet
  --interpret  run copyjit's interpreter instead of compiled code
  --listing    print the filter as `tcpdump -d` does, first
  --translation  print the copyjit instructions it becomes, first";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Options {
    values: bool,
    interpret: bool,
    listing: bool,
    translation: bool,
    filter: String,
    capture: String,
}

fn options() -> Option<Options> {
    let (mut values, mut interpret, mut listing, mut translation) = (false, false, false, false);
    let mut paths = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--values" => values = true,
            "--interpret" => interpret = true,
            "--listing" => listing = true,
            "--translation" => translation = true,
            "-h" | "--help" => return None,
            _ if arg.starts_with("--") => return None,
            _ => paths.push(arg),
        }
    }
    let [filter, capture] = <[String; 2]>::try_from(paths).ok()?;
    Some(Options {
        values,
        interpret,
        listing,
        translation,
        filter,
        capture,
    })
}

/// Calls `each` with every packet of the capture: its captured bytes and its
/// length on the wire.
fn packets(bytes: &[u8], mut each: impl FnMut(&[u8], u32)) -> Result<()> {
    const PCAPNG: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
    if bytes.starts_with(&PCAPNG) {
        let mut reader = PcapNgReader::new(bytes)?;
        while let Some(block) = reader.next_block() {
            match block? {
                Block::EnhancedPacket(p) => each(&p.data, p.original_len),
                Block::SimplePacket(p) => each(&p.data, p.original_len),
                Block::Packet(p) => each(&p.data, p.original_len),
                _ => {}
            }
        }
    } else {
        let mut reader = PcapReader::new(bytes)?;
        while let Some(packet) = reader.next_packet() {
            let packet = packet?;
            each(&packet.data, packet.orig_len);
        }
    }
    Ok(())
}

fn run(options: &Options) -> Result<()> {
    let text =
        std::fs::read_to_string(&options.filter).map_err(|e| format!("{}: {e}", options.filter))?;
    let mut storage = vec![Instruction::default(); MAX_INSNS];
    let program = parse_ddd(&text, &mut storage).map_err(|e| format!("{}: {e}", options.filter))?;
    let filter: Filter<'_, MAX_LABELS> =
        Filter::new(program).map_err(|e| format!("{}: {e}", options.filter))?;
    let capture =
        std::fs::read(&options.capture).map_err(|e| format!("{}: {e}", options.capture))?;

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if options.listing {
        write!(out, "{}", filter.listing())?;
    }
    if options.translation {
        for insn in filter.translation() {
            writeln!(out, "{insn:?}")?;
        }
    }
    let mut insns;
    let mut memory;
    let runner: Box<dyn Run + '_> = if options.interpret {
        insns = vec![copyjit::Insn::Nop; filter.translation_bound()];
        Box::new(filter.interpreter(&mut insns)?)
    } else {
        memory = CodeMemory::new(filter.code_bound())?;
        Box::new(filter.jit_compile(memory.as_mut_slice(), &Linux)?)
    };

    let (mut accepted, mut total) = (0u64, 0u64);
    let mut failed = None;
    packets(&capture, |packet, wirelen| {
        let value = runner.run(packet, wirelen);
        total += 1;
        accepted += u64::from(value != 0);
        if options.values && failed.is_none() {
            failed = writeln!(out, "{value}").err();
        }
    })
    .map_err(|e| format!("{}: {e}", options.capture))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if !options.values {
        writeln!(out, "accepted {accepted} of {total} packets")?;
    }
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let Some(options) = options() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("copyjit-bpf: {e}");
            ExitCode::FAILURE
        }
    }
}
