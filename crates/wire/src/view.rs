//! What every typed header view shares: the struct over a buffer, its constructors,
//! and big-endian stores (loads are [`crate::ether::be16`] and [`crate::ether::be32`]).

use std::ops::Range;

/// Declares `pub struct $name<T>`, a view of a header at the start of a buffer `T`
/// (which may go on into the payload), with `new_unchecked`, `new_checked` (at least
/// `$min` bytes, else `Truncated($what)`) and `into_inner`.
macro_rules! header_view {
    ($(#[$meta:meta])* $name:ident, $min:expr, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<T> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// A view without a length check: the accessors panic on a buffer
            /// shorter than the fixed header.
            #[inline]
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }

            /// A view of a buffer that holds at least the fixed header.
            #[inline]
            pub fn new_checked(buffer: T) -> Result<$name<T>, $crate::WireError> {
                if buffer.as_ref().len() < $min {
                    return Err($crate::WireError::Truncated($what));
                }
                Ok($name { buffer })
            }

            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}

pub(crate) use header_view;

/// Stores `v` big-endian at `r` (two bytes).
#[inline]
pub(crate) fn set16(b: &mut [u8], r: Range<usize>, v: u16) {
    b[r].copy_from_slice(&v.to_be_bytes());
}

/// Stores `v` big-endian at `r` (four bytes).
#[inline]
pub(crate) fn set32(b: &mut [u8], r: Range<usize>, v: u32) {
    b[r].copy_from_slice(&v.to_be_bytes());
}
