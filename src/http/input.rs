//! Text that reaches capcom outside GraphQL (SCIM bodies and filters, OpenID Connect parameters and
//! claims, audit-export parameters) checked for what PostgreSQL cannot store: a NUL character
//! (`\u0000`). GraphQL inputs get the same check in `crate::graphql::limits`; these are the other doors,
//! and each answers its own protocol's "bad request" naming the input, never INTERNAL (SPEC §7).
//!
//! Also here: [`json_bounded`], how every JSON body and WebSocket message is read, so that what a request
//! holds in memory is bounded by `CAPCOM_MAX_INPUT_VALUES` and not only by its size in bytes.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Why [`json_bounded`] refused a text.
#[derive(Debug, thiserror::Error)]
pub enum BoundedJsonError {
    /// The text is not JSON (serde_json's message, with the line and column).
    #[error("{0}")]
    Invalid(serde_json::Error),
    /// The text holds more than this many values.
    #[error("holds more than {0} JSON values (CAPCOM_MAX_INPUT_VALUES): send fewer or smaller variables")]
    TooManyValues(usize),
}

/// Reads `text` as JSON holding at most `max_values` values (every null, boolean, number, string, array
/// and object counts one; object keys do not).
///
/// The values are counted in a first pass that keeps nothing (serde's `IgnoredAny` for leaves), and the
/// tree is built only when the count is within the bound: a 1 MiB text of nested empty lists would
/// otherwise become ~350 000 values, about 135 MB once read and converted to GraphQL values (SPEC §7: no
/// request may cost unbounded memory). Nesting is bounded by serde_json's own depth limit (128).
///
/// Errors: [`BoundedJsonError::Invalid`] for a text that is not JSON, [`BoundedJsonError::TooManyValues`]
/// past the bound.
pub fn json_bounded(text: &[u8], max_values: usize) -> Result<Value, BoundedJsonError> {
    let count = Count { remaining: Cell::new(max_values), exhausted: Cell::new(false) };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    match (Counted { count: &count }).deserialize(&mut deserializer).and_then(|()| deserializer.end()) {
        Ok(()) => serde_json::from_slice(text).map_err(BoundedJsonError::Invalid),
        Err(_) if count.exhausted.get() => Err(BoundedJsonError::TooManyValues(max_values)),
        Err(error) => Err(BoundedJsonError::Invalid(error)),
    }
}

/// The values a counting pass may still read, and whether it ran out (to tell running out from a
/// syntax error).
struct Count {
    remaining: Cell<usize>,
    exhausted: Cell<bool>,
}

/// One value of the counting pass: counts itself, then its items.
#[derive(Clone, Copy)]
struct Counted<'a> {
    count: &'a Count,
}

impl Counted<'_> {
    fn take<E: serde::de::Error>(&self) -> Result<(), E> {
        match self.count.remaining.get().checked_sub(1) {
            Some(left) => {
                self.count.remaining.set(left);
                Ok(())
            }
            None => {
                self.count.exhausted.set(true);
                Err(E::custom("too many JSON values"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counted<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counted<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.take()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.take()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.take()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.take()
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.take()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.take()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        self.take()?;
        while items.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        self.take()?;
        while entries.next_key::<IgnoredAny>()?.is_some() {
            entries.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// The name of the first query parameter whose name or value holds a NUL character, if any.
pub fn nul_parameter(parameters: &HashMap<String, String>) -> Option<&str> {
    parameters.iter().find(|(name, value)| name.contains('\0') || value.contains('\0')).map(|(name, _)| name.as_str())
}

pub use crate::domain::validate::nul_in_json;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_path_of_a_nul_anywhere() {
        assert_eq!(nul_in_json(&json!({"a": "ok", "b": [1, {"c": "x\u{0}"}]})).as_deref(), Some("b[1].c"));
        assert_eq!(nul_in_json(&json!({"k\u{0}": 1})).as_deref(), Some("k\\u0000"));
        assert_eq!(nul_in_json(&json!({"a": ["ok"], "b": null})), None);
        let parameters = HashMap::from([("filter".to_owned(), "userName eq \"a\u{0}\"".to_owned())]);
        assert_eq!(nul_parameter(&parameters), Some("filter"));
        assert_eq!(nul_parameter(&HashMap::from([("a".to_owned(), "b".to_owned())])), None);
    }

    #[test]
    fn json_is_read_only_within_its_count_of_values() {
        // object, "a", list, 1, 2, null, inner object, true: 8 values (keys do not count).
        let text = br#"{"a": "x", "b": [1, 2, null], "c": {"d": true}}"#;
        assert!(json_bounded(text, 8).is_ok());
        assert!(matches!(json_bounded(text, 7), Err(BoundedJsonError::TooManyValues(7))));
        let nested = format!("[{}]", vec!["[]"; 5000].join(","));
        assert!(matches!(json_bounded(nested.as_bytes(), 1000), Err(BoundedJsonError::TooManyValues(1000))));
        assert!(json_bounded(nested.as_bytes(), 5001).is_ok());
        // A syntax error is reported as one, with its position, whatever the bound.
        let error = json_bounded(b"[1, 2", 100).err().map(|error| error.to_string()).unwrap_or_default();
        assert!(error.contains("line 1"), "{error}");
        assert!(matches!(json_bounded(b"[1, 2] x", 100), Err(BoundedJsonError::Invalid(_))));
        // Running out then meeting a syntax error is still "too many"; a later syntax error alone is not.
        assert!(matches!(json_bounded(b"[1, 2, 3, oops", 2), Err(BoundedJsonError::TooManyValues(2))));
        assert!(matches!(json_bounded(b"[1, oops", 5), Err(BoundedJsonError::Invalid(_))));
    }
}
