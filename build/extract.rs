//! Reads the compiled and linked ops, proves each one self-contained and
//! cuts out its bytes.

use crate::BuildResult;
use crate::cgen::OpSpec;
use crate::link::Built;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionFlags, SymbolIndex};
use std::collections::HashMap;

/// One extracted op.
pub struct Stencil {
    /// Symbol name.
    pub name: String,
    /// The op's code and, where it was strippable, without the trailing
    /// jump to the next op.
    pub code: Vec<u8>,
    /// Whether the trailing jump was stripped.
    pub stripped: bool,
}

/// The table build.rs writes out.
pub struct Table {
    /// One entry per op form, in table order (the extra op is not included).
    pub stencils: Vec<Stencil>,
    /// Alignment the emitter keeps for slots.
    pub slot_align: usize,
    /// Distance from an op's first byte to its first slot.
    pub slot_distance: u64,
    /// `"gcc"` or `"clang"`.
    pub compiler: &'static str,
    /// The target triple.
    pub target: String,
}

/// How an op refers to its continuation, from the object file.
struct Refs {
    next: usize,
}

/// Whether 8-byte loads from a slot must be 8-aligned on `arch`: x86 loads
/// any alignment at full speed; other targets may trap (armv7, real RISC-V
/// parts, s390x `lgrl`) or pay, so the emitter pads.
fn slot_align(arch: &str) -> usize {
    match arch {
        "x86_64" | "x86" => 1,
        _ => 8,
    }
}

/// Extracts and checks every op.
pub fn stencils(built: &Built, ops: &[OpSpec]) -> BuildResult<Table> {
    let object = object::File::parse(&*built.object)
        .map_err(|e| format!("reading the ops' object file: {e}"))?;
    let distance = built.slot_distance;
    let linked = Linked::parse(&built.linked, "", distance)?;
    let shifted = Linked::parse(&built.shifted, " (shifted link)", distance)?;
    let refs = ops
        .iter()
        .map(|op| relocations(&object, op))
        .collect::<BuildResult<Vec<_>>>()?;
    check_sections(&object, ops)?;
    let empty = linked.code(&ops[0])?;
    if empty.is_empty() {
        return Err(format!(
            "op {}: empty, so no continuation jump to strip",
            ops[0].name
        ));
    }
    let mut stencils = Vec::with_capacity(ops.len());
    for (op, refs) in ops.iter().zip(refs) {
        if !op.terminal && refs.next == 0 {
            return Err(format!(
                "op {}: no recognisable continuation (no reference to {}__next)",
                op.name, op.name
            ));
        }
        let mut code = linked.code(op)?;
        if code != shifted.code(op)? {
            return Err(format!(
                "op {}: its bytes change with the address it is linked at, so it holds an absolute address",
                op.name
            ));
        }
        let stripped = !op.terminal && !op.skip && refs.next == 1 && code.ends_with(&empty);
        if stripped {
            code.truncate(code.len() - empty.len());
        }
        stencils.push(Stencil {
            name: op.name.clone(),
            code,
            stripped,
        });
    }
    let slot_align = slot_align(&built.arch);
    check_padding(&stencils, slot_align)?;
    check_blocks(&stencils, ops, distance)?;
    let table_len = ops.iter().take_while(|op| op.variant.is_some()).count();
    stencils.truncate(table_len);
    Ok(Table {
        stencils,
        slot_align,
        slot_distance: distance,
        compiler: built.compiler,
        target: built.target.clone(),
    })
}

/// Per-function metadata sections that `linker/stencils.ld` discards, named
/// by prefixing the function's text section: ARM unwind index entries, which
/// clang writes (as "cannot unwind") for every function even with
/// `-fno-unwind-tables`. Nothing unwinds through generated code.
const DISCARDED: &[&str] = &[".ARM.exidx"];

