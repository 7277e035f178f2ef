//! Shared by the tests and the bench: libpcap's own `bpf_filter` and
//! `bpf_validate` (the reference), tcpdump as the filter compiler, and a
//! generated capture of varied packets.

#![allow(dead_code, reason = "each test binary uses a different part")]

use copyjit_bpf::Instruction;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub mod reference;

// libpcap-dev is installed for the host (x86_64) only: under qemu-user for
// other targets the oracle is the reference model, which the host run checks
// against libpcap.
#[cfg(target_arch = "x86_64")]
#[link(name = "pcap")]
unsafe extern "C" {
    fn bpf_filter(pc: *const Instruction, pkt: *const u8, wirelen: u32, buflen: u32) -> u32;
    fn bpf_validate(f: *const Instruction, len: i32) -> i32;
}

/// libpcap's `bpf_filter` over one packet. The program must pass
/// `copyjit_bpf::Filter::new` (libpcap aborts on unknown opcodes) and must not
/// read scratch memory it has not written (libpcap reads stack garbage).
#[cfg(target_arch = "x86_64")]
pub fn libpcap_filter(program: &[Instruction], packet: &[u8], wirelen: u32) -> u32 {
    Libpcap::new(program).run(packet, wirelen)
}

/// A program for libpcap's `bpf_filter`, checked once (as a `Filter` is
/// validated once), so that a run is the call alone: what the bench
/// measures.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Libpcap<'p>(&'p [Instruction]);

#[cfg(target_arch = "x86_64")]
impl<'p> Libpcap<'p> {
    /// The program must pass `copyjit_bpf::Filter::new` (libpcap aborts on
    /// unknown opcodes) and must not read scratch memory it has not written
    /// (libpcap reads stack garbage); this checks that it ends in a `ret`.
    pub fn new(program: &'p [Instruction]) -> Self {
        assert!(program.last().is_some_and(|i| i.code & 7 == 6));
        Libpcap(program)
    }

    /// `bpf_filter(program, packet, wirelen, packet.len())`.
    #[inline(always)]
    pub fn run(self, packet: &[u8], wirelen: u32) -> u32 {
        // SAFETY: `Instruction` is laid out as `struct bpf_insn`; the program
        // is valid and ends in a `ret` (`new`), so libpcap reads only the
        // program, `packet.len()` bytes of the packet and its own stack.
        unsafe {
            bpf_filter(
                self.0.as_ptr(),
                packet.as_ptr(),
                wirelen,
                packet.len() as u32,
            )
        }
    }
}

/// libpcap's `bpf_validate`.
#[cfg(target_arch = "x86_64")]
pub fn libpcap_validate(program: &[Instruction]) -> bool {
    // SAFETY: libpcap reads `len` instructions.
    unsafe { bpf_validate(program.as_ptr(), program.len() as i32) != 0 }
}

/// The value the filter must return: libpcap's where it is linked, checked
/// against the reference model; the reference model's elsewhere.
pub fn expected(program: &[Instruction], packet: &[u8], wirelen: u32) -> Result<u32, String> {
    let model = reference::run(program, packet, wirelen, 1 << 24)
        .ok_or_else(|| "the reference model did not finish".to_string())?;
    #[cfg(target_arch = "x86_64")]
    {
        let libpcap = libpcap_filter(program, packet, wirelen);
        if libpcap != model {
            return Err(format!("libpcap {libpcap}, reference model {model}"));
        }
    }
    Ok(model)
}

