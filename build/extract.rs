//! Reads the compiled and linked ops, proves each one self-contained and
//! cuts out its bytes.

use crate::BuildResult;
use crate::cgen::OpSpec;
use crate::link::Built;
use crate::variant::Variant;
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionFlags,
    SymbolIndex, SymbolKind,
};
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
    /// Offsets in `code` of its prefixed (8-byte) instructions, on
    /// powerpc64; none elsewhere.
    pub prefixed: Vec<u32>,
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
    /// Whether the ops are Thumb code, entered at their address plus one.
    pub thumb: bool,
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
///
/// The proof, for every op:
/// - every relocation in its section is PC-relative (`reloc_class`) and
///   refers to the op itself, its own slots or its own continuation; no
///   other section has content the ops need (`check_sections`). A value
///   that is a distance between two places of the same op is the same
///   wherever the op is copied;
/// - every reference to its continuation is a copy of a tail jump the
///   compiler wrote (`Jump`): the same bytes and the same relocations (type
///   and addend) as the empty op's, whose whole code is its tail call, or as
///   a conditional tail call the compiler wrote where it guarantees one
///   (`JUMP_FORMS` in build/cgen.rs). A call differs from a jump in its
///   bytes on every target (x86 `call`/`jmp`, Arm and Power's link bit,
///   RISC-V's link register, s390x `brasl`/`jg`), even where both carry the
///   same relocation, and so does taking the continuation's address: an op
///   that would grow the native stack with every op it runs is rejected by
///   name, with no instruction decoder. The rule trusts the empty op's jump
///   to be one: clang is told `musttail`; GCC has no such attribute, so a
///   GCC that declined even that tail call would make every call look
///   right, and tests/stack.rs, which runs every op form 10,000 times on a
///   small native stack, is the backstop;
/// - its bytes are the same when linked at another base, in reverse order
///   (a second look: the relocations already say no value depends on the
///   address, and ops move by multiples of 64 bytes, which a truncated
///   absolute value could hide).
///
/// The tail jump is stripped when it is the op's only reference to its
/// continuation and its last instruction, whatever padding the assembler
/// put after it: the jump's copy ends where the function's size (`.size`)
/// does, and the padding lies past it.
pub fn stencils(built: &Built, ops: &[OpSpec]) -> BuildResult<Table> {
    let object = object::File::parse(&*built.object)
        .map_err(|e| format!("reading the ops' object file: {e}"))?;
    let distance = built.slot_distance;
    let linked = Linked::parse(&built.linked, "", distance)?;
    let shifted = Linked::parse(&built.shifted, " (shifted link)", distance)?;
    let mut compiled = ops
        .iter()
        .map(|op| compiled(&object, op))
        .collect::<BuildResult<Vec<_>>>()?;
    check_sections(&object, ops)?;
    cut_trailer(&mut compiled);
    let mut jump = Jump::of_empty(&compiled[0], &ops[0])?;
    for (op, compiled) in ops.iter().zip(&compiled) {
        if op.jump_form {
            jump.learn(compiled);
        }
    }
    // The jump as linked (relaxation may shorten it): the empty op's code.
    let linked_jump = linked.function_size(&ops[0])?;
    let mut stencils = Vec::with_capacity(ops.len());
    for (op, compiled) in ops.iter().zip(&compiled) {
        let starts = jump.find_in(compiled, op)?;
        if !op.terminal && !op.jump_form && starts.is_empty() {
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
        // The jump is the last instruction, and the linker shortened the
        // op by exactly as much as it shortened the empty op (nothing, but
        // on RISC-V with GNU ld), so it is the linked op's last bytes too.
        let last = matches!(starts[..], [(start, true)] if start + jump.len() == compiled.size);
        let function = linked.function_size(op)?;
        let stripped = !op.terminal
            && !op.skip
            && last
            && compiled.size as i64 - function as i64 == jump.len() as i64 - linked_jump as i64
            && function >= linked_jump;
        if stripped {
            code.truncate((function - linked_jump) as usize);
        }
        let prefixed = if built.arch == "powerpc64" {
            prefixed(&code, object.is_little_endian())
        } else {
            Vec::new()
        };
        stencils.push(Stencil {
            name: op.name.clone(),
            code,
            stripped,
            prefixed,
        });
    }
    if !stencils[0].code.is_empty() || !stencils[0].stripped {
        return Err(format!(
            "op {}: its tail jump is not all of it, so there is nothing to strip",
            ops[0].name
        ));
    }
    let nop = position(ops, Variant::Nop)?;
    if built.thumb {
        align_thumb(&mut stencils, nop)?;
    }
    let slot_align = slot_align(&built.arch);
    check_padding(&stencils, nop, slot_align)?;
    cover_slots(&mut stencils, ops, nop)?;
    check_blocks(&stencils, ops, distance)?;
    let table_len = ops.iter().take_while(|op| op.variant.is_some()).count();
    stencils.truncate(table_len);
    Ok(Table {
        stencils,
        slot_align,
        slot_distance: distance,
        compiler: built.compiler,
        target: built.target.clone(),
        thumb: built.thumb,
    })
}

/// Makes every Thumb op a multiple of 4 bytes long, with a trailing no-op
/// where it is 2 bytes short. A Thumb literal load (`ldr rX, [pc, #n]`, how
/// the compilers read a slot's distance and large constants) rounds the PC
/// down to a multiple of 4, so an op reads its literals right only where
/// its start is 4-aligned, as it was linked; ops then follow each other at
/// multiples of 4 from the code's 16-aligned start.
fn align_thumb(stencils: &mut [Stencil], nop: usize) -> BuildResult<()> {
    let name = stencils[nop].name.clone();
    let nop = stencils[nop].code.clone();
    if nop.len() != 2 {
        return Err(format!(
            "op {}: a Thumb no-op of {} bytes, where 2 were expected",
            name,
            nop.len()
        ));
    }
    for stencil in stencils.iter_mut() {
        if stencil.code.len() % 4 == 2 {
            stencil.code.extend_from_slice(&nop);
        }
    }
    Ok(())
}

/// The offsets of Power's prefixed instructions in `code`: a word of
/// primary opcode 1, then its suffix, whatever the suffix's opcode. The
/// emitter keeps each inside a 64-byte block, where Power10 requires it.
fn prefixed(code: &[u8], little_endian: bool) -> Vec<u32> {
    let mut offsets = Vec::new();
    let mut words = code.chunks_exact(4).enumerate();
    while let Some((i, w)) = words.next() {
        let w = [w[0], w[1], w[2], w[3]];
        let word = if little_endian {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        };
        if word >> 26 == 1 {
            offsets.push(4 * i as u32);
            words.next();
        }
    }
    offsets
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

/// One relocation in an op's section of the compiled object.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reloc {
    /// Offset from the op's first byte.
    offset: u64,
    /// The ELF relocation type.
    r_type: u32,
    addend: i64,
    /// Whether it refers to the op's continuation `<op>__next`.
    next: bool,
}

/// One op as the compiler wrote it, before linking.
struct Compiled {
    /// The function's size (`.size`): its instructions, without the
    /// padding the assembler may put after them to the section's end.
    size: u64,
    /// The bytes of its section.
    data: Vec<u8>,
    relocs: Vec<Reloc>,
}

/// The continuation jump as the compiler writes it: the empty op, whose
/// code is nothing but its tail call, with its one reference to `__next`;
/// and the conditional forms of it the compiler writes where it guarantees
/// a tail call (`JUMP_FORMS` in build/cgen.rs).
struct Jump {
    /// Bytes and relocations of each form, the empty op's first; all as
    /// long as the empty op's.
    forms: Vec<(Vec<u8>, Vec<Reloc>)>,
    /// Where the reference to `__next` lies in each form.
    next_at: u64,
}

/// What kind of place a relocation fills in (`reloc_class`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The displacement of a PC-relative branch (or call).
    Branch,
    /// Any other PC-relative value: the distance to a slot or a label.
    Relative,
    /// No value at all: a note for the linker (RISC-V's relaxation hints).
    Marker,
}

