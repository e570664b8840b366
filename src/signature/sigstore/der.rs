//! A small, bounded DER reader: just enough to take a SubjectPublicKeyInfo apart (its
//! algorithm, curve and key bits) and to check an RSA key's two integers. Every length is
//! checked against the bytes that remain; nothing is allocated.

/// The tags this reader meets.
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;

/// Why DER bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    #[error("DER ends early")]
    Truncated,
    #[error("DER tag {found:#04x} where {expected:#04x} was expected")]
    Tag { expected: u8, found: u8 },
    #[error("DER length is not in its shortest form or is too long")]
    Length,
    #[error("DER has {0} bytes after its end")]
    Trailing(usize),
}

/// A cursor over DER bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    /// The contents of the next element, which must have tag `tag`.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let (&found, after_tag) = self.rest.split_first().ok_or(DerError::Truncated)?;
        if found != tag {
            return Err(DerError::Tag { expected: tag, found });
        }
        let (len, after_len) = read_length(after_tag)?;
        if after_len.len() < len {
            return Err(DerError::Truncated);
        }
        let (contents, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok(contents)
    }

    /// A reader over the contents of the next element of tag `tag`.
    pub(crate) fn nested(&mut self, tag: u8) -> Result<Reader<'a>, DerError> {
        self.read(tag).map(Reader::new)
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), DerError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DerError::Trailing(n)),
        }
    }
}

/// A definite length (short or long form, at most 4 length bytes, shortest form only).
fn read_length(bytes: &[u8]) -> Result<(usize, &[u8]), DerError> {
    let (&first, rest) = bytes.split_first().ok_or(DerError::Truncated)?;
    if first < 0x80 {
        return Ok((usize::from(first), rest));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return Err(DerError::Length);
    }
    if rest.len() < count {
        return Err(DerError::Truncated);
    }
    let (digits, rest) = rest.split_at(count);
    if digits[0] == 0 {
        return Err(DerError::Length);
    }
    let len = digits.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    if len < 0x80 {
        return Err(DerError::Length);
    }
    Ok((len, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut r = Reader::new(&[0x04, 0x02, 0xaa, 0xbb]);
        assert_eq!(r.read(0x04).unwrap(), &[0xaa, 0xbb]);
        assert!(r.finish().is_ok());
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(0u8, 0x80));
        assert_eq!(Reader::new(&long).read(0x04).unwrap().len(), 0x80);
    }

    #[test]
    fn refuses_lengths_past_the_end_and_non_minimal_lengths() {
        assert_eq!(Reader::new(&[0x04, 0x05, 0x00]).read(0x04), Err(DerError::Truncated));
        assert_eq!(Reader::new(&[0x04, 0x81, 0x05, 0, 0, 0, 0, 0]).read(0x04), Err(DerError::Length));
        assert_eq!(Reader::new(&[0x04, 0x85, 1, 1, 1, 1, 1]).read(0x04), Err(DerError::Length));
        assert_eq!(Reader::new(&[0x04, 0x80]).read(0x04), Err(DerError::Length), "indefinite length");
        assert_eq!(Reader::new(&[0x04]).read(0x04), Err(DerError::Truncated));
    }

    #[test]
    fn refuses_an_unexpected_tag_and_trailing_bytes() {
        assert_eq!(Reader::new(&[0x02, 0x00]).read(SEQUENCE), Err(DerError::Tag { expected: 0x30, found: 0x02 }));
        let mut r = Reader::new(&[0x05, 0x00, 0xff]);
        r.read(NULL).unwrap();
        assert_eq!(r.finish(), Err(DerError::Trailing(1)));
    }
}
