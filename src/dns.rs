//! DNS TXT lookups for managed-domain proofs, behind [`TxtResolver`] so that tests can answer from a
//! table (they have no DNS) while the server asks the system's resolvers through `hickory-resolver`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

/// Why a lookup gave no answer. A name without TXT records is not an error: it answers an empty list.
#[derive(Debug, Clone, thiserror::Error)]
#[error("DNS lookup failed: {0}")]
pub struct DnsError(pub String);

/// Answers "which TXT strings does this name hold".
pub trait TxtResolver: Send + Sync {
    /// The TXT strings at `name` (each record's character-strings joined, as RFC 7208 §3.3 reads them);
    /// empty when the name has none or does not exist.
    fn txt(&self, name: &str) -> BoxFuture<'_, Result<Vec<String>, DnsError>>;
}

/// The system's resolvers (`/etc/resolv.conf`), through `hickory-resolver`.
/// Built on first use, inside the server's runtime.
#[derive(Default)]
pub struct SystemResolver {
    /// The resolver, or why none could be built (then every lookup answers that error).
    resolver: std::sync::OnceLock<Result<hickory_resolver::TokioResolver, DnsError>>,
}

impl SystemResolver {
    /// A resolver configured like the system's; falls back to Google's public resolvers (hickory's
    /// former default) when the system configuration cannot be read.
    fn build() -> Result<hickory_resolver::TokioResolver, DnsError> {
        let builder = hickory_resolver::Resolver::builder_tokio().unwrap_or_else(|error| {
            tracing::warn!(%error, "the system's DNS configuration is unreadable; using public resolvers");
            hickory_resolver::Resolver::builder_with_config(
                hickory_resolver::config::ResolverConfig::udp_and_tcp(&hickory_resolver::config::GOOGLE),
                hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
            )
        });
        builder.build().map_err(|error| DnsError(format!("no DNS resolver: {error}")))
    }
}

impl TxtResolver for SystemResolver {
    fn txt(&self, name: &str) -> BoxFuture<'_, Result<Vec<String>, DnsError>> {
        let name = name.to_owned();
        Box::pin(async move {
            let resolver = self.resolver.get_or_init(SystemResolver::build).as_ref().map_err(Clone::clone)?;
            match resolver.txt_lookup(name).await {
                Ok(lookup) => Ok(lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        hickory_resolver::proto::rr::RData::TXT(txt) => {
                            Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part).into_owned()).collect())
                        }
                        _ => None,
                    })
                    .collect()),
                Err(error) if error.is_no_records_found() => Ok(Vec::new()),
                Err(error) => Err(DnsError(error.to_string())),
            }
        })
    }
}

/// TXT records from a table the caller fills (tests, and installations without outside DNS).
#[derive(Debug, Clone, Default)]
pub struct StaticTxt {
    records: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl StaticTxt {
    /// Publishes `value` at `name` (next to the values already there).
    pub fn publish(&self, name: &str, value: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.entry(name.trim_end_matches('.').to_lowercase()).or_default().push(value.to_owned());
        }
    }

    /// Removes every record at `name`.
    pub fn clear(&self, name: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.remove(&name.trim_end_matches('.').to_lowercase());
        }
    }
}

impl TxtResolver for StaticTxt {
    fn txt(&self, name: &str) -> BoxFuture<'_, Result<Vec<String>, DnsError>> {
        let key = name.trim_end_matches('.').to_lowercase();
        let found = self
            .records
            .lock()
            .map(|records| records.get(&key).cloned().unwrap_or_default())
            .map_err(|_| DnsError("the record table is poisoned".to_owned()));
        Box::pin(async move { found })
    }
}