/// The relocation types an op may contain, per architecture: only
/// PC-relative ones, whose value is a distance between two places of the
/// same op, and so the same wherever the op is copied. Everything else
/// (absolute addresses, GOT and TOC entries, page-relative `adrp`, whose
/// value depends on the address modulo 4 KiB) fails the build.
///
/// This is a list of relocation types, not of instructions: the ELF
/// psABI of each architecture defines them, and a new compiler can only add
/// to what the ops use, which then fails the build by name until it is
/// listed here.
fn reloc_class(arch: object::Architecture, r_type: u32) -> Option<Class> {
    use Class::{Branch, Marker, Relative};
    use object::Architecture as A;
    use object::elf::*;
    let t = object::elf::RelocationType(r_type);
    match arch {
        A::X86_64 => match t {
            R_X86_64_PLT32 => Some(Branch),
            R_X86_64_PC32 | R_X86_64_PC64 | R_X86_64_PC16 | R_X86_64_PC8 => Some(Relative),
            _ => None,
        },
        A::I386 => match t {
            R_386_PLT32 => Some(Branch),
            R_386_PC32 | R_386_PC16 | R_386_PC8 => Some(Relative),
            _ => None,
        },
        A::Aarch64 => match t {
            R_AARCH64_JUMP26 | R_AARCH64_CALL26 | R_AARCH64_CONDBR19 | R_AARCH64_TSTBR14 => {
                Some(Branch)
            }
            R_AARCH64_ADR_PREL_LO21
            | R_AARCH64_LD_PREL_LO19
            | R_AARCH64_PREL16
            | R_AARCH64_PREL32
            | R_AARCH64_PREL64 => Some(Relative),
            _ => None,
        },
        A::Riscv32 | A::Riscv64 => match t {
            R_RISCV_CALL | R_RISCV_CALL_PLT | R_RISCV_JAL | R_RISCV_BRANCH | R_RISCV_RVC_JUMP
            | R_RISCV_RVC_BRANCH => Some(Branch),
            // The low half names the `auipc` (a label of the op), not the
            // slot: its value is the same distance.
            R_RISCV_PCREL_HI20 | R_RISCV_PCREL_LO12_I | R_RISCV_PCREL_LO12_S | R_RISCV_32_PCREL => {
                Some(Relative)
            }
            R_RISCV_RELAX | R_RISCV_ALIGN => Some(Marker),
            _ => None,
        },
        A::Arm => match t {
            // R_ARM_THM_CALL (10) is missing from `object`'s names.
            R_ARM_PC24 | R_ARM_CALL | R_ARM_JUMP24 | R_ARM_THM_JUMP24 | R_ARM_THM_JUMP19 => {
                Some(Branch)
            }
            _ if r_type == 10 => Some(Branch),
            R_ARM_REL32 | R_ARM_PREL31 | R_ARM_MOVW_PREL_NC | R_ARM_MOVT_PREL => Some(Relative),
            R_ARM_V4BX => Some(Marker),
            _ => None,
        },
        A::PowerPc64 => match t {
            R_PPC64_REL24 | R_PPC64_REL14 | R_PPC64_REL14_BRTAKEN | R_PPC64_REL14_BRNTAKEN => {
                Some(Branch)
            }
            R_PPC64_REL32 | R_PPC64_REL64 => Some(Relative),
            // R_PPC64_REL24_NOTOC (116), R_PPC64_PCREL34 (132) and the
            // R_PPC64_PCREL_OPT hint (123) are missing from `object`'s names.
            _ => match r_type {
                116 => Some(Branch),
                132 => Some(Relative),
                123 => Some(Marker),
                _ => None,
            },
        },
        A::S390x => match t {
            R_390_PC16DBL | R_390_PC32DBL | R_390_PLT16DBL | R_390_PLT32DBL => Some(Branch),
            R_390_PC16 | R_390_PC32 | R_390_PC64 => Some(Relative),
            _ => None,
        },
        _ => None,
    }
}

