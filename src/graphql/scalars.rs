//! The `Uuid` and `Id` scalars of Houston's schema: RFC 4122 text. The CLI sends `""` for an unused
//! optional id, so `""` reads as absent; anything else that is not a UUID is BAD_USER_INPUT.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::error::{ApiError, ApiResult};

macro_rules! uuid_scalar {
    ($name:ident, $graphql_name:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub Option<uuid::Uuid>);

        #[Scalar(name = $graphql_name)]
        impl ScalarType for $name {
            fn parse(value: Value) -> InputValueResult<Self> {
                match value {
                    Value::String(text) if text.trim().is_empty() => Ok($name(None)),
                    Value::String(text) => uuid::Uuid::parse_str(text.trim())
                        .map(|id| $name(Some(id)))
                        .map_err(|_| InputValueError::custom(format!("{text:?} is not a valid UUID"))),
                    Value::Null => Ok($name(None)),
                    other => Err(InputValueError::expected_type(other)),
                }
            }

            fn to_value(&self) -> Value {
                // Written into a buffer and copied once: `to_string` grows its string four times over, for
                // every id of a reply.
                let text = |id: uuid::Uuid| id.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned();
                self.0.map(|id| Value::String(text(id))).unwrap_or(Value::Null)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                $name(Some(id))
            }
        }

        impl $name {
            /// The id, or BAD_USER_INPUT naming `field` when it was sent empty.
            pub fn required(self, field: &str) -> ApiResult<uuid::Uuid> {
                self.0.ok_or_else(|| ApiError::bad_input(field, format!("{field} must be a UUID")))
            }

            /// The id, if one was sent.
            pub fn get(self) -> Option<uuid::Uuid> {
                self.0
            }
        }
    };
}

uuid_scalar!(Uuid, "Uuid", "A UUID in RFC 4122 text form. An empty string is read as absent.");
uuid_scalar!(Id, "Id", "An object id (a UUID in RFC 4122 text form). An empty string is read as absent.");
