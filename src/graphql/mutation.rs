//! The mutation root, merged from per-domain parts.

use async_graphql::MergedObject;

use crate::graphql::users::UserMutation;

/// Root of all mutations.
#[derive(MergedObject, Default)]
pub struct Mutation(UserMutation);