/// Reads `op` from the compiled object: its bytes, its size, and every
/// relocation in it, after checking that each is PC-relative and refers to
/// the op itself or its own `__next`/`__immK` symbols.
fn compiled(object: &object::File, op: &OpSpec) -> BuildResult<Compiled> {
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
    let arch = object.architecture();
    let mut relocs = Vec::new();
    for (offset, reloc) in section.relocations() {
        let RelocationFlags::Elf { r_type } = reloc.flags() else {
            return Err(format!("op {}: a relocation that is not ELF", op.name));
        };
        let class = reloc_class(arch, r_type.0);
        let outside = |what: String| match class {
            Some(Class::Branch) => format!("op {}: calls {what}, which is outside the op", op.name),
            _ => format!(
                "op {}: refers to {what} at offset {offset:#x}, outside the op",
                op.name
            ),
        };
        let is_next = match reloc.target() {
            RelocationTarget::Symbol(index) => {
                let (name, section_index) = symbol(object, index);
                if name == next {
                    true
                } else if own.contains(&name) || section_index == Some(section.index()) {
                    // A slot of its own, or a label inside the op.
                    false
                } else if name.starts_with(&format!("{}__imm", op.name)) {
                    return Err(format!(
                        "op {}: reads {name} but has only {} slot(s)",
                        op.name, op.slots
                    ));
                } else if name.is_empty() {
                    return Err(outside("an unnamed symbol".into()));
                } else if matches!(class, Some(Class::Branch)) {
                    return Err(outside(name));
                } else {
                    return Err(outside(format!("symbol {name}")));
                }
            }
            RelocationTarget::Section(index) if index == section.index() => false,
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
            // A marker without a target (RISC-V's R_RISCV_RELAX and the like).
            _ => false,
        };
        if class.is_none() {
            return Err(format!(
                "op {}: relocation type {} at offset {offset:#x} is not PC-relative, so the op \
                 would hold an absolute address",
                op.name, r_type.0
            ));
        }
        relocs.push(Reloc {
            offset,
            r_type: r_type.0,
            addend: reloc.addend(),
            next: is_next,
        });
    }
    let size = object
        .symbols()
        .find(|s| s.name() == Ok(&*op.name) && s.section_index() == Some(section.index()))
        .map(|s| s.size())
        .filter(|&size| size > 0)
        .ok_or_else(|| format!("op {}: no function symbol with a size", op.name))?;
    let data = section
        .data()
        .map_err(|e| format!("op {}: reading its object bytes: {e}", op.name))?
        .to_vec();
    if size > data.len() as u64 {
        return Err(format!(
            "op {}: its function is longer than its section",
            op.name
        ));
    }
    Ok(Compiled { size, data, relocs })
}

