//! A small map bounded by entries and by bytes, for the per-process caches of the request path (verified
//! tokens, admitted documents). Eviction is first in, first out: the entries these caches hold are a
//! few documents and tokens used over and over, so a recency order would buy little and cost a write on
//! every hit.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

/// A map holding at most `max_entries` entries whose sizes (as given on insertion) add up to at most
/// `max_bytes`. Thread-safe; lookups clone the value (hold an `Arc` for anything large).
pub struct BoundedMap<K, V> {
    inner: Mutex<Inner<K, V>>,
    max_entries: usize,
    max_bytes: usize,
}

struct Inner<K, V> {
    map: HashMap<K, (V, usize)>,
    order: VecDeque<K>,
    bytes: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedMap<K, V> {
    /// An empty map holding at most `max_entries` entries and `max_bytes` bytes (0 for either: holds
    /// nothing).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        BoundedMap {
            inner: Mutex::new(Inner { map: HashMap::new(), order: VecDeque::new(), bytes: 0 }),
            max_entries,
            max_bytes,
        }
    }

    /// The value under `key`, if held.
    pub fn get(&self, key: &K) -> Option<V> {
        let inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.map.get(key).map(|(value, _)| value.clone())
    }

    /// Holds `value` under `key`, counted as `bytes`; the oldest entries leave to make room. A value larger
    /// than the whole budget is not held.
    pub fn insert(&self, key: K, value: V, bytes: usize) {
        if self.max_entries == 0 || bytes > self.max_bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, old)) = inner.map.remove(&key) {
            inner.bytes -= old;
            inner.order.retain(|held| held != &key);
        }
        while inner.map.len() >= self.max_entries || inner.bytes + bytes > self.max_bytes {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some((_, size)) = inner.map.remove(&oldest) {
                inner.bytes -= size;
            }
        }
        inner.bytes += bytes;
        inner.order.push_back(key.clone());
        inner.map.insert(key, (value, bytes));
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, size)) = inner.map.remove(key) {
            inner.bytes -= size;
            inner.order.retain(|held| held != key);
        }
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_bytes_are_bounded_oldest_first() {
        let map = BoundedMap::new(3, 100);
        for key in 0..5 {
            map.insert(key, key * 10, 10);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&0), None);
        assert_eq!(map.get(&4), Some(40));
        map.insert(9, 90, 90);
        assert_eq!(map.len(), 2, "90 bytes leave room for one 10-byte entry within 100");
        assert_eq!((map.get(&3), map.get(&4)), (None, Some(40)));
        map.insert(10, 0, 101);
        assert_eq!(map.get(&10), None, "larger than the budget: not held");
        map.remove(&9);
        map.remove(&4);
        assert!(map.is_empty());
        let empty = BoundedMap::new(0, 100);
        empty.insert(1, 1, 1);
        assert!(empty.is_empty());
    }
}
