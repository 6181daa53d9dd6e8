//! `environment_variables`: key/value pairs of a deployment; secret values only as ciphertext.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::environment_variables;

/// A stored variable.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = environment_variables, check_for_backend(diesel::pg::Pg))]
pub struct VariableRow {
    /// Deployment.
    pub deployment_id: Uuid,
    /// Key.
    pub key: String,
    /// Whether the value is secret.
    pub is_secret: bool,
    /// Plain value (ordinary variables only).
    pub value: Option<String>,
    /// Sealed value (secrets only).
    pub secret_ciphertext: Option<Vec<u8>>,
}

impl std::fmt::Debug for VariableRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values stay out of debug output, secret or not.
        f.debug_struct("VariableRow").field("key", &self.key).field("is_secret", &self.is_secret).finish()
    }
}

/// Insert form of [`VariableRow`].
#[derive(Insertable)]
#[diesel(table_name = environment_variables)]
pub struct NewVariable {
    /// Deployment.
    pub deployment_id: Uuid,
    /// Key.
    pub key: String,
    /// Secret flag.
    pub is_secret: bool,
    /// Plain value.
    pub value: Option<String>,
    /// Sealed value.
    pub secret_ciphertext: Option<Vec<u8>>,
}

impl VariableRow {
    /// The variables of a deployment, by key.
    pub async fn of_deployment(conn: &mut AsyncPgConnection, deployment_id: Uuid) -> QueryResult<Vec<VariableRow>> {
        environment_variables::table
            .filter(environment_variables::deployment_id.eq(deployment_id))
            .order(environment_variables::key)
            .select(VariableRow::as_select())
            .load(conn)
            .await
    }

    /// Replaces every variable of a deployment.
    pub async fn replace_all(
        conn: &mut AsyncPgConnection,
        deployment_id: Uuid,
        rows: &[NewVariable],
    ) -> QueryResult<()> {
        diesel::delete(environment_variables::table.filter(environment_variables::deployment_id.eq(deployment_id)))
            .execute(conn)
            .await?;
        if !rows.is_empty() {
            diesel::insert_into(environment_variables::table).values(rows).execute(conn).await?;
        }
        Ok(())
    }
}