impl Jump {
    /// The empty op's code and relocations: its tail jump.
    fn of_empty(empty: &Compiled, op: &OpSpec) -> BuildResult<Jump> {
        let next: Vec<&Reloc> = empty.relocs.iter().filter(|r| r.next).collect();
        let [next] = next.as_slice() else {
            return Err(format!(
                "op {}: {} references to its continuation, where its tail jump is one",
                op.name,
                next.len()
            ));
        };
        Ok(Jump {
            forms: vec![(
                empty.data[..empty.size as usize].to_vec(),
                empty.relocs.clone(),
            )],
            next_at: next.offset,
        })
    }

    fn len(&self) -> u64 {
        self.forms[0].0.len() as u64
    }

    /// The bytes and relocations of `compiled` where a jump to `__next`
    /// whose reference is `reference` would lie, if the op holds them all.
    fn window<'c>(
        &self,
        compiled: &'c Compiled,
        reference: &Reloc,
    ) -> Option<(u64, &'c [u8], Vec<Reloc>)> {
        let start = reference.offset.checked_sub(self.next_at)?;
        let end = start + self.len();
        if end > compiled.size {
            return None;
        }
        let relocs = compiled
            .relocs
            .iter()
            .filter(|r| (start..end).contains(&r.offset))
            .map(|r| Reloc {
                offset: r.offset - start,
                ..r.clone()
            })
            .collect();
        Some((start, &compiled.data[start as usize..end as usize], relocs))
    }

    /// Adds the conditional tail jumps of a `JUMP_FORMS` function.
    fn learn(&mut self, compiled: &Compiled) {
        for reference in compiled.relocs.iter().filter(|r| r.next) {
            if let Some((_, bytes, relocs)) = self.window(compiled, reference)
                && !self.forms.iter().any(|(b, r)| b == bytes && *r == relocs)
            {
                self.forms.push((bytes.to_vec(), relocs));
            }
        }
    }

    /// Where each of `op`'s references to its continuation starts a copy of
    /// a tail jump, and whether it is the unconditional one; or why one is
    /// not a tail jump.
    fn find_in(&self, compiled: &Compiled, op: &OpSpec) -> BuildResult<Vec<(u64, bool)>> {
        let mut starts = Vec::new();
        for reference in compiled.relocs.iter().filter(|r| r.next) {
            let form = self
                .window(compiled, reference)
                .and_then(|(start, bytes, relocs)| {
                    let form = self
                        .forms
                        .iter()
                        .position(|(b, r)| b == bytes && *r == relocs)?;
                    Some((start, form == 0))
                });
            match form {
                Some(found) => starts.push(found),
                None => {
                    return Err(format!(
                        "op {}: reaches {}__next at offset {:#x} other than by a tail jump (by a \
                         call, or a branch the empty op does not make), so it would not run in \
                         constant stack",
                        op.name, op.name, reference.offset
                    ));
                }
            }
        }
        Ok(starts)
    }
}

