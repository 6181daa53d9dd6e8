//! `deploys`: pushes of code to a deployment.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::deploys;

/// A deploy row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = deploys, check_for_backend(diesel::pg::Pg))]
pub struct Deploy {
    /// Primary key.
    pub id: Uuid,
    /// Deployment.
    pub deployment_id: Uuid,
    /// `IMAGE` or `DAG`.
    pub kind: String,
    /// N of `deploy-N`.
    pub revision: i32,
    /// Image tag (image deploys).
    pub image_tag: Option<String>,
    /// Full image reference, if given.
    pub image: Option<String>,
    /// DAG bundle reference (DAG deploys).
    pub bundle: Option<String>,
    /// Description.
    pub description: String,
    /// Deploying user.
    pub deployed_by_user_id: Option<Uuid>,
    /// Deploying service account.
    pub deployed_by_service_account_id: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Insert form of [`Deploy`].
#[derive(Debug, Insertable)]
#[diesel(table_name = deploys)]
pub struct NewDeploy {
    /// Primary key.
    pub id: Uuid,
    /// Deployment.
    pub deployment_id: Uuid,
    /// Kind.
    pub kind: &'static str,
    /// Revision.
    pub revision: i32,
    /// Image tag.
    pub image_tag: Option<String>,
    /// Image reference.
    pub image: Option<String>,
    /// Bundle.
    pub bundle: Option<String>,
    /// Description.
    pub description: String,
    /// Deploying user.
    pub deployed_by_user_id: Option<Uuid>,
    /// Deploying service account.
    pub deployed_by_service_account_id: Option<Uuid>,
}

/// The deploy state of a deployment: its newest revision and current image tag.
#[derive(Debug, Clone, QueryableByName)]
pub struct DeployState {
    /// Deployment.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub deployment_id: Uuid,
    /// Highest revision so far.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub latest_revision: i32,
    /// Tag of the newest image deploy.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub current_tag: Option<String>,
}

impl Deploy {
    /// Inserts a deploy.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewDeploy) -> QueryResult<Deploy> {
        diesel::insert_into(deploys::table).values(new).returning(Deploy::as_returning()).get_result(conn).await
    }
}
