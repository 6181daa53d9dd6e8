//! The API's error policy (SPEC §7).
//!
//! Every failure a resolver can report is an [`ApiError`]. Resolvers return it with `?`; async-graphql keeps
//! the original value as the error's `source`, and [`crate::graphql::errors`] turns it into the reply's
//! `message` and `extensions.code` in one place. Internal errors are logged with the request id and replaced
//! by a message that carries only that id, so no SQL or stack detail reaches a client.

use thiserror::Error;

/// `extensions.code` values, the complete list (SPEC §7).
pub mod code {
    /// No, invalid, expired or revoked credentials.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// Signed in, permission missing.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// Object absent, deleted, or outside the scope named.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// Validation failed; `extensions.field` names the argument.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// Uniqueness, last-admin, pending-invite or live-deployment rules.
    pub const CONFLICT: &str = "CONFLICT";
    /// An operation clients know that capcom deliberately does not serve yet.
    pub const NOT_SUPPORTED: &str = "NOT_SUPPORTED";
    /// The database is unreachable, restarting or saturated, or the request ran out of time; a retry may
    /// succeed.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// Anything unexpected.
    pub const INTERNAL: &str = "INTERNAL";
}

/// Message for a request that names no principal where one is needed.
pub const MSG_NOT_SIGNED_IN: &str = "You are not signed in";
/// Message for a token or key that is invalid, expired or revoked.
pub const MSG_INVALID_TOKEN: &str = "Your token has expired or is invalid. Please log in again.";
/// Message for every permission failure; it never says whether the object exists.
pub const MSG_FORBIDDEN: &str = "Access is Denied";
/// Message for a refusal by an organization's IP access list (docs/ip-access-list.md): given only to a
/// caller whose roles there would otherwise allow the operation, who therefore already knows the object.
pub const MSG_IP_ACCESS_LIST: &str =
    "Access is Denied: this request's address is not in the organization's IP access list (organizationIpAccessList)";
/// Message for an absent object.
pub const MSG_NOT_FOUND: &str = "The requested resource was not found";
/// Message while the database cannot serve requests (SPEC §7).
pub const MSG_UNAVAILABLE: &str = "The service is temporarily unavailable; try again";

/// A failure reported to an API client.
#[derive(Debug, Clone, Error)]
pub enum ApiError {
    /// The field needs a principal and the request carried no credentials.
    #[error("{MSG_NOT_SIGNED_IN}")]
    NotSignedIn,
    /// Credentials were sent but are invalid, expired or revoked; or a sign-in failed.
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, permission missing.
    #[error("{MSG_FORBIDDEN}")]
    Forbidden,
    /// Signed in and allowed in general, but a setting of the object refuses this caller; the message says
    /// which (it never concerns whether the object exists: the caller can already see it).
    #[error("{0}")]
    ForbiddenBy(String),
    /// Absent, deleted, or outside the scope named in the arguments.
    #[error("{MSG_NOT_FOUND}")]
    NotFound,
    /// An argument failed validation.
    #[error("{message}")]
    BadUserInput {
        /// The argument (or `argument.field`) at fault.
        field: String,
        /// What is wrong, readable on its own.
        message: String,
    },
    /// A uniqueness or invariant rule refused the change.
    #[error("{0}")]
    Conflict(String),
    /// A known operation that capcom does not serve yet.
    #[error("{0}")]
    NotSupported(String),
    /// The database is unreachable, restarting or saturated, or the request's deadline passed; a retry
    /// may succeed. The detail is logged, never shown.
    #[error("{MSG_UNAVAILABLE}")]
    Unavailable(String),
    /// Anything unexpected. The detail is logged, never shown.
    #[error("Internal error")]
    Internal(String),
}

impl ApiError {
    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotSignedIn | ApiError::Unauthenticated(_) => code::UNAUTHENTICATED,
            ApiError::Forbidden | ApiError::ForbiddenBy(_) => code::FORBIDDEN,
            ApiError::NotFound => code::NOT_FOUND,
            ApiError::BadUserInput { .. } => code::BAD_USER_INPUT,
            ApiError::Conflict(_) => code::CONFLICT,
            ApiError::NotSupported(_) => code::NOT_SUPPORTED,
            ApiError::Unavailable(_) => code::UNAVAILABLE,
            ApiError::Internal(_) => code::INTERNAL,
        }
    }

    /// A validation failure of `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadUserInput { field: field.into(), message: message.into() }
    }

    /// The same error with a BAD_USER_INPUT's field named inside the argument `argument`, as the client
    /// sent it (`payload.customRoleUuid` for `customRoleUuid` of a `payload`); a field named there already,
    /// and every other error, unchanged.
    pub fn within(self, argument: &str) -> Self {
        match self {
            ApiError::BadUserInput { field, message }
                if field != argument && !field.starts_with(&format!("{argument}.")) =>
            {
                ApiError::BadUserInput { field: format!("{argument}.{field}"), message }
            }
            other => other,
        }
    }

    /// A conflict with a readable reason.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Conflict(message.into())
    }

    /// An unexpected failure; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }

    /// The database (or another resource a request needs) cannot serve it now; `detail` goes to the log.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        ApiError::Unavailable(detail.to_string())
    }

    /// Credentials that are invalid, expired or revoked.
    pub fn invalid_token() -> Self {
        ApiError::Unauthenticated(MSG_INVALID_TOKEN.to_owned())
    }
}

