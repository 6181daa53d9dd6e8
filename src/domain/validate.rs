//! Input validation shared by the domain services. Every failure is BAD_USER_INPUT naming the argument.

use crate::error::{ApiError, ApiResult};

/// Longest label (SPEC §7).
pub const MAX_LABEL: usize = 255;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 4096;
/// Longest email address.
pub const MAX_EMAIL: usize = 320;

/// Normalizes and checks an email address: trimmed, lower-cased, one `@` with text on both sides and a dot
/// in the domain, no spaces or control characters, at most 320 characters.
pub fn email(field: &str, raw: &str) -> ApiResult<String> {
    let address = raw.trim().to_lowercase();
    let invalid = || ApiError::bad_input(field, format!("{raw:?} is not a valid email address"));
    if address.chars().count() > MAX_EMAIL {
        return Err(ApiError::bad_input(field, "Email addresses are at most 320 characters long"));
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = address.split_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(invalid());
    }
    Ok(address)
}

/// A trimmed, non-empty single-line text of at most `max` characters.
pub fn label(field: &str, raw: &str, max: usize) -> ApiResult<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ApiError::bad_input(field, format!("{field} must not be empty")));
    }
    if text.chars().count() > max {
        return Err(ApiError::bad_input(field, format!("{field} is at most {max} characters long")));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::bad_input(field, format!("{field} must not contain control characters")));
    }
    Ok(text.to_owned())
}

/// A username: 1..=255 characters, no whitespace or control characters.
pub fn username(field: &str, raw: &str) -> ApiResult<String> {
    let name = label(field, raw, MAX_LABEL)?;
    if name.chars().any(char::is_whitespace) {
        return Err(ApiError::bad_input(field, "Usernames must not contain spaces"));
    }
    Ok(name)
}

/// A password within the length bounds.
pub fn password(field: &str, raw: &str) -> ApiResult<()> {
    let length = raw.chars().count();
    if length < crate::auth::password::MIN_LENGTH {
        return Err(ApiError::bad_input(
            field,
            format!("Passwords must be at least {} characters long", crate::auth::password::MIN_LENGTH),
        ));
    }
    if length > crate::auth::password::MAX_LENGTH {
        return Err(ApiError::bad_input(
            field,
            format!("Passwords are at most {} characters long", crate::auth::password::MAX_LENGTH),
        ));
    }
    Ok(())
}

/// A JSON object of at most 16 KiB.
pub fn json_object(field: &str, value: &serde_json::Value) -> ApiResult<()> {
    if !value.is_object() {
        return Err(ApiError::bad_input(field, format!("{field} must be a JSON object")));
    }
    if value.to_string().len() > 16 * 1024 {
        return Err(ApiError::bad_input(field, format!("{field} is larger than 16 KiB")));
    }
    Ok(())
}

/// A description: at most 4096 characters (may be empty).
pub fn description(field: &str, raw: &str) -> ApiResult<String> {
    let text = raw.trim();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_input(field, format!("{field} is at most {MAX_DESCRIPTION} characters long")));
    }
    Ok(text.to_owned())
}

/// The JSON path (`emails[0].value`, `externalId`) of the first string or key holding a NUL character in
/// `value`, if any. Nesting is bounded by the JSON parser's own depth limit.
pub fn nul_in_json(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        match value {
            serde_json::Value::String(text) if text.contains('\0') => Some(path.to_owned()),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, item)| walk(item, &format!("{path}[{i}]")))
            }
            serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                // A key holding a NUL is named with the NUL written out, never echoed as it is.
                let held = key.contains('\0');
                let key = key.replace('\0', "\\u0000");
                let inner = if path.is_empty() { key } else { format!("{path}.{key}") };
                if held { Some(inner) } else { walk(item, &inner) }
            }),
            _ => None,
        }
    }
    walk(value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(email("email", "  Ada@Example.COM ").ok().as_deref(), Some("ada@example.com"));
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "a@b@c.com", "ada@.com"] {
            let error = email("email", bad).err().map(|e| e.code());
            assert_eq!(error, Some(crate::error::code::BAD_USER_INPUT), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(320));
        assert!(email("email", &long).is_err());
    }

    #[test]
    fn labels_and_passwords_have_bounds() {
        assert!(label("label", "  ", 10).is_err());
        assert!(label("label", &"x".repeat(11), 10).is_err());
        assert_eq!(label("label", " ok ", 10).ok().as_deref(), Some("ok"));
        assert!(username("username", "two words").is_err());
        assert!(password("password", "short").is_err());
        assert!(password("password", "long enough").is_ok());
    }
}