/// The bytes every op's function ends with (clang on powerpc64 ends each
/// with a zeroed traceback table), which are no instruction: the longest
/// common suffix of them all, usually none. Each op's size is cut to
/// exclude it.
fn cut_trailer(compiled: &mut [Compiled]) {
    let function = |c: &Compiled| c.data[..c.size as usize].to_vec();
    let mut trailer = function(&compiled[0]);
    for c in compiled.iter() {
        let f = function(c);
        let common = trailer
            .iter()
            .rev()
            .zip(f.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        trailer.drain(..trailer.len() - common);
    }
    for c in compiled.iter_mut() {
        c.size -= trailer.len() as u64;
    }
}

/// Reads the compiled object and checks each op's relocations: the part of
/// the proof that needs no link. The link calls it when it fails, so that
/// an op reaching outside itself is named rather than the linker's message.
pub fn check_object(object: &[u8], ops: &[OpSpec]) -> BuildResult<()> {
    let object =
        object::File::parse(object).map_err(|e| format!("reading the ops' object file: {e}"))?;
    for op in ops {
        compiled(&object, op)?;
    }
    Ok(())
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

/// Where the op of `variant` is in `ops`, and so in the table.
fn position(ops: &[OpSpec], variant: Variant) -> BuildResult<usize> {
    ops.iter()
        .position(|op| op.variant == Some(variant))
        .ok_or_else(|| format!("no op for {variant:?} among the forms"))
}

/// With aligned slots the emitter pads with no-ops, so every op must be a
/// whole number of no-ops long.
fn check_padding(stencils: &[Stencil], nop: usize, slot_align: usize) -> BuildResult<()> {
    if slot_align == 1 {
        return Ok(());
    }
    let nop = &stencils[nop];
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

/// Makes every op at least as long as its slots (8 bytes each), with
/// trailing no-ops where it is shorter (`src/layout.rs`): the next op's
/// slots, at the same distance from its start, then never overlap this
/// op's, and the emitter has nothing to keep apart at run time.
fn cover_slots(stencils: &mut [Stencil], ops: &[OpSpec], nop: usize) -> BuildResult<()> {
    let (name, nop) = (stencils[nop].name.clone(), stencils[nop].code.clone());
    for (stencil, op) in stencils.iter_mut().zip(ops) {
        let short = crate::layout::footprint(op.slots).saturating_sub(stencil.code.len());
        if short == 0 {
            continue;
        }
        if nop.is_empty() || !short.is_multiple_of(nop.len()) {
            return Err(format!(
                "op {}: {} bytes with {} slot(s), {short} bytes short of its slots, \
                 which the {}-byte no-op ({name}) cannot fill",
                stencil.name,
                stencil.code.len(),
                op.slots,
                nop.len()
            ));
        }
        for _ in 0..short / nop.len() {
            stencil.code.extend_from_slice(&nop);
        }
    }
    Ok(())
}

/// Every op, with the most padding before it and a skip after it, must fit
/// one code block (`src/layout.rs`), or the emitter could not place it.
fn check_blocks(stencils: &[Stencil], ops: &[OpSpec], distance: u64) -> BuildResult<()> {
    let skip = &stencils[position(ops, Variant::Skip)?];
    let distance = usize::try_from(distance).map_err(|e| format!("slot distance: {e}"))?;
    match stencils.iter().zip(ops).find(|(s, _)| {
        let max_pad = crate::layout::MAX_PAD;
        !crate::layout::fits(0, max_pad, s.code.len(), skip.code.len(), distance)
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
    /// Every symbol's address and size.
    symbols: HashMap<String, (u64, u64)>,
    what: &'static str,
    /// Distance from an op's first byte to its first slot.
    distance: u64,
}

impl<'a> Linked<'a> {
    fn parse(data: &'a [u8], what: &'static str, distance: u64) -> BuildResult<Self> {
        let file =
            object::File::parse(data).map_err(|e| format!("reading the linked ops{what}: {e}"))?;
        // A Thumb function symbol's value is its address with bit 0 set,
        // the mark of Thumb code (ARM ELF ABI): the bit is no part of the
        // address.
        let thumb_bit = u64::from(file.architecture() == object::Architecture::Arm);
        let symbols = file
            .symbols()
            .filter_map(|s| {
                let address = if s.kind() == SymbolKind::Text {
                    s.address() & !thumb_bit
                } else {
                    s.address()
                };
                Some((s.name().ok()?.to_string(), (address, s.size())))
            })
            .collect();
        Ok(Linked {
            file,
            symbols,
            what,
            distance,
        })
    }

    fn symbol(&self, op: &OpSpec, name: &str) -> BuildResult<u64> {
        self.symbols
            .get(name)
            .map(|&(address, _)| address)
            .ok_or_else(|| {
                format!(
                    "op {}: no symbol {name} in the linked ops{}",
                    op.name, self.what
                )
            })
    }

    /// The size of the op's function as linked: its instructions, without
    /// the padding after them.
    fn function_size(&self, op: &OpSpec) -> BuildResult<u64> {
        match self.symbols.get(&op.name) {
            Some(&(_, size)) if size > 0 => Ok(size),
            _ => Err(format!(
                "op {}: no function symbol with a size in the linked ops{}",
                op.name, self.what
            )),
        }
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
