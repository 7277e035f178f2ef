//! Why the Linux platform refused.

use core::fmt;
use rustix::io::Errno;

/// Why [`crate::Linux`] refused to flush or change permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The region does not start on a page boundary or is not a whole
    /// number of pages long, so changing its permissions would change those
    /// of other memory on the same pages. Nothing was changed. Emit into a
    /// [`crate::CodeMemory`], or into a page-aligned buffer of whole pages.
    NotWholePages {
        /// The region's address.
        addr: usize,
        /// The region's length in bytes.
        len: usize,
        /// The page size.
        page_size: usize,
    },
    /// The kernel refused (`mprotect`, or a cache-flush system call).
    Os(Errno),
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Os(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NotWholePages {
                addr,
                len,
                page_size,
            } => write!(
                f,
                "code buffer at {addr:#x}, {len} bytes, is not whole pages of {page_size} bytes: \
                 its permissions cannot change without changing other memory's"
            ),
            Error::Os(e) => write!(f, "the kernel refused: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os(e) => Some(e),
            Error::NotWholePages { .. } => None,
        }
    }
}