/// Every allocated section with content must be an op's own text section,
/// or metadata about one that the link discards.
fn check_sections(object: &object::File, ops: &[OpSpec]) -> BuildResult<()> {
    let op_sections: HashMap<String, &str> = ops
        .iter()
        .map(|op| (format!(".text.{}", op.name), &*op.name))
        .collect();
    for section in object.sections() {
        let name = section.name().unwrap_or("?");
        let allocated = matches!(
            section.flags(),
            SectionFlags::Elf { sh_flags, .. } if sh_flags.contains(object::elf::SHF_ALLOC)
        );
        let discarded = DISCARDED.iter().any(|prefix| {
            name.strip_prefix(prefix)
                .is_some_and(|text| op_sections.contains_key(text))
        });
        if allocated && section.size() > 0 && !op_sections.contains_key(name) && !discarded {
            return Err(format!(
                "unexpected section {name} ({} bytes, {:?}) outside every op: some op needs data or code it does not contain",
                section.size(),
                section.kind()
            ));
        }
    }
    Ok(())
}

/// Checks that every relocation in `op`'s section targets the op itself or
/// its own `__next`/`__immK` symbols, and counts the continuation references.
fn relocations(object: &object::File, op: &OpSpec) -> BuildResult<Refs> {
    let section_name = format!(".text.{}", op.name);
    let section = object.section_by_name(&section_name).ok_or_else(|| {
        format!(
            "op {}: no section {section_name} in the object file",
            op.name
        )
    })?;
    let own: Vec<String> = (0..op.slots)
        .map(|k| format!("{}__imm{k}", op.name))
        .collect();
    let next = format!("{}__next", op.name);
    let mut refs = Refs { next: 0 };
    for (offset, reloc) in section.relocations() {
        let outside = |what: String| {
            format!(
                "op {}: refers to {what} at offset {offset:#x}, outside the op",
                op.name
            )
        };
        match reloc.target() {
            RelocationTarget::Symbol(index) => {
                let (name, section_index) = symbol(object, index);
                if name == next {
                    refs.next += 1;
                } else if own.contains(&name) || section_index == Some(section.index()) {
                    // A slot of its own, or a label inside the op.
                } else if name.starts_with(&format!("{}__imm", op.name)) {
                    return Err(format!(
                        "op {}: reads {name} but has only {} slot(s)",
                        op.name, op.slots
                    ));
                } else {
                    let what = if name.is_empty() {
                        "an unnamed symbol".to_string()
                    } else {
                        format!("symbol {name}")
                    };
                    return Err(outside(what));
                }
            }
            RelocationTarget::Section(index) if index == section.index() => {}
            RelocationTarget::Section(index) => {
                let name = object
                    .section_by_index(index)
                    .ok()
                    .and_then(|s| s.name().ok().map(String::from));
                return Err(outside(format!(
                    "section {}",
                    name.unwrap_or_else(|| "?".into())
                )));
            }
            // Markers without a target (RISC-V's R_RISCV_RELAX and the like).
            _ => {}
        }
    }
    Ok(refs)
}

/// A symbol's name and section; a section symbol is named after its section.
fn symbol(object: &object::File, index: SymbolIndex) -> (String, Option<object::SectionIndex>) {
    match object.symbol_by_index(index) {
        Ok(sym) => {
            let section = sym.section_index();
            let mut name = sym.name().unwrap_or("").to_string();
            if name.is_empty()
                && let Some(s) = section.and_then(|i| object.section_by_index(i).ok())
            {
                name = s.name().unwrap_or("").to_string();
            }
            (name, section)
        }
        Err(_) => (String::new(), None),
    }
}

/// With aligned slots the emitter pads with no-ops, so every op must be a
/// whole number of no-ops long.
fn check_padding(stencils: &[Stencil], slot_align: usize) -> BuildResult<()> {
    if slot_align == 1 {
        return Ok(());
    }
    let nop = &stencils[crate::variant::Variant::Nop.index()];
    let n = nop.code.len();
    if n == 0 || !slot_align.is_multiple_of(n) {
        return Err(format!(
            "op {}: a no-op of {n} bytes cannot pad to {slot_align}",
            nop.name
        ));
    }
    match stencils.iter().find(|s| !s.code.len().is_multiple_of(n)) {
        Some(s) => Err(format!(
            "op {}: {} bytes long, not a multiple of the {n}-byte no-op, so slots after it cannot be aligned",
            s.name,
            s.code.len()
        )),
        None => Ok(()),
    }
}

