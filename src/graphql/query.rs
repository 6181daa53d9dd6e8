//! The query root, merged from per-domain parts.

use async_graphql::MergedObject;

use crate::graphql::config::ConfigQuery;
use crate::graphql::users::UserQuery;

/// Root of all queries.
#[derive(MergedObject, Default)]
pub struct Query(UserQuery, ConfigQuery);
