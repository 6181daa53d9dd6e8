//! Request limits async-graphql does not enforce itself: at most N aliases of one field in one selection
//! set (an alias flood multiplies the work of a cheap-looking query).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// Schema extension refusing documents with more than `max_aliases` aliases of one field.
pub struct AliasLimit {
    /// The limit.
    pub max_aliases: usize,
}

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimitExtension { max_aliases: self.max_aliases })
    }
}

struct AliasLimitExtension {
    max_aliases: usize,
}

#[async_graphql::async_trait::async_trait]
impl Extension for AliasLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut sets: Vec<&SelectionSet> = Vec::new();
        match &document.operations {
            DocumentOperations::Single(operation) => sets.push(&operation.node.selection_set.node),
            DocumentOperations::Multiple(operations) => {
                sets.extend(operations.values().map(|operation| &operation.node.selection_set.node))
            }
        }
        sets.extend(document.fragments.values().map(|fragment| &fragment.node.selection_set.node));
        for set in sets {
            check(set, self.max_aliases)?;
        }
        Ok(document)
    }
}

fn check(set: &SelectionSet, max_aliases: usize) -> ServerResult<()> {
    let mut aliases_per_field: HashMap<&str, usize> = HashMap::new();
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if field.node.alias.is_some() {
                    let count = aliases_per_field.entry(field.node.name.node.as_str()).or_default();
                    *count += 1;
                    if *count > max_aliases {
                        return Err(ServerError::new(
                            format!(
                                "Field \"{}\" is aliased more than {max_aliases} times in one selection",
                                field.node.name.node
                            ),
                            Some(field.pos),
                        ));
                    }
                }
                check(&field.node.selection_set.node, max_aliases)?;
            }
            Selection::InlineFragment(fragment) => check(&fragment.node.selection_set.node, max_aliases)?,
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}
