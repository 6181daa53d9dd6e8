//! Houston passes changes as a JSON `payload` argument. This reads one, accepting only the keys the
//! operation allows; anything else is BAD_USER_INPUT naming `payload.<key>`, and nothing changes.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A checked `payload` object.
pub struct Payload<'a> {
    object: &'a Map<String, Value>,
}

impl<'a> Payload<'a> {
    /// Checks that `payload` is an object whose keys are all in `allowed`.
    pub fn parse(payload: &'a Value, allowed: &[&str], operation: &str) -> Result<Self, ApiError> {
        let object =
            payload.as_object().ok_or_else(|| ApiError::bad_input("payload", "payload must be a JSON object"))?;
        if let Some(key) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(ApiError::bad_input(
                format!("payload.{key}"),
                format!("{key} cannot be changed with {operation} (allowed: {})", allowed.join(", ")),
            ));
        }
        Ok(Payload { object })
    }

    /// A string field.
    pub fn text(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.object.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(ApiError::bad_input(format!("payload.{key}"), format!("{key} must be a string"))),
        }
    }

    /// A boolean field.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.object.get(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(_) => Err(ApiError::bad_input(format!("payload.{key}"), format!("{key} must be true or false"))),
        }
    }

    /// A field of any JSON type.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.object.get(key)
    }
}
