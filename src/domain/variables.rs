//! Deployment environment variables (SPEC §5.3): the list is replaced as a whole; a secret sent with an
//! empty value keeps its stored value; secret values are sealed at rest and never returned.

use std::collections::{BTreeMap, BTreeSet};

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::deployment::Deployment;
use crate::db::models::variable::{NewVariable, VariableRow};
use crate::domain::Actor;
use crate::domain::audit::{self, Change};
use crate::error::{ApiError, ApiResult};
use crate::secrets::SecretBox;

/// Keys Airflow's deployment machinery owns; users may not set them (SPEC §5.3), nor their `_CMD` and
/// `_SECRET` forms ([`RESERVED_SUFFIXES`]), through which Airflow reads the same option from a command's
/// output or a secrets backend.
///
/// Besides what the platform sets (executor, metadata database, fernet key, Celery broker and result
/// backend, web server address and signing keys, namespace, folders), the keys that choose how Airflow
/// authenticates its API and UI are reserved: with them a deployment editor, whom Airflow knows as a
/// "User", could open the deployment's API to anyone (`airflow.api.auth.backend.default`), make every
/// user an admin, or point the web server at a Python configuration file of its own (which runs in the
/// web server and can grant the public role), or replace the whole configuration file (`AIRFLOW_CONFIG`,
/// past every key reserved here). Airflow 3's names for the same options are listed too. So are the
/// options that show the configuration (and with it the platform's secrets) to Airflow's users, and those
/// that import a Python path or pass arguments into the platform's own connections.
pub const RESERVED_KEYS: &[&str] = &[
    "AIRFLOW_HOME",
    "AIRFLOW_CONFIG",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__WEBSERVER__BASE_URL",
    "AIRFLOW__WEBSERVER__SECRET_KEY",
    "AIRFLOW__API__BASE_URL",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__INTERNAL_API_SECRET_KEY",
    "AIRFLOW__API__AUTH_BACKEND",
    "AIRFLOW__API__AUTH_BACKENDS",
    "AIRFLOW__FAB__AUTH_BACKENDS",
    "AIRFLOW__WEBSERVER__AUTH_BACKEND",
    "AIRFLOW__WEBSERVER__AUTHENTICATE",
    "AIRFLOW__WEBSERVER__RBAC",
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__WEBSERVER__CONFIG_FILE",
    "AIRFLOW__FAB__CONFIG_FILE",
    "AIRFLOW__WEBSERVER__AUTH_ROLE_PUBLIC",
    "AIRFLOW__FAB__AUTH_ROLE_PUBLIC",
    "AIRFLOW__WEBSERVER__ENABLE_PROXY_FIX",
    "AIRFLOW__API__ACCESS_CONTROL_ALLOW_ORIGINS",
    "AIRFLOW__API__ACCESS_CONTROL_ALLOW_ORIGIN",
    "AIRFLOW__KUBERNETES__NAMESPACE",
    "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__PLUGINS_FOLDER",
    // Showing the configuration in the UI or the API shows the platform's secrets with it (fernet key,
    // metadata database, web server key).
    "AIRFLOW__WEBSERVER__EXPOSE_CONFIG",
    "AIRFLOW__API__EXPOSE_CONFIG",
    // Options that import a Python path or pass arguments into the platform's own connections: the
    // metadata database, the Celery broker, logging, the workers' pod template.
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_ENGINE_ARGS",
    "AIRFLOW__CORE__SQL_ALCHEMY_CONNECT_ARGS",
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS",
    "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS",
    "AIRFLOW__KUBERNETES__POD_TEMPLATE_FILE",
    "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE",
];

/// Sections reserved as a whole: `[api_auth]` (Airflow 3) says which tokens the API trusts (its signing
/// secret, a JWKS address, issuer and audience); with any of them a caller could mint its own tokens.
pub const RESERVED_SECTIONS: &[&str] = &["AIRFLOW__API_AUTH__"];

/// Suffixes with which Airflow reads an option from elsewhere: `_CMD` (a shell command's output) and
/// `_SECRET` (a key in the secrets backend). A reserved key is reserved with either.
pub const RESERVED_SUFFIXES: &[&str] = &["_CMD", "_SECRET"];

/// Whether `key` is reserved: one of [`RESERVED_KEYS`], alone or with one of [`RESERVED_SUFFIXES`], or
/// any key of a [`RESERVED_SECTIONS`] section.
pub fn is_reserved(key: &str) -> bool {
    RESERVED_KEYS.contains(&key)
        || RESERVED_SECTIONS.iter().any(|section| key.starts_with(section))
        || RESERVED_SUFFIXES
            .iter()
            .any(|suffix| key.strip_suffix(suffix).is_some_and(|base| RESERVED_KEYS.contains(&base)))
}

