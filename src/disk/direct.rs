//! Direct I/O (`O_DIRECT`) for blob files: the switch, and memory it can take. A direct
//! read or write moves the bytes between the disk and our buffer without the page cache:
//! no copy into it, nothing for the kernel to reclaim after, and the host's other files
//! stay cached. It asks that memory, file offset and length be aligned; what is not, or a
//! file system that refuses it, goes through the page cache instead (see `pipe`).

use std::fs::File;
use std::io;

use bytes::BytesMut;

/// What direct I/O asks of memory, file offset and length: a page, enough for the logical
/// block size of any disk Linux drives.
pub(super) const ALIGN: usize = 4096;

/// Turn direct I/O on or off for the open file (and every handle sharing it).
pub(super) fn set(file: &File, on: bool) -> io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(file)?;
    let flags = if on { flags | OFlags::DIRECT } else { flags - OFlags::DIRECT };
    Ok(fcntl_setfl(file, flags)?)
}

/// Go on through the page cache: direct I/O off for the file, and `direct` says so.
pub(super) fn fall_back(file: &File, direct: &mut bool) -> io::Result<()> {
    set(file, false)?;
    *direct = false;
    Ok(())
}

/// Whether the error is the kernel refusing a direct read or write (EINVAL).
pub(super) fn refused(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

/// Move the empty `buf`'s start to an [`ALIGN`] boundary, dropping the bytes before it.
pub(super) fn align_start(buf: &mut BytesMut) {
    let skip = buf.as_ptr().align_offset(ALIGN);
    if skip > 0 && skip < ALIGN {
        buf.resize(skip, 0);
        drop(buf.split_to(skip));
    }
}

/// A buffer of `capacity` bytes whose start lies on an [`ALIGN`] boundary, filled from
/// the front, so that a full one can be written directly.
pub(super) struct Aligned {
    mem: Vec<u8>,
    start: usize,
    capacity: usize,
    len: usize,
}

impl Aligned {
    pub(super) fn new(capacity: usize) -> Self {
        let mem = vec![0u8; capacity + ALIGN];
        // `align_offset` may decline (never for bytes in practice); then direct writes fail
        // with EINVAL and the writer goes on through the page cache.
        let start = mem.as_ptr().align_offset(ALIGN).min(ALIGN);
        Aligned { mem, start, capacity, len: 0 }
    }

    pub(super) fn filled(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Take as much of `bytes` as fits; how much that was.
    pub(super) fn push(&mut self, bytes: &[u8]) -> usize {
        let take = bytes.len().min(self.capacity - self.len);
        let at = self.start + self.len;
        self.mem[at..at + take].copy_from_slice(&bytes[..take]);
        self.len += take;
        take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aligned_buffer_starts_on_a_page_and_takes_no_more_than_its_capacity() {
        let mut b = Aligned::new(10);
        assert_eq!(b.filled().as_ptr().align_offset(ALIGN), 0);
        assert_eq!(b.push(b"0123456"), 7);
        assert_eq!(b.push(b"789abc"), 3);
        assert!(b.is_full());
        assert_eq!(b.filled(), b"0123456789");
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn align_start_moves_an_empty_buffer_onto_a_page() {
        let mut buf = BytesMut::with_capacity(3 * ALIGN);
        align_start(&mut buf);
        assert_eq!(buf.as_ptr().align_offset(ALIGN), 0);
        assert!(buf.is_empty() && buf.capacity() >= 2 * ALIGN);
    }
}
