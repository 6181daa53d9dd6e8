//! Decoded role bindings remembered per principal (docs/limits.md, "Principals").
//!
//! The authentication statement reads the principal's row on every request (revocation, status, key
//! expiry: SPEC §3) together with the numbers its bindings are at ([`AuthzVersion`]), and packs the
//! bindings only when this process does not hold them at exactly those numbers. Database triggers move
//! the numbers in the same transaction as any change of what the bindings are made of, so an entry is
//! used only while it is what the database would answer now, on this replica or any other.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::bounded::BoundedMap;
use crate::db::models::principal::AuthzVersion;
use crate::rbac::Binding;

/// Bytes the remembered bindings may take in all, whatever `CAPCOM_PRINCIPAL_CACHE_ENTRIES` says.
pub const HELD_BINDINGS_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Whose bindings an entry holds. A user and a service account never share an entry; a service account is
/// found by its key's public prefix, which is all a request names before the statement runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A user, by id.
    User(Uuid),
    /// A service account, by its key's public prefix.
    ServiceAccountKey(String),
}

/// Bindings as the database answered them for one principal at one version.
#[derive(Debug, Clone)]
pub struct HeldBindings {
    /// The principal row they were read with (checked again on use).
    pub principal_id: Uuid,
    /// The numbers they were read at.
    pub version: AuthzVersion,
    /// The decoded bindings, shared with every request that uses them.
    pub bindings: Arc<[Binding]>,
}

/// The per-process map of [`HeldBindings`], bounded by entries (`CAPCOM_PRINCIPAL_CACHE_ENTRIES`; 0 holds
/// nothing) and by [`HELD_BINDINGS_MAX_BYTES`].
pub struct BindingsCache {
    held: BoundedMap<Holder, HeldBindings>,
    packed: AtomicU64,
    reused: AtomicU64,
}

impl BindingsCache {
    /// An empty cache of at most `max_entries` principals.
    pub fn new(max_entries: usize) -> Self {
        BindingsCache {
            held: BoundedMap::new(max_entries, HELD_BINDINGS_MAX_BYTES),
            packed: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }
    }

    /// A cache that holds nothing (every request packs and decodes the bindings).
    pub fn disabled() -> Self {
        BindingsCache::new(0)
    }

    /// What is held for `holder`, if anything.
    pub fn get(&self, holder: &Holder) -> Option<HeldBindings> {
        self.held.get(holder)
    }

    /// The numbers to send with the statement: those of what is held, or none.
    pub fn version_of(held: Option<&HeldBindings>) -> AuthzVersion {
        held.map_or(AuthzVersion::NONE, |held| held.version)
    }

    /// Remembers `bindings` of `principal_id` read at `version`.
    pub fn insert(&self, holder: Holder, principal_id: Uuid, version: AuthzVersion, bindings: Arc<[Binding]>) {
        let bytes = std::mem::size_of::<HeldBindings>()
            + bindings.len() * std::mem::size_of::<Binding>()
            + bindings
                .iter()
                .map(|binding| binding.allowed_from.len() * std::mem::size_of::<ipnet::IpNet>())
                .sum::<usize>();
        self.held.insert(holder, HeldBindings { principal_id, version, bindings }, bytes);
    }

    /// How many principals are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many times the statement packed a principal's bindings and this process decoded them.
    pub fn packed_count(&self) -> u64 {
        self.packed.load(Ordering::Relaxed)
    }

    /// How many times held bindings were used because the statement said they are current.
    pub fn reused_count(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }
}

/// The bindings a request uses: what the statement packed (then remembered), or what is held when the
/// statement said the held numbers are the current ones. `None` when the statement packed nothing and
/// nothing matching is held (it cannot happen: the statement packs unless the numbers sent are current);
/// the caller then refuses rather than guess.
pub fn settle(
    cache: &BindingsCache,
    holder: Holder,
    principal_id: Uuid,
    version: AuthzVersion,
    packed: Option<serde_json::Value>,
    held: Option<HeldBindings>,
) -> Option<Arc<[Binding]>> {
    match packed {
        Some(packed) => {
            cache.packed.fetch_add(1, Ordering::Relaxed);
            let bindings: Arc<[Binding]> = Binding::from_packed(&packed).into();
            cache.insert(holder, principal_id, version, bindings.clone());
            Some(bindings)
        }
        None => {
            let held = held.filter(|held| held.version == version && held.principal_id == principal_id)?;
            cache.reused.fetch_add(1, Ordering::Relaxed);
            Some(held.bindings)
        }
    }
}
