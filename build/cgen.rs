//! Generates the one C translation unit that holds every op form.
//!
//! Each form is an instance of a family file in `ops/` with its registers
//! and operation fixed by `#define`s; see `ops/copyjit.h`.

use crate::BuildResult;
use crate::isa::{BinOp, Reg};
use crate::variant::{REG_FIELDS, Table, Variant};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Names a C file compiled as one more op, to show the checks at work (the
/// build must reject e.g. an op that reads a `static const` table).
pub const EXTRA_OP_ENV: &str = "COPYJIT_EXTRA_OP";

/// One op to compile.
pub struct OpSpec {
    /// Symbol and section name.
    pub name: String,
    /// The table entry it fills; `None` for an extra op under test.
    pub variant: Option<Variant>,
    /// The family file, relative to `ops/` or absolute.
    pub file: PathBuf,
    /// `#define`s that specialise the family.
    pub defines: Vec<(&'static str, String)>,
    /// Data slots the op reads.
    pub slots: usize,
    /// Whether the op never continues with the next one.
    pub terminal: bool,
    /// Whether the op is the skip, whose continuation lies a slot distance
    /// past its end.
    pub skip: bool,
    /// Whether the op only shows how the compiler writes a conditional tail
    /// jump to its continuation ([`JUMP_FORMS`]); not part of the table.
    pub jump_form: bool,
}

/// File name, in `OUT_DIR`, of the family that shows the compiler's
/// conditional tail jumps.
const JUMP_FORMS_FILE: &str = "jump_forms.c";

/// A family of functions that continue, or jump to their slot's target, on
/// a condition. Some compilers make a conditional branch the tail call
/// (clang on s390x: `jgne` instead of `jg`): build/extract.rs accepts a
/// reference to `__next` only as the empty op's jump or as one of these,
/// and only where the compiler is told the call must be a tail call
/// (`musttail`), which it then guarantees; elsewhere the family is the
/// empty op again.
const JUMP_FORMS: &str =
    "/* How the compiler writes a conditional tail jump (see build/cgen.rs). */
#if defined(__has_attribute)
#if __has_attribute(musttail)
#define CJ_JUMP_FORMS 1
#endif
#endif
#ifdef CJ_JUMP_FORMS
OP {
    if (CMP(r0, RHS))
        NEXT();
    JUMP(0);
}
#else
OP_THROUGH { NEXT_THROUGH(); }
#endif
#undef CJ_JUMP_FORMS
";

/// The forms of the target's table: they depend on its pointer width,
/// which cargo tells the build script (whose own `usize` is the host's).
pub fn table() -> BuildResult<Table> {
    const WIDTH: &str = "CARGO_CFG_TARGET_POINTER_WIDTH";
    let width = std::env::var(WIDTH).map_err(|e| format!("{WIDTH}: {e}"))?;
    match width.parse() {
        Ok(bits @ (32 | 64)) => Ok(Table::new(bits)),
        _ => Err(format!(
            "{WIDTH} is {width}: stencils need 32-bit or 64-bit pointers"
        )),
    }
}

/// Every op form of `table` in table order, plus the extra op if one is
/// named.
pub fn op_list(table: &Table) -> BuildResult<Vec<OpSpec>> {
    let mut ops: Vec<OpSpec> = table.forms().map(spec).collect();
    for (i, op) in ops.iter().enumerate() {
        let v = op.variant.expect("table forms have a variant");
        if table.index(v) != i {
            return Err(format!(
                "op {}: table index {} but Table::index says {}",
                op.name,
                i,
                table.index(v)
            ));
        }
    }
    if let Ok(path) = std::env::var(EXTRA_OP_ENV) {
        let file = PathBuf::from(&path);
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or(format!("{EXTRA_OP_ENV}={path}: no file name"))?;
        let name = format!(
            "extra_{}",
            stem.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let file = std::fs::canonicalize(&file).map_err(|e| format!("op {name}: {path}: {e}"))?;
        println!("cargo:rerun-if-changed={}", file.display());
        ops.push(OpSpec {
            name,
            variant: None,
            file,
            defines: Vec::new(),
            slots: 2,
            terminal: false,
            skip: false,
            jump_form: false,
        });
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let file = out_dir.join(JUMP_FORMS_FILE);
    std::fs::write(&file, JUMP_FORMS).map_err(|e| format!("writing {}: {e}", file.display()))?;
    for cond in crate::isa::Cond::ALL {
        for (rhs, what) in [("r1", "reg"), ("IMM(1)", "imm"), ("0", "zero")] {
            ops.push(OpSpec {
                name: format!("cj_jump_form_{}_{what}", cond.name()),
                variant: None,
                file: file.clone(),
                defines: vec![
                    ("CMP", format!("cj_{}", cond.name())),
                    ("RHS", rhs.to_string()),
                ],
                slots: 2,
                terminal: false,
                skip: false,
                jump_form: true,
            });
        }
    }
    Ok(ops)
}

fn reg(r: Reg) -> String {
    r.c_name().to_string()
}

/// The name, family and defines of an ALU form with an immediate: the
/// 64-bit and the 32-bit operations share `ops/bin_imm.c`.
fn bin_imm(op: &str, d: Reg, a: Reg) -> (String, &'static str, Vec<(&'static str, String)>) {
    (
        format!("{op}i_{}_{}", reg(d), reg(a)),
        "bin_imm",
        vec![
            ("OPFN", format!("cj_{op}")),
            ("DST", reg(d)),
            ("LHS", reg(a)),
        ],
    )
}

/// The name, family and defines of an ALU form for any registers, whose
/// numbers its slot `regs` holds; `rhs` is the C expression for the right
/// operand.
fn bin_any(
    op: BinOp,
    suffix: &str,
    regs: usize,
    rhs: String,
) -> (String, &'static str, Vec<(&'static str, String)>) {
    (
        format!("{}{suffix}_any", op.name()),
        "bin_any",
        vec![
            ("OPFN", format!("cj_{}", op.name())),
            ("REGS", regs.to_string()),
            ("DST_AT", REG_FIELDS[0].to_string()),
            ("LHS_AT", REG_FIELDS[1].to_string()),
            ("RHS", rhs),
        ],
    )
}

fn spec(v: Variant) -> OpSpec {
    let (name, family, defines): (String, &str, Vec<(&'static str, String)>) = match v {
        Variant::Empty => ("empty".into(), "empty", vec![]),
        Variant::Nop => ("nop".into(), "nop", vec![]),
        Variant::Bin(op, d, a, b) => (
            format!("{}_{}_{}_{}", op.name(), reg(d), reg(a), reg(b)),
            "bin",
            vec![
                ("OPFN", format!("cj_{}", op.name())),
                ("DST", reg(d)),
                ("LHS", reg(a)),
                ("RHS", reg(b)),
            ],
        ),
        Variant::BinImm(op, d, a) => bin_imm(op.name(), d, a),
        Variant::BinImm32(op, d, a) => bin_imm(op.name(), d, a),
        Variant::BinAny(op, ..) => bin_any(op, "", 0, format!("REG({})", REG_FIELDS[2])),
        Variant::BinImmAny(op, ..) => bin_any(op, "i", 1, "IMM(0)".into()),
        Variant::Unary(op, d, a) => (
            format!("{}_{}_{}", op.name(), reg(d), reg(a)),
            "unary",
            vec![
                ("OPFN", format!("cj_{}", op.name())),
                ("DST", reg(d)),
                ("SRC", reg(a)),
            ],
        ),
        Variant::Mov(d, s) => (
            format!("mov_{}_{}", reg(d), reg(s)),
            "mov",
            vec![("DST", reg(d)), ("SRC", reg(s))],
        ),
        Variant::MovImm(d) => (format!("movi_{}", reg(d)), "mov_imm", vec![("DST", reg(d))]),
        Variant::Branch(c, a, b) => (
            format!("b{}_{}_{}", c.name(), reg(a), reg(b)),
            "branch",
            vec![
                ("CMP", format!("cj_{}", c.name())),
                ("LHS", reg(a)),
                ("RHS", reg(b)),
            ],
        ),
        Variant::BranchImm(c, a) => (
            format!("b{}i_{}", c.name(), reg(a)),
            "branch_imm",
            vec![("CMP", format!("cj_{}", c.name())), ("LHS", reg(a))],
        ),
        Variant::BranchMem(c, b) => (
            format!("b{}m_{}", c.name(), reg(b)),
            "branch_mem",
            vec![("CMP", format!("cj_{}", c.name())), ("BASE", reg(b))],
        ),
        Variant::Jump => ("jump".into(), "jump", vec![]),
        Variant::Load(k, d, b) => (
            format!("load_{}_{}_{}", k.name(), reg(d), reg(b)),
            "load",
            vec![
                ("TYPE", format!("cj_{}", k.name())),
                ("DST", reg(d)),
                ("BASE", reg(b)),
            ],
        ),
        Variant::Store(w, s, b) => (
            format!("store_{}_{}_{}", w.name(), reg(s), reg(b)),
            "store",
            vec![
                ("TYPE", format!("cj_{}", w.name())),
                ("SRC", reg(s)),
                ("BASE", reg(b)),
            ],
        ),
        Variant::Push(s) => (format!("push_{}", reg(s)), "push", vec![("SRC", reg(s))]),
        Variant::Pop(d) => (format!("pop_{}", reg(d)), "pop", vec![("DST", reg(d))]),
        Variant::CallHost(d) => (
            format!("call_host_{}", reg(d)),
            "call_host",
            vec![("DST", reg(d))],
        ),
        Variant::Call => ("call".into(), "call", vec![]),
        Variant::Ret => ("ret".into(), "ret", vec![]),
        Variant::RetImm => ("ret_imm".into(), "ret_imm", vec![]),
        // The empty op, linked with its continuation past the data block.
        Variant::Skip => ("skip".into(), "empty", vec![]),
    };
    OpSpec {
        name: format!("cj_op_{name}"),
        variant: Some(v),
        file: PathBuf::from(format!("{family}.c")),
        defines,
        slots: v.slots(),
        terminal: v.is_terminal(),
        skip: v == Variant::Skip,
        jump_form: false,
    }
}

/// Writes `stencils.c` into `out_dir` and returns its path.
pub fn write_source(out_dir: &Path, ops: &[OpSpec]) -> BuildResult<PathBuf> {
    let mut c =
        String::from("/* Generated by copyjit's build.rs: every op form, one function each. */\n");
    c.push_str("#include \"copyjit.h\"\n");
    for op in ops {
        let _ = writeln!(c, "\n#define SELF {}", op.name);
        for (k, v) in &op.defines {
            let _ = writeln!(c, "#define {k} {v}");
        }
        let _ = writeln!(c, "#include \"{}\"", op.file.display());
        let _ = writeln!(c, "#undef SELF");
        for (k, _) in &op.defines {
            let _ = writeln!(c, "#undef {k}");
        }
    }
    let path = out_dir.join("stencils.c");
    std::fs::write(&path, c).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}
