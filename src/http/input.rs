//! Text that reaches capcom outside GraphQL (SCIM bodies and filters, OpenID Connect parameters and
//! claims, audit-export parameters) checked for what PostgreSQL cannot store: a NUL character
//! (`\u0000`). GraphQL inputs get the same check in `crate::graphql::limits`; these are the other doors,
//! and each answers its own protocol's "bad request" naming the input, never INTERNAL (SPEC §7).

use std::collections::HashMap;

use serde_json::Value;

/// The name of the first query parameter whose name or value holds a NUL character, if any.
pub fn nul_parameter(parameters: &HashMap<String, String>) -> Option<&str> {
    parameters.iter().find(|(name, value)| name.contains('\0') || value.contains('\0')).map(|(name, _)| name.as_str())
}

/// The JSON path (`emails[0].value`, `externalId`) of the first string or key holding a NUL character in
/// `value`, if any. Nesting is bounded by the JSON parser's own depth limit.
pub fn nul_in_json(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(text) if text.contains('\0') => Some(path.to_owned()),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                let inner = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if key.contains('\0') { Some(inner) } else { walk(item, &inner) }
            }),
            _ => None,
        }
    }
    walk(value, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_path_of_a_nul_anywhere() {
        assert_eq!(nul_in_json(&json!({"a": "ok", "b": [1, {"c": "x\u{0}"}]})).as_deref(), Some("b[1].c"));
        assert_eq!(nul_in_json(&json!({"k\u{0}": 1})).as_deref(), Some("k\u{0}"));
        assert_eq!(nul_in_json(&json!({"a": ["ok"], "b": null})), None);
        let parameters = HashMap::from([("filter".to_owned(), "userName eq \"a\u{0}\"".to_owned())]);
        assert_eq!(nul_parameter(&parameters), Some("filter"));
        assert_eq!(nul_parameter(&HashMap::from([("a".to_owned(), "b".to_owned())])), None);
    }
}
