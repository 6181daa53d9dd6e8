//! A map bounded by entries and by bytes, for the per-process caches of the request path (verified
//! tokens, admitted documents). A thin shape over `moka`'s concurrent cache (already in the dependency
//! tree through the DNS resolver): capcom decides what may be remembered and for how long, the cache
//! decides what to forget.

use std::hash::Hash;

/// A map holding at most `max_entries` entries whose sizes (as given on insertion) add up to at most
/// `max_bytes`: each entry weighs its size, but never less than `max_bytes / max_entries`, so the one
/// weight bound keeps both. Thread-safe; lookups clone the value (hold an `Arc` for anything large).
/// Which entries leave first is the cache's policy (frequency and recency, `moka`'s TinyLFU), and an
/// insertion may be declined when the entry would displace ones used more often.
pub struct BoundedMap<K, V> {
    cache: Option<moka::sync::Cache<K, Weighted<V>>>,
    max_bytes: usize,
}

impl<K, V> BoundedMap<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An empty map holding at most `max_entries` entries and `max_bytes` bytes (0 for either: holds
    /// nothing).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        if max_entries == 0 || max_bytes == 0 {
            return BoundedMap { cache: None, max_bytes };
        }
        let floor = max_bytes.div_ceil(max_entries);
        let cache = moka::sync::Cache::builder()
            .max_capacity(u64::try_from(max_bytes).unwrap_or(u64::MAX))
            .weigher(move |_key: &K, weighted: &Weighted<V>| {
                u32::try_from(weighted.bytes.max(floor)).unwrap_or(u32::MAX)
            })
            .build();
        BoundedMap { cache: Some(cache), max_bytes }
    }

    /// The value under `key`, if held.
    pub fn get(&self, key: &K) -> Option<V> {
        self.cache.as_ref()?.get(key).map(|weighted| weighted.value)
    }

    /// Holds `value` under `key`, counted as `bytes`. A value larger than the whole budget is not held.
    pub fn insert(&self, key: K, value: V, bytes: usize) {
        let Some(cache) = &self.cache else { return };
        if bytes > self.max_bytes {
            return;
        }
        cache.insert(key, Weighted { value, bytes });
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        if let Some(cache) = &self.cache {
            cache.invalidate(key);
        }
    }

    /// How many entries are held (after the cache's pending evictions are applied).
    pub fn len(&self) -> usize {
        let Some(cache) = &self.cache else { return 0 };
        cache.run_pending_tasks();
        usize::try_from(cache.entry_count()).unwrap_or(usize::MAX)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A value with the size it was counted as.
#[derive(Clone)]
struct Weighted<V> {
    value: V,
    bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_bytes_are_bounded() {
        let map = BoundedMap::new(3, 100);
        for key in 0..50 {
            map.insert(key, key * 10, 10);
        }
        assert!(map.len() <= 3, "at most 3 entries, held {}", map.len());
        let heavy = BoundedMap::new(100, 100);
        for key in 0..50 {
            heavy.insert(key, key, 30);
        }
        assert!(heavy.len() <= 3, "at most 100 bytes of 30-byte entries, held {}", heavy.len());
        heavy.insert(1000, 0, 101);
        assert_eq!(heavy.get(&1000), None, "larger than the budget: not held");
    }

    #[test]
    fn a_held_value_is_found_and_a_removed_one_is_not() {
        let map = BoundedMap::new(10, 1000);
        map.insert(1, "one", 10);
        assert_eq!(map.get(&1), Some("one"));
        map.remove(&1);
        assert_eq!(map.get(&1), None);
        assert!(map.is_empty());
        let nothing = BoundedMap::new(0, 100);
        nothing.insert(1, 1, 1);
        assert!(nothing.is_empty());
    }
}
