//! A provided-buffer ring (kernel 5.19+): the kernel picks a receive buffer per multishot recv
//! completion, so idle connections hold no buffer at all.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// The buffer group id used by every ring (one buffer ring per io_uring instance).
pub(crate) const BGID: u16 = 0;

/// Ring of `entries` descriptors plus `entries` buffers of `buf_size` bytes.
///
/// Dropping frees both allocations at once, so once registered it must only be dropped when
/// no recv can pick a buffer: the ring's owner (`owner::RingOwner`) drops it after cancelling
/// and reaping every operation, or leaks it. Dropping the io_uring first is not enough (the
/// kernel finishes cancelled operations asynchronously).
pub(crate) struct BufRing {
    ring: NonNull<BufRingEntry>,
    ring_layout: Layout,
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    entries: u16,
    buf_size: u32,
    /// Our tail: descriptors written but maybe not yet published to the kernel.
    tail: u16,
}

impl BufRing {
    /// Allocates the ring and its buffers and fills the ring with every buffer.
    /// `entries` must be a power of two (checked by the configuration).
    pub(crate) fn new(entries: u16, buf_size: u32) -> io::Result<BufRing> {
        let oom = || io::Error::new(io::ErrorKind::OutOfMemory, "buffer ring allocation failed");
        let ring_layout =
            Layout::from_size_align(usize::from(entries) * size_of::<BufRingEntry>(), 4096)
                .map_err(|_| oom())?;
        let bufs_layout = Layout::from_size_align(usize::from(entries) * buf_size as usize, 64)
            .map_err(|_| oom())?;
        // SAFETY: both layouts have a non-zero size (entries >= 1, buf_size >= 256).
        let ring = NonNull::new(unsafe { alloc_zeroed(ring_layout) }.cast::<BufRingEntry>())
            .ok_or_else(oom)?;
        // SAFETY: as above.
        let Some(bufs) = NonNull::new(unsafe { alloc_zeroed(bufs_layout) }) else {
            // SAFETY: `ring` was allocated with `ring_layout` just above.
            unsafe { dealloc(ring.as_ptr().cast(), ring_layout) };
            return Err(oom());
        };
        let mut me = BufRing {
            ring,
            ring_layout,
            bufs,
            bufs_layout,
            entries,
            buf_size,
            tail: 0,
        };
        for bid in 0..entries {
            me.recycle(bid);
        }
        me.publish();
        Ok(me)
    }

    /// Registers the ring with `submitter` under [`BGID`].
    pub(crate) fn register(&self, submitter: &io_uring::Submitter<'_>) -> io::Result<()> {
        // SAFETY: the ring memory lives as long as `self`, which is only freed once no
        // operation can use it (see the type's note).
        unsafe {
            submitter.register_buf_ring_with_flags(self.ring.as_ptr() as u64, self.entries, BGID, 0)
        }
    }

    /// The first `len` bytes of buffer `bid`, as filled by the kernel for a completion.
    /// Valid until the buffer is recycled.
    pub(crate) fn data(&self, bid: u16, len: usize) -> &[u8] {
        let bid = bid % self.entries;
        let len = len.min(self.buf_size as usize);
        // SAFETY: `bid < entries` so the range lies inside the buffers allocation; the kernel
        // wrote it before posting the completion and will not touch it until it is recycled.
        unsafe {
            std::slice::from_raw_parts(
                self.bufs
                    .as_ptr()
                    .add(usize::from(bid) * self.buf_size as usize),
                len,
            )
        }
    }

    /// Gives buffer `bid` back to the kernel (visible after [`publish`](Self::publish)).
    pub(crate) fn recycle(&mut self, bid: u16) {
        let bid = bid % self.entries;
        let index = usize::from(self.tail & (self.entries - 1));
        // SAFETY: `index < entries`, inside the ring allocation; the kernel only reads
        // descriptors between its head and our published tail, and this slot is beyond it.
        let entry = unsafe { &mut *self.ring.as_ptr().add(index) };
        // SAFETY: `bid < entries`, so the address is inside the buffers allocation.
        let addr = unsafe {
            self.bufs
                .as_ptr()
                .add(usize::from(bid) * self.buf_size as usize)
        };
        entry.set_addr(addr as u64);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes recycled buffers to the kernel (one release store for a whole batch).
    pub(crate) fn publish(&self) {
        // SAFETY: the ring base is valid and its first entry initialised (zeroed); the tail
        // field is a u16 the kernel reads atomically.
        let tail = unsafe { &*BufRingEntry::tail(self.ring.as_ptr()).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both pointers were allocated in `new` with these layouts.
        unsafe {
            dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            dealloc(self.bufs.as_ptr(), self.bufs_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_ring_offers_every_buffer() {
        let ring = BufRing::new(8, 256).unwrap();
        assert_eq!(ring.tail, 8);
        assert_eq!(ring.data(3, 10).len(), 10);
        assert_eq!(
            ring.data(3, 10_000).len(),
            256,
            "reads are clamped to the buffer size"
        );
    }
}
