//! The error policy applied to every response (SPEC §7), in one place.
//!
//! Resolvers return [`ApiError`]; async-graphql keeps it as the error's source. [`apply`] turns each
//! error into its final shape: `extensions.code` (and `extensions.field` for bad input), internal errors
//! logged with the request id and replaced by a message that reveals nothing else. Errors raised by
//! async-graphql itself (syntax, validation, argument coercion, limits) are the client's: BAD_USER_INPUT.

use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, ServerError, Value};

use crate::error::{ApiError, code};

fn set(error: &mut ServerError, key: &str, value: &str) {
    error.extensions.get_or_insert_with(ErrorExtensionValues::default).set(key, Value::String(value.to_owned()));
}

fn has_code(error: &ServerError) -> bool {
    error.extensions.as_ref().is_some_and(|extensions| extensions.get("code").is_some())
}

/// Gives `error` its final message and extensions.
pub fn apply(error: &mut ServerError, request_id: &str) {
    let api_error = error
        .source::<ApiError>()
        .map(|e| (e.code(), field_of(e), internal_detail(e), unavailable_detail(e)))
        .or_else(|| {
            error.source::<Arc<ApiError>>().map(|e| (e.code(), field_of(e), internal_detail(e), unavailable_detail(e)))
        });
    match api_error {
        Some((code_value, field, detail, unavailable)) => {
            if let Some(detail) = detail {
                tracing::error!(request_id, error = %detail, "internal error");
                error.message = format!("Internal error (request {request_id})");
            }
            if let Some(detail) = unavailable {
                tracing::warn!(request_id, reason = %detail, "request refused: service unavailable");
            }
            set(error, "code", code_value);
            if let Some(field) = field {
                set(error, "field", &field);
            }
        }
        None if has_code(error) => {}
        None => {
            // graphql-js words an unknown field "Cannot query field …"; clients (the astro CLI) look for it.
            if let Some(rest) = error.message.strip_prefix("Unknown field ") {
                error.message = format!("Cannot query field {rest}");
            }
            set(error, "code", code::BAD_USER_INPUT);
            if let Some(field) = argument_in_message(&error.message) {
                set(error, "field", &field);
            }
        }
    }
}

fn field_of(error: &ApiError) -> Option<String> {
    match error {
        ApiError::BadUserInput { field, .. } => Some(field.clone()),
        _ => None,
    }
}

fn unavailable_detail(error: &ApiError) -> Option<String> {
    match error {
        ApiError::Unavailable(detail) => Some(detail.clone()),
        _ => None,
    }
}

fn internal_detail(error: &ApiError) -> Option<String> {
    match error {
        ApiError::Internal(detail) => Some(detail.clone()),
        _ => None,
    }
}

/// The argument or variable named in one of async-graphql's coercion messages
/// (`Invalid value for argument "email", …`, `Variable "$id" …`).
fn argument_in_message(message: &str) -> Option<String> {
    for marker in ["argument \"", "Variable \"$", "variable \"$"] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            if let Some(end) = rest.find('"') {
                return Some(rest[..end].trim_start_matches('$').to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(error: &ServerError) -> Option<String> {
        match error.extensions.as_ref()?.get("code")? {
            Value::String(code) => Some(code.clone()),
            _ => None,
        }
    }

    #[test]
    fn api_errors_get_their_code_and_internal_ones_are_masked() {
        let mut error = async_graphql::Error::from(ApiError::internal("duplicate key in SELECT * FROM users"))
            .into_server_error(async_graphql::Pos::default());
        apply(&mut error, "req-1");
        assert_eq!(error.message, "Internal error (request req-1)");
        assert_eq!(code_of(&error).as_deref(), Some(code::INTERNAL));

        let mut error = async_graphql::Error::from(ApiError::bad_input("email", "bad"))
            .into_server_error(async_graphql::Pos::default());
        apply(&mut error, "req-2");
        assert_eq!(code_of(&error).as_deref(), Some(code::BAD_USER_INPUT));
    }

    #[test]
    fn library_errors_are_bad_user_input_with_the_argument() {
        let mut error = ServerError::new(r#"Invalid value for argument "workspaceUuid", expected type "Uuid""#, None);
        apply(&mut error, "r");
        assert_eq!(code_of(&error).as_deref(), Some(code::BAD_USER_INPUT));
        let field = error.extensions.as_ref().and_then(|e| e.get("field").cloned());
        assert_eq!(field, Some(Value::String("workspaceUuid".into())));
    }
}
