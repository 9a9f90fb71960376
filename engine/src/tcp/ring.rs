//! A byte ring with a hard capacity whose storage grows on demand (doubling, up to the
//! capacity) and never shrinks: an idle connection holds little memory, a busy one at
//! most its configured buffer size. Bytes can be written past the readable region (the
//! receive side parks out-of-order data there); growing keeps every stored byte at its
//! logical offset.

pub(crate) struct Ring {
    /// Storage; its length is the allocated size.
    buf: Vec<u8>,
    /// Index of logical offset 0.
    head: usize,
    /// Readable (committed) bytes from `head`.
    len: usize,
    /// Hard capacity.
    cap: usize,
}

/// Smallest allocation, to avoid a string of tiny reallocations.
const MIN_ALLOC: usize = 4096;

impl Ring {
    pub fn new(cap: usize) -> Self {
        Ring { buf: Vec::new(), head: 0, len: 0, cap }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes that can still be committed.
    pub fn free(&self) -> usize {
        self.cap - self.len
    }

    /// Bytes of storage allocated.
    pub fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Frees the storage when nothing is held (committed or parked past the readable
    /// region: the caller knows the latter). Growing starts again from nothing.
    pub fn release_storage(&mut self) {
        debug_assert_eq!(self.len, 0);
        if self.len == 0 {
            self.buf = Vec::new();
            self.head = 0;
        }
    }

    /// Makes storage hold logical offsets `0..total` (`total <= cap`).
    fn reserve(&mut self, total: usize) {
        debug_assert!(total <= self.cap);
        let old = self.buf.len();
        if total <= old {
            return;
        }
        let size = total.max(MIN_ALLOC).next_power_of_two().min(self.cap).max(total);
        let mut new = vec![0u8; size];
        // Rotate so logical offset 0 sits at index 0; every stored byte keeps its offset.
        new[..old - self.head].copy_from_slice(&self.buf[self.head..]);
        new[old - self.head..old].copy_from_slice(&self.buf[..self.head]);
        self.buf = new;
        self.head = 0;
    }

    /// Storage index of logical offset `off` (storage non-empty).
    fn index(&self, off: usize) -> usize {
        let i = self.head + off;
        if i >= self.buf.len() {
            i - self.buf.len()
        } else {
            i
        }
    }

    /// Writes `data` at logical offset `off`, which may be past `len`; does not commit.
    /// `off + data.len()` must not exceed the capacity.
    pub fn write_at(&mut self, off: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        assert!(off + data.len() <= self.cap, "ring write past capacity");
        self.reserve(off + data.len());
        let start = self.index(off);
        let first = data.len().min(self.buf.len() - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Makes `n` more bytes readable (written before with `write_at`).
    pub fn commit(&mut self, n: usize) {
        assert!(self.len + n <= self.cap);
        self.len += n;
    }

    /// Appends as much of `data` as fits; returns the count.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.write_at(self.len, &data[..n]);
        self.len += n;
        n
    }

    /// The readable bytes at offsets `off..off + n` (clipped to `len`), as two slices.
    pub fn slices(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        if off >= self.len {
            return (&[], &[]);
        }
        let n = n.min(self.len - off);
        if n == 0 {
            return (&[], &[]);
        }
        let start = self.index(off);
        let first = n.min(self.buf.len() - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }

    /// Drops `n` readable bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.head = self.index(n);
        self.len -= n;
    }

    /// Copies readable bytes into `out` and consumes them; returns the count.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let (a, b) = self.slices(0, out.len());
        let (na, nb) = (a.len(), b.len());
        out[..na].copy_from_slice(a);
        out[na..na + nb].copy_from_slice(b);
        self.consume(na + nb);
        na + nb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_read_wrap_and_grow() {
        let mut r = Ring::new(10_000);
        assert_eq!(r.allocated(), 0);
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(r.push(&data), 3000);
        assert_eq!(r.allocated(), 4096);
        let mut out = vec![0; 2500];
        assert_eq!(r.read(&mut out), 2500);
        assert_eq!(&out[..], &data[..2500]);
        // Wraps within the 4096 allocation.
        assert_eq!(r.push(&data), 3000);
        assert_eq!(r.len(), 3500);
        let (a, b) = r.slices(0, 3500);
        assert!(!b.is_empty());
        let joined: Vec<u8> = a.iter().chain(b).copied().collect();
        assert_eq!(&joined[..500], &data[2500..]);
        assert_eq!(&joined[500..], &data[..]);
        // Growing while wrapped keeps the order.
        assert_eq!(r.push(&data), 3000);
        assert_eq!(r.allocated(), 8192);
        assert_eq!(r.push(&data), 3000);
        assert_eq!(r.len(), 9500);
        assert_eq!(r.allocated(), 10_000);
        assert_eq!(r.push(&data), 500);
        assert_eq!(r.free(), 0);
        let mut all = vec![0; 10_000];
        assert_eq!(r.read(&mut all), 10_000);
        assert_eq!(&all[500..3500], &data[..]);
    }

    #[test]
    fn write_past_len_survives_growth() {
        let mut r = Ring::new(1 << 20);
        r.push(&[1; 100]);
        r.write_at(5000, &[9; 10]);
        r.write_at(100, &[2; 4900]);
        r.commit(4910);
        let mut out = vec![0; 5010];
        assert_eq!(r.read(&mut out), 5010);
        assert!(out[..100].iter().all(|&b| b == 1));
        assert!(out[100..5000].iter().all(|&b| b == 2));
        assert!(out[5000..].iter().all(|&b| b == 9));
    }
}
