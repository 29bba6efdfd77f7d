//! Deliveries waiting for their time: what a driver of the sans-IO
//! machines (the in-memory [`Pair`](crate::pair::Pair), the certify
//! driver) holds between a link's decision and the moment it is due.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::clock::Timestamp;

/// Items due at given times, handed out first due first; items due at the
/// same time in the order they were scheduled.
#[derive(Debug)]
pub struct Schedule<D> {
    heap: BinaryHeap<Reverse<Slot<D>>>,
    seq: u64,
}

#[derive(Debug)]
struct Slot<D> {
    at: Timestamp,
    seq: u64,
    item: D,
}

impl<D> PartialEq for Slot<D> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<D> Eq for Slot<D> {}

impl<D> PartialOrd for Slot<D> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<D> Ord for Slot<D> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<D> Default for Schedule<D> {
    fn default() -> Self {
        Schedule {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<D> Schedule<D> {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `item` for `at`.
    pub fn push(&mut self, at: Timestamp, item: D) {
        self.seq += 1;
        self.heap.push(Reverse(Slot {
            at,
            seq: self.seq,
            item,
        }));
    }

    /// When the first item is due.
    pub fn next_at(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse(s)| s.at)
    }

    /// The first item due at or before `now`.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<D> {
        if self.next_at()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(s)| s.item)
    }

    /// Keeps only the items `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&D) -> bool) {
        self.heap.retain(|Reverse(s)| keep(&s.item));
    }

    /// Drops every item.
    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_out_by_time_then_in_the_order_scheduled() {
        let t = Timestamp::from_millis;
        let mut s = Schedule::new();
        s.push(t(20), "late");
        s.push(t(10), "first");
        s.push(t(10), "second");
        assert_eq!(s.next_at(), Some(t(10)));
        assert_eq!(s.pop_due(t(5)), None);
        assert_eq!(s.pop_due(t(15)), Some("first"));
        assert_eq!(s.pop_due(t(15)), Some("second"));
        assert_eq!(s.pop_due(t(15)), None);
        s.retain(|d| *d != "late");
        assert_eq!(s.next_at(), None);
    }
}