/// Beginnings of PostgreSQL messages that mean "the server is going away, starting, overloaded, or
/// cancelled the statement" (SQLSTATE classes 08, 53, 57). diesel-async reports these with
/// `DatabaseErrorKind::Unknown` and no SQLSTATE, so the (English, `lc_messages = C`) message is all there
/// is to go by; anything not matched stays INTERNAL.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    "terminating connection",
    "the database system is",
    "canceling statement due to",
    "sorry, too many clients",
    "remaining connection slots are reserved",
];

/// Whether `error` says the database could not serve the statement right now (a retry may succeed).
pub fn is_unavailable(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            UNAVAILABLE_MESSAGES.iter().any(|start| message.starts_with(start))
        }
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { rollback_error, .. } => is_unavailable(rollback_error),
        _ => false,
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if is_unavailable(&error) {
            return ApiError::unavailable(format!("database: {error}"));
        }
        match error {
            Error::NotFound => ApiError::NotFound,
            // Domain code maps the unique constraints it expects to precise messages; one that slips through
            // is still a conflict, not an internal error.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::conflict("A resource with these values already exists")
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::conflict("A concurrent change touched the same data; retry the request")
            }
            // PostgreSQL broke a lock cycle by aborting this transaction (SQLSTATE 40P01, which diesel
            // reports as an unknown kind; the server's message is matched). Nothing was written, and the
            // same request sent again succeeds: a conflict, not an internal error. Domain code takes its
            // locks in one order (crate::domain::memberships) so this stays rare.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info) if info.message() == "deadlock detected" => {
                tracing::warn!(details = ?info.details(), "a transaction was chosen as a deadlock victim");
                ApiError::conflict("A concurrent change touched the same data; retry the request")
            }
            // A CHECK constraint is the last line behind validation: the value is the client's, so the
            // answer is BAD_USER_INPUT naming the column the constraint guards (`<table>_<column>_check`).
            Error::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                let field = info
                    .column_name()
                    .map(str::to_owned)
                    .or_else(|| info.constraint_name().and_then(constraint_column))
                    .unwrap_or_else(|| "input".to_owned());
                ApiError::bad_input(field, "A value is outside the range this field accepts")
            }
            other => ApiError::internal(other),
        }
    }
}

/// The column a constraint named `<table>_<column>_check` guards, camel-cased as the API names it.
fn constraint_column(constraint: &str) -> Option<String> {
    let stem = constraint.strip_suffix("_check")?;
    let column = stem.split_once('_').map(|(_, column)| column).unwrap_or(stem);
    let mut name = String::new();
    let mut upper = false;
    for c in column.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            name.extend(c.to_uppercase());
            upper = false;
        } else {
            name.push(c);
        }
    }
    Some(name)
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        use deadpool::managed::PoolError;
        match &error {
            // No connection could be had in time, or opening one failed: the database is down, restarting or
            // saturated.
            PoolError::Timeout(_) | PoolError::Backend(_) | PoolError::PostCreateHook(_) | PoolError::Closed => {
                ApiError::unavailable(format!("database pool: {error}"))
            }
            PoolError::NoRuntimeSpecified => ApiError::internal(format!("database pool: {error}")),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("background task: {error}"))
    }
}

/// Result type of domain services.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_code_and_message() {
        let table: Vec<(ApiError, &str, &str)> = vec![
            (ApiError::NotSignedIn, code::UNAUTHENTICATED, MSG_NOT_SIGNED_IN),
            (ApiError::invalid_token(), code::UNAUTHENTICATED, MSG_INVALID_TOKEN),
            (ApiError::Forbidden, code::FORBIDDEN, "Access is Denied"),
            (
                ApiError::ForbiddenBy("Access is Denied: enforceCicd".into()),
                code::FORBIDDEN,
                "Access is Denied: enforceCicd",
            ),
            (ApiError::NotFound, code::NOT_FOUND, "The requested resource was not found"),
            (ApiError::bad_input("email", "Email is not valid"), code::BAD_USER_INPUT, "Email is not valid"),
            (ApiError::conflict("Taken"), code::CONFLICT, "Taken"),
            (ApiError::NotSupported("No logs".into()), code::NOT_SUPPORTED, "No logs"),
            (ApiError::unavailable("connection refused"), code::UNAVAILABLE, MSG_UNAVAILABLE),
            (ApiError::internal("SELECT secret FROM x"), code::INTERNAL, "Internal error"),
        ];
        for (error, expected_code, expected_message) in table {
            assert_eq!(error.code(), expected_code, "{error:?}");
            assert_eq!(error.to_string(), expected_message, "{error:?}");
        }
    }

    #[test]
    fn a_field_of_an_input_object_is_named_by_its_path() {
        let field_of = |error: ApiError| match error {
            ApiError::BadUserInput { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field_of(ApiError::bad_input("customRoleUuid", "x").within("payload")), "payload.customRoleUuid");
        assert_eq!(field_of(ApiError::bad_input("payload.label", "x").within("payload")), "payload.label");
        assert_eq!(field_of(ApiError::bad_input("payload", "x").within("payload")), "payload");
        assert!(matches!(ApiError::NotFound.within("payload"), ApiError::NotFound));
    }

    #[test]
    fn database_errors_map_to_api_codes() {
        assert_eq!(ApiError::from(diesel::result::Error::NotFound).code(), code::NOT_FOUND);
        assert_eq!(ApiError::from(diesel::result::Error::RollbackTransaction).code(), code::INTERNAL);
        let internal = ApiError::from(diesel::result::Error::QueryBuilderError("SELECT 1".into()));
        assert!(!internal.to_string().contains("SELECT"), "internal detail must not be displayed");
    }
}
