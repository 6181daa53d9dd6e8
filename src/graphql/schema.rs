//! Building the schema, with its limits and policies, and exporting its SDL.

use async_graphql::{Schema, SchemaBuilder};

use crate::config::Config;
use crate::graphql::errors::ErrorPolicy;
use crate::graphql::limits::{DocumentGuard, DocumentLimits};
use crate::graphql::mutation::Mutation;
use crate::graphql::query::Query;
use crate::graphql::subscription::Subscription;
use crate::state::AppState;

/// The capcom schema.
pub type CapcomSchema = Schema<Query, Mutation, Subscription>;

fn builder(config: &Config) -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .limit_recursive_depth(64)
        .extension(ErrorPolicy)
        .extension(DocumentGuard { limits: DocumentLimits::from_config(config) })
}

/// The schema serving requests, holding the application state.
pub fn build_schema(state: AppState) -> CapcomSchema {
    let config = state.config.clone();
    builder(&config).data(state).finish()
}

/// The schema's SDL (what `schema.graphql` holds and `capcom export-schema` prints).
pub fn sdl() -> String {
    // Limits and extensions do not change the SDL.
    Schema::build(Query::default(), Mutation::default(), Subscription).finish().sdl()
}