/// Most variables per deployment.
pub const MAX_VARIABLES: usize = 1000;
/// Longest value.
pub const MAX_VALUE: usize = 65_536;

/// A variable as sent by a client.
#[derive(Debug, Clone)]
pub struct VariableInput {
    /// Key.
    pub key: String,
    /// Value; empty for a secret keeps the stored value.
    pub value: String,
    /// Whether the value is secret.
    pub is_secret: bool,
}

/// A variable as shown to clients: secret values are always empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableView {
    /// The deployment it belongs to.
    pub deployment_id: Uuid,
    /// Key.
    pub key: String,
    /// Value (empty for secrets).
    pub value: String,
    /// Whether the value is secret.
    pub is_secret: bool,
}

fn context(deployment_id: Uuid, key: &str) -> Vec<u8> {
    format!("{deployment_id}/{key}").into_bytes()
}

/// Checks a key: `^[A-Z_][A-Z0-9_]*$`, not all underscores, not reserved, at most 255 characters.
pub fn check_key(index: usize, key: &str) -> ApiResult<()> {
    let field = format!("environmentVariables.{index}.key");
    let bytes = key.as_bytes();
    let well_formed = !bytes.is_empty()
        && (bytes[0].is_ascii_uppercase() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && !bytes.iter().all(|b| *b == b'_')
        && bytes.len() <= 255;
    if !well_formed {
        return Err(ApiError::bad_input(
            field,
            format!(
                "{key:?} is not a valid key: use A-Z, 0-9 and _, not starting with a digit and not only underscores"
            ),
        ));
    }
    if is_reserved(key) {
        return Err(ApiError::bad_input(field, format!("{key} is set by the platform and cannot be changed")));
    }
    Ok(())
}

fn view(row: &VariableRow) -> VariableView {
    VariableView {
        deployment_id: row.deployment_id,
        key: row.key.clone(),
        value: if row.is_secret { String::new() } else { row.value.clone().unwrap_or_default() },
        is_secret: row.is_secret,
    }
}

/// Audit snapshot: keys and flags, plain values of ordinary variables, never secret values.
fn snapshot(rows: &[VariableView]) -> serde_json::Value {
    json!(rows.iter().map(|v| json!({"key": v.key, "isSecret": v.is_secret, "value": if v.is_secret { None } else { Some(&v.value) }})).collect::<Vec<_>>())
}

/// The variables of a live deployment, secrets blanked.
pub async fn list(conn: &mut AsyncPgConnection, deployment_id: Uuid) -> ApiResult<Vec<VariableView>> {
    Ok(VariableRow::of_deployment(conn, deployment_id).await?.iter().map(view).collect())
}

/// Replaces the variables of a live deployment with `inputs`.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    deployment_id: Uuid,
    inputs: Vec<VariableInput>,
    secrets: &SecretBox,
    actor: &Actor,
) -> ApiResult<Vec<VariableView>> {
    check_inputs(&inputs)?;
    conn.transaction(async |tx| {
        let (deployment, before, after) = replace_in(tx, deployment_id, inputs, secrets).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "deployment.variables.update",
                target_type: "deployment",
                target_id: Some(deployment_id),
                workspace_id: Some(deployment.workspace_id),
                deployment_id: Some(deployment_id),
                before: Some(snapshot(&before)),
                after: Some(snapshot(&after)),
                ..Change::default()
            },
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Checks a list of inputs: count, keys (well-formed, not reserved, not repeated) and value lengths.
/// Errors name `environmentVariables.<index>.<key|value>`.
pub fn check_inputs(inputs: &[VariableInput]) -> ApiResult<()> {
    if inputs.len() > MAX_VARIABLES {
        return Err(ApiError::bad_input(
            "environmentVariables",
            format!("At most {MAX_VARIABLES} variables per deployment"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, input) in inputs.iter().enumerate() {
        check_key(index, &input.key)?;
        if !seen.insert(input.key.as_str()) {
            return Err(ApiError::bad_input(
                format!("environmentVariables.{index}.key"),
                format!("{} is listed twice", input.key),
            ));
        }
        if input.value.chars().count() > MAX_VALUE {
            return Err(ApiError::bad_input(
                format!("environmentVariables.{index}.value"),
                format!("Values are at most {MAX_VALUE} characters"),
            ));
        }
    }
    Ok(())
}

/// [`replace`] in the caller's transaction, without its audit event (the inputs are checked with
/// [`check_inputs`] first); returns the deployment (locked) and the variables before and after.
pub async fn replace_in(
    tx: &mut AsyncPgConnection,
    deployment_id: Uuid,
    inputs: Vec<VariableInput>,
    secrets: &SecretBox,
) -> ApiResult<(Deployment, Vec<VariableView>, Vec<VariableView>)> {
    check_inputs(&inputs)?;
    {
        let deployment = Deployment::live_for_update(tx, deployment_id).await?.ok_or(ApiError::NotFound)?;
        let existing: BTreeMap<String, VariableRow> = VariableRow::of_deployment(tx, deployment_id)
            .await?
            .into_iter()
            .map(|row| (row.key.clone(), row))
            .collect();
        let mut rows = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.iter().enumerate() {
            let row = if input.is_secret {
                let ciphertext = if input.value.is_empty() {
                    match existing.get(&input.key).and_then(|row| row.secret_ciphertext.clone()) {
                        Some(kept) => kept,
                        None => {
                            return Err(ApiError::bad_input(
                                format!("environmentVariables.{index}.value"),
                                format!("The secret {} has no stored value to keep; send its value", input.key),
                            ));
                        }
                    }
                } else {
                    secrets.seal(&input.value, &context(deployment_id, &input.key)).map_err(ApiError::internal)?
                };
                NewVariable {
                    deployment_id,
                    key: input.key.clone(),
                    is_secret: true,
                    value: None,
                    secret_ciphertext: Some(ciphertext),
                }
            } else {
                NewVariable {
                    deployment_id,
                    key: input.key.clone(),
                    is_secret: false,
                    value: Some(input.value.clone()),
                    secret_ciphertext: None,
                }
            };
            rows.push(row);
        }
        let before: Vec<VariableView> = existing.values().map(view).collect();
        VariableRow::replace_all(tx, deployment_id, &rows).await?;
        let after: Vec<VariableView> = VariableRow::of_deployment(tx, deployment_id).await?.iter().map(view).collect();
        Ok((deployment, before, after))
    }
}

/// The clear values of a deployment's variables, for the infrastructure layer (never for API clients).
pub async fn reveal(
    conn: &mut AsyncPgConnection,
    deployment_id: Uuid,
    secrets: &SecretBox,
) -> ApiResult<Vec<(String, String)>> {
    let rows = VariableRow::of_deployment(conn, deployment_id).await?;
    rows.iter()
        .map(|row| {
            let value = match (&row.secret_ciphertext, &row.value) {
                (Some(sealed), _) => {
                    secrets.open(sealed, &context(deployment_id, &row.key)).map_err(ApiError::internal)?
                }
                (None, value) => value.clone().unwrap_or_default(),
            };
            Ok((row.key.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_rules() {
        for good in ["A", "_A", "MY_VAR_2", "AIRFLOW__CORE__PARALLELISM"] {
            assert!(check_key(0, good).is_ok(), "{good}");
        }
        for bad in ["", "a", "1A", "MY-VAR", "___", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__CORE__SQL_ALCHEMY_CONN"] {
            assert!(check_key(0, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reserved_options_are_reserved_in_every_form_airflow_reads() {
        // Written out by hand from Airflow's configuration reference: the option itself, its `_cmd` and
        // `_secret` forms, and the authentication choices.
        for reserved in [
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET",
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN_CMD",
            "AIRFLOW__CORE__FERNET_KEY_CMD",
            "AIRFLOW__CORE__FERNET_KEY_SECRET",
            "AIRFLOW__CELERY__BROKER_URL_CMD",
            "AIRFLOW__CELERY__BROKER_URL_SECRET",
            "AIRFLOW__CELERY__RESULT_BACKEND_CMD",
            "AIRFLOW__WEBSERVER__SECRET_KEY_CMD",
            "AIRFLOW__API__AUTH_BACKENDS",
            "AIRFLOW__API__AUTH_BACKEND",
            "AIRFLOW__WEBSERVER__AUTH_BACKEND",
            "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API_AUTH__TRUSTED_JWKS_URL",
            "AIRFLOW__WEBSERVER__CONFIG_FILE",
            "AIRFLOW__FAB__CONFIG_FILE",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
            "AIRFLOW_CONFIG",
            "AIRFLOW__WEBSERVER__AUTH_ROLE_PUBLIC",
        ] {
            assert!(check_key(0, reserved).is_err(), "{reserved}");
        }
        for free in
            ["AIRFLOW__CORE__PARALLELISM_CMD", "MY_CMD", "_CMD", "AIRFLOW__SECRETS__BACKEND", "AIRFLOW_CONN_MY_DB"]
        {
            assert!(check_key(0, free).is_ok(), "{free}");
        }
    }
}
