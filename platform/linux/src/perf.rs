//! Naming generated code for `perf`: the perf map.
//!
//! `perf report` and `perf top` name addresses outside any ELF file from
//! `/tmp/perf-<pid>.map`, one line per function: its start address and
//! size in hexadecimal and its name, separated by spaces.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

/// The process's perf map, `/tmp/perf-<pid>.map`, opened for appending.
///
/// ```
/// use copyjit::{Assembler, Insn, Reg};
/// use copyjit_linux::{CodeMemory, Linux, PerfMap};
///
/// let mut memory = CodeMemory::new(4096)?;
/// let mut asm: Assembler = Assembler::new(memory.as_mut_slice());
/// asm.emit(Insn::MovImm { dst: Reg::R0, imm: 42 })?;
/// let code = asm.finish()?.make_executable(&Linux)?;
/// PerfMap::open()?.register(code.bytes(), "answer")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Record with `perf record -g <program>`, then `perf report` shows the
/// time spent in `answer`. Lines are only ever appended: code that is
/// dropped keeps its line, and a later line for the same addresses wins in
/// `perf`.
#[derive(Debug)]
pub struct PerfMap {
    file: File,
}

impl PerfMap {
    /// Opens (creating it if needed) this process's perf map for appending.
    pub fn open() -> io::Result<PerfMap> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(Self::path())?;
        Ok(PerfMap { file })
    }

    /// `/tmp/perf-<pid>.map`, where `perf` looks for this process's map.
    pub fn path() -> PathBuf {
        PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()))
    }

    /// Appends the line `START SIZE NAME` naming `code`, e.g.
    /// [`copyjit::Executable::bytes`] or a part of it. Line breaks in
    /// `name` become spaces. The line is one `write` to a file opened for
    /// appending, so lines from several threads do not mix.
    pub fn register(&self, code: &[u8], name: &str) -> io::Result<()> {
        let name = name.replace(['\n', '\r'], " ");
        let line = format!("{:x} {:x} {name}\n", code.as_ptr() as usize, code.len());
        (&self.file).write_all(line.as_bytes())
    }
}