/// Compiles `expr` with `tcpdump -ddd` for the link type of `capture`.
pub fn tcpdump_compile(capture: &Path, expr: &str) -> Vec<Instruction> {
    let out = Command::new("tcpdump")
        .arg("-ddd")
        .arg("-r")
        .arg(capture)
        .arg(expr)
        .output()
        .expect("tcpdump runs (apt-get install tcpdump)");
    assert!(
        out.status.success(),
        "tcpdump -ddd {expr:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut program = vec![Instruction::default(); copyjit_bpf::MAX_INSNS];
    let n = copyjit_bpf::parse_ddd(&text, &mut program).unwrap().len();
    program.truncate(n);
    program
}

/// `tcpdump -d` for `expr` over `capture`.
pub fn tcpdump_listing(capture: &Path, expr: &str) -> String {
    let out = Command::new("tcpdump")
        .arg("-d")
        .arg("-r")
        .arg(capture)
        .arg(expr)
        .output()
        .expect("tcpdump runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Filters of the tests and the bench: every protocol of the capture, VLANs,
/// fragments, options, IPv6 extension headers (protochain's backward jumps),
/// arithmetic in expressions (every ALU op), variable offsets (`X`), lengths.
pub const EXPRESSIONS: &[&str] = &[
    "tcp port 80",
    "udp port 53",
    "icmp",
    "arp",
    "ip",
    "ip6",
    "vlan",
    "vlan 100",
    "vlan 100 and (tcp port 80 or udp port 53 or icmp)",
    "vlan and vlan 200 and ip",
    "ip6 protochain 6",
    "ip6 protochain 17",
    "ip6 protochain 58",
    "ip protochain 6",
    "icmp6",
    "ip6 and tcp port 443",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0",
    "ip[0] & 0xf > 5",
    "net 10.0.0.0/8",
    "src host 192.168.1.1",
    "dst net 172.16.0.0/12",
    "ether broadcast",
    "ether host 00:11:22:33:44:55",
    "ip multicast",
    "portrange 1000-2000",
    "less 64",
    "greater 100",
    "len >= 60 and len < 200",
    "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
    "ip[2:2] - ((ip[0] & 0xf) << 2) > 60",
    "(ip[8] * 3) % 7 = 3 and ip[8] / 3 > 10",
    "(ip[8] ^ 0x5a) | 0x10 = 0x50",
    "ip and -ip[8] & 0xff < 0x80",
    "(ip[8] << 3) >> 2 > 64",
    "ip[ip[0] & 0xf] != 0",
    "ip[ip[0] & 0xf:4] != ip[16:4]",
    "ether[ether[14] & 0x3f : 2] > 0x8000",
    "udp[8:4] = 0x12345678 or udp[4:2] < 20",
    "ip[60000] = 1",
    "ether proto 0x88cc",
    LONG_FILTER,
];

/// The 60+ instruction filter of the bench: several ports and nets.
pub const LONG_FILTER: &str = "(tcp port 80 or tcp port 443 or tcp port 22 or tcp port 25 or tcp port 8080 or udp port 53 or udp port 123 or udp port 67 or udp port 161) and (net 10.0.0.0/8 or net 192.168.0.0/16 or net 172.16.0.0/12 or net 100.64.0.0/10)";

/// A captured packet: its bytes (possibly truncated) and its length on the wire.
pub struct Packet {
    pub data: Vec<u8>,
    pub wirelen: u32,
}

/// Builds `count` varied Ethernet packets from `seed`.
pub fn generate_packets(seed: u64, count: usize) -> Vec<Packet> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut packets = Vec::with_capacity(count);
    for i in 0..count {
        let frame = frame(&mut rng, i);
        let wirelen = frame.len() as u32;
        let mut data = frame;
        // A tenth of the captures are truncated (a short snap length).
        if rng.u8(..10) == 0 {
            let keep = rng.usize(..=data.len());
            data.truncate(keep);
        }
        packets.push(Packet { data, wirelen });
    }
    packets
}

/// Writes the packets as a pcap file (Ethernet link type).
pub fn write_pcap(path: &Path, packets: &[Packet]) {
    let file = std::fs::File::create(path).unwrap();
    let header = PcapHeader {
        snaplen: 65535,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(std::io::BufWriter::new(file), header).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let packet = PcapPacket::new(Duration::from_micros(i as u64), p.wirelen, &p.data);
        writer.write_packet(&packet).unwrap();
    }
}

/// A capture of `count` packets in a fresh temporary directory.
pub fn capture(name: &str, seed: u64, count: usize) -> (std::path::PathBuf, Vec<Packet>) {
    let dir = std::env::temp_dir().join(format!("copyjit-bpf-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("capture.pcap");
    let packets = generate_packets(seed, count);
    write_pcap(&path, &packets);
    (path, packets)
}

const MACS: [[u8; 6]; 4] = [
    [0xff; 6],
    [0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
    [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
    [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee],
];

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

fn ipv4_address(rng: &mut fastrand::Rng) -> [u8; 4] {
    match rng.u8(..6) {
        0 => [10, rng.u8(..), rng.u8(..), rng.u8(..)],
        1 => [192, 168, 1, pick(rng, &[1, 2, 255])],
        2 => [172, rng.u8(16..40), rng.u8(..), rng.u8(..)],
        3 => [224, 0, 0, rng.u8(..)],
        _ => [rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..)],
    }
}

fn port(rng: &mut fastrand::Rng) -> u16 {
    if rng.bool() {
        pick(rng, &[80, 443, 22, 25, 53, 123, 67, 1500, 2000, 999])
    } else {
        rng.u16(..)
    }
}

/// A transport header and payload for `protocol` (6 TCP, 17 UDP, 1 ICMP,
/// 58 ICMPv6, anything else random bytes).
fn transport(rng: &mut fastrand::Rng, protocol: u8) -> Vec<u8> {
    let mut t = Vec::new();
    match protocol {
        6 => {
            t.extend(port(rng).to_be_bytes());
            t.extend(port(rng).to_be_bytes());
            t.extend(rng.u32(..).to_be_bytes());
            t.extend(rng.u32(..).to_be_bytes());
            let offset = pick(rng, &[5u8, 5, 6, 8, 15]);
            t.push(offset << 4);
            t.push(pick(rng, &[0x02, 0x12, 0x10, 0x18, 0x01, 0x04]));
            t.extend([0u8; 6]);
            t.resize(usize::from(offset) * 4, 1);
            if rng.bool() {
                t.extend(b"GET / HTTP/1.1\r\n");
            }
        }
        17 => {
            t.extend(port(rng).to_be_bytes());
            t.extend(port(rng).to_be_bytes());
            let payload = rng.usize(..40);
            t.extend(((8 + payload) as u16).to_be_bytes());
            t.extend([0, 0]);
            if rng.bool() {
                t.extend(0x1234_5678u32.to_be_bytes());
            }
            t.extend((0..payload).map(|_| rng.u8(..)));
        }
        1 | 58 => {
            t.extend([rng.u8(..4) * 8, 0, 0, 0, 0, 1, 0, 1]);
            t.extend((0..rng.usize(..32)).map(|_| rng.u8(..)));
        }
        _ => t.extend((0..rng.usize(..24)).map(|_| rng.u8(..))),
    }
    t
}

fn ipv4(rng: &mut fastrand::Rng) -> Vec<u8> {
    let protocol = pick(rng, &[6, 6, 17, 17, 1, 47, 132]);
    let options = if rng.u8(..4) == 0 {
        rng.usize(1..=10)
    } else {
        0
    };
    let body = transport(rng, protocol);
    let header_len = 20 + 4 * options;
    let mut p = vec![0x40 | (5 + options as u8), rng.u8(..)];
    p.extend(((header_len + body.len()) as u16).to_be_bytes());
    p.extend(rng.u16(..).to_be_bytes());
    // Flags and fragment offset: mostly unfragmented, sometimes a first
    // fragment (MF), sometimes a later one.
    let fragment: u16 = match rng.u8(..8) {
        0 => 0x2000,
        1 => 0x2000 | rng.u16(1..0x1fff),
        2 => rng.u16(1..0x1fff),
        3 => 0x4000,
        _ => 0,
    };
    p.extend(fragment.to_be_bytes());
    p.extend([rng.u8(..), protocol, 0, 0]);
    p.extend(ipv4_address(rng));
    p.extend(ipv4_address(rng));
    for _ in 0..options * 4 {
        let any = rng.u8(..);
        p.push(pick(rng, &[1, 0, 7, 68, any]));
    }
    p.extend(body);
    p
}

fn ipv6(rng: &mut fastrand::Rng) -> Vec<u8> {
    let last = pick(rng, &[6, 17, 58, 6, 17, 59]);
    // A chain of extension headers: hop-by-hop (0), routing (43), fragment
    // (44), destination options (60), authentication (51).
    let chain: Vec<u8> = (0..rng.usize(..4))
        .map(|_| pick(rng, &[0, 43, 44, 60, 51]))
        .collect();
    let mut body = Vec::new();
    for (i, &header) in chain.iter().enumerate() {
        let next = chain.get(i + 1).copied().unwrap_or(last);
        match header {
            44 => body.extend([next, 0, 0, rng.u8(..2), 1, 2, 3, 4]),
            51 => {
                // Length in 4-byte units minus 2.
                body.extend([next, 2, 0, 0]);
                body.extend([0u8; 12]);
            }
            _ => {
                let units = rng.u8(..3);
                body.extend([next, units]);
                body.extend(vec![0u8; 6 + 8 * usize::from(units)]);
            }
        }
    }
    body.extend(transport(rng, last));
    let first = chain.first().copied().unwrap_or(last);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend((body.len() as u16).to_be_bytes());
    p.extend([first, 64]);
    for _ in 0..2 {
        p.extend([0xfe, 0x80]);
        p.extend((0..14).map(|_| rng.u8(..)));
    }
    p.extend(body);
    p
}

fn arp(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4, 0, rng.u8(1..3)];
    p.extend(MACS[1]);
    p.extend(ipv4_address(rng));
    p.extend([0u8; 6]);
    p.extend(ipv4_address(rng));
    p
}

/// One Ethernet frame, possibly VLAN-tagged (once or twice), a runt, or junk.
fn frame(rng: &mut fastrand::Rng, i: usize) -> Vec<u8> {
    let kind = rng.u8(..20);
    if kind == 0 {
        // A runt: shorter than an Ethernet header, or just the header.
        return (0..rng.usize(..=14)).map(|_| rng.u8(..)).collect();
    }
    let mut f = Vec::new();
    f.extend(pick(rng, &MACS));
    f.extend(pick(rng, &MACS));
    // VLAN tags: 802.1Q, 802.1ad and the old 0x9100, IDs often 100 or 200.
    let tags = match rng.u8(..10) {
        0..=1 => 1,
        2 => 2,
        _ => 0,
    };
    for _ in 0..tags {
        f.extend(pick(rng, &[0x8100u16, 0x8100, 0x88a8, 0x9100]).to_be_bytes());
        let any = rng.u16(..4096);
        let id = pick(rng, &[100u16, 200, any]);
        f.extend(((u16::from(rng.u8(..8)) << 13) | id).to_be_bytes());
    }
    let (ethertype, payload) = match kind {
        1..=8 => (0x0800u16, ipv4(rng)),
        9..=14 => (0x86dd, ipv6(rng)),
        15 | 16 => (0x0806, arp(rng)),
        17 => (0x88cc, (0..rng.usize(..50)).map(|_| rng.u8(..)).collect()),
        _ => (
            rng.u16(..),
            (0..rng.usize(..80)).map(|_| rng.u8(..)).collect(),
        ),
    };
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    // Pad some frames to the Ethernet minimum, and make a few long.
    if i.is_multiple_of(3) && f.len() < 60 {
        f.resize(60, 0);
    }
    if rng.u8(..16) == 0 {
        f.extend((0..rng.usize(..1400)).map(|_| rng.u8(..)));
    }
    f
}
