//! The decimal text that `tcpdump -ddd` prints: the instruction count on the
//! first line, then `code jt jf k` per line.

use crate::instruction::Instruction;
use core::fmt;

/// Why `tcpdump -ddd` text could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The first line is not a count.
    BadCount,
    /// Line `line` (1-based) is not four decimal numbers in range.
    BadLine {
        /// The line number.
        line: usize,
    },
    /// The text has a different number of instructions than its count says.
    CountMismatch {
        /// The count on the first line.
        expected: usize,
        /// Instruction lines found.
        found: usize,
    },
    /// The output slice holds fewer instructions than the count.
    TooLong {
        /// The count on the first line.
        count: usize,
        /// Instructions the slice holds.
        capacity: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::BadCount => f.write_str("the first line is not an instruction count"),
            ParseError::BadLine { line } => {
                write!(f, "line {line} is not `code jt jf k` in decimal")
            }
            ParseError::CountMismatch { expected, found } => {
                write!(
                    f,
                    "the count says {expected} instructions, the text has {found}"
                )
            }
            ParseError::TooLong { count, capacity } => {
                write!(f, "{count} instructions do not fit in {capacity}")
            }
        }
    }
}

impl core::error::Error for ParseError {}

/// Reads `tcpdump -ddd` text into `out`, returning the filled part. Blank
/// lines are skipped.
pub fn parse_ddd<'o>(
    text: &str,
    out: &'o mut [Instruction],
) -> Result<&'o [Instruction], ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let count: usize = lines
        .next()
        .and_then(|(_, l)| l.parse().ok())
        .ok_or(ParseError::BadCount)?;
    if count > out.len() {
        return Err(ParseError::TooLong {
            count,
            capacity: out.len(),
        });
    }
    let mut found = 0;
    for (line, text) in lines {
        let mut fields = text.split_ascii_whitespace();
        let mut field = || fields.next().and_then(|f| f.parse::<u32>().ok());
        let (Some(code), Some(jt), Some(jf), Some(k), None) =
            (field(), field(), field(), field(), field())
        else {
            return Err(ParseError::BadLine { line });
        };
        let (Ok(code), Ok(jt), Ok(jf)) = (u16::try_from(code), u8::try_from(jt), u8::try_from(jf))
        else {
            return Err(ParseError::BadLine { line });
        };
        if let Some(slot) = out.get_mut(found) {
            *slot = Instruction { code, jt, jf, k };
        }
        found += 1;
    }
    if found != count {
        return Err(ParseError::CountMismatch {
            expected: count,
            found,
        });
    }
    Ok(&out[..count])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tcpdump_ddd() {
        let text = "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n";
        let mut out = [Instruction::default(); 8];
        let program = parse_ddd(text, &mut out).unwrap();
        assert_eq!(program.len(), 4);
        assert_eq!(program[1], Instruction::jump(0x15, 2048, 0, 1));
        assert_eq!(program[2], Instruction::stmt(0x06, 262144));
    }

    #[test]
    fn rejects_malformed_text() {
        let mut out = [Instruction::default(); 2];
        assert_eq!(parse_ddd("", &mut out), Err(ParseError::BadCount));
        assert_eq!(parse_ddd("x\n", &mut out), Err(ParseError::BadCount));
        assert_eq!(
            parse_ddd("3\n", &mut out),
            Err(ParseError::TooLong {
                count: 3,
                capacity: 2
            })
        );
        assert_eq!(
            parse_ddd("1\n6 0 0\n", &mut out),
            Err(ParseError::BadLine { line: 2 })
        );
        assert_eq!(
            parse_ddd("1\n6 0 0 0 0\n", &mut out),
            Err(ParseError::BadLine { line: 2 })
        );
        assert_eq!(
            parse_ddd("1\n6 256 0 0\n", &mut out),
            Err(ParseError::BadLine { line: 2 })
        );
        assert_eq!(
            parse_ddd("2\n6 0 0 0\n", &mut out),
            Err(ParseError::CountMismatch {
                expected: 2,
                found: 1
            })
        );
    }
}