/// Every op, with the most padding before it and a skip after it, must fit
/// one code block (`src/layout.rs`), or the emitter could not place it.
fn check_blocks(stencils: &[Stencil], ops: &[OpSpec], distance: u64) -> BuildResult<()> {
    let skip = &stencils[crate::variant::Variant::Skip.index()];
    let distance = usize::try_from(distance).map_err(|e| format!("slot distance: {e}"))?;
    match stencils.iter().zip(ops).find(|(s, op)| {
        let max_pad = crate::layout::MAX_PAD;
        !crate::layout::fits(
            0,
            max_pad,
            s.code.len(),
            op.slots,
            skip.code.len(),
            distance,
        )
    }) {
        Some((s, op)) => Err(format!(
            "op {}: {} bytes with {} slot(s) do not fit a {distance}-byte code block with \
             {} bytes of padding and the {}-byte skip: raise the target's slot_distance in build/link.rs",
            s.name,
            s.code.len(),
            op.slots,
            crate::layout::MAX_PAD,
            skip.code.len()
        )),
        None => Ok(()),
    }
}

/// A linked image: op sections and symbol addresses.
struct Linked<'a> {
    file: object::File<'a>,
    symbols: HashMap<String, u64>,
    what: &'static str,
    /// Distance from an op's first byte to its first slot.
    distance: u64,
}

impl<'a> Linked<'a> {
    fn parse(data: &'a [u8], what: &'static str, distance: u64) -> BuildResult<Self> {
        let file =
            object::File::parse(data).map_err(|e| format!("reading the linked ops{what}: {e}"))?;
        let symbols = file
            .symbols()
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
            .collect();
        Ok(Linked {
            file,
            symbols,
            what,
            distance,
        })
    }

    fn symbol(&self, op: &OpSpec, name: &str) -> BuildResult<u64> {
        self.symbols.get(name).copied().ok_or_else(|| {
            format!(
                "op {}: no symbol {name} in the linked ops{}",
                op.name, self.what
            )
        })
    }

    /// The op's code, from its start to its end, after checking that its
    /// continuation and slots are where the linker script puts them.
    fn code(&self, op: &OpSpec) -> BuildResult<Vec<u8>> {
        let section_name = format!(".text.{}", op.name);
        let section = self.file.section_by_name(&section_name).ok_or_else(|| {
            format!(
                "op {}: no section {section_name} in the linked ops{}",
                op.name, self.what
            )
        })?;
        let start = section.address();
        if self.symbol(op, &op.name)? != start {
            return Err(format!(
                "op {}: its section holds something before the function{}",
                op.name, self.what
            ));
        }
        let code_end = self.symbol(op, &format!("{}__end", op.name))?;
        let next = self.symbol(op, &format!("{}__next", op.name))?;
        let gap = if op.skip { self.distance } else { 0 };
        if next != code_end + gap {
            return Err(format!(
                "op {}: its continuation is not where the linker script puts it{}",
                op.name, self.what
            ));
        }
        for k in 0..op.slots {
            let slot = self.symbol(op, &format!("{}__imm{k}", op.name))?;
            let offset = crate::layout::slot_offset(self.distance as usize, k) as u64;
            if slot != start + offset {
                return Err(format!(
                    "op {}: slot {k} is not where the linker script puts it{}",
                    op.name, self.what
                ));
            }
        }
        let data = section
            .data()
            .map_err(|e| format!("op {}: reading its bytes: {e}", op.name))?;
        let len = usize::try_from(code_end - start).map_err(|e| format!("op {}: {e}", op.name))?;
        data.get(..len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| format!("op {}: section shorter than its code", op.name))
    }
}
