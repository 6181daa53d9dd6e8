//! Service accounts (API keys).

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::error::ApiResult;

pub use crate::db::models::service_account::ServiceAccountRow as ServiceAccount;

/// Service accounts by id (one statement).
pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> ApiResult<Vec<ServiceAccount>> {
    Ok(ServiceAccount::find_many(conn, ids).await?)
}
