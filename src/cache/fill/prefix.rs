//! `Prefix`: which bytes of a fill written in pieces are on disk, and how far the contiguous
//! run from byte 0 reaches (what readers may read: `docs/parallel-fills.md`).

use std::collections::BTreeMap;

/// The byte ranges written so far, merged; the prefix is the range that starts at 0.
#[derive(Debug, Default)]
pub(crate) struct Prefix {
    /// start → end (exclusive) of disjoint, non-adjacent ranges.
    ranges: BTreeMap<u64, u64>,
}

impl Prefix {
    /// Records `[start, start + len)` as written; the contiguous bytes from 0 now.
    pub(crate) fn add(&mut self, start: u64, len: u64) -> u64 {
        if len > 0 {
            let (mut start, mut end) = (start, start + len);
            // A range that ends at or after `start` and begins before it absorbs it.
            if let Some((&s, &e)) = self.ranges.range(..=start).next_back() {
                if e >= start {
                    start = s;
                    end = end.max(e);
                    self.ranges.remove(&s);
                }
            }
            while let Some((&s, &e)) = self.ranges.range(start..=end).next() {
                end = end.max(e);
                self.ranges.remove(&s);
            }
            self.ranges.insert(start, end);
        }
        self.len()
    }

    /// The contiguous bytes from 0.
    pub(crate) fn len(&self) -> u64 {
        self.ranges.get(&0).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::Prefix;

    #[test]
    fn the_prefix_grows_only_over_contiguous_bytes_from_zero() {
        let mut p = Prefix::default();
        assert_eq!(p.add(10, 5), 0, "bytes ahead of 0 are not a prefix");
        assert_eq!(p.add(20, 5), 0);
        assert_eq!(p.add(0, 4), 4);
        assert_eq!(p.add(4, 6), 15, "joins the range at 10");
        assert_eq!(p.add(15, 5), 25, "and the one at 20");
        assert_eq!(p.ranges.len(), 1);
        assert_eq!(p.add(25, 0), 25, "an empty write changes nothing");
    }

    #[test]
    fn pieces_completed_out_of_order_make_one_prefix() {
        let mut p = Prefix::default();
        let piece = 7u64;
        let order = [3u64, 1, 4, 0, 2, 6, 5];
        let mut seen = Vec::new();
        for i in order {
            // Each piece in two writes, as a worker flushes its buffer.
            p.add(i * piece, 3);
            seen.push(p.add(i * piece + 3, piece - 3));
        }
        assert_eq!(
            seen,
            vec![0, 0, 0, 2 * piece, 5 * piece, 5 * piece, 7 * piece]
        );
    }
}
