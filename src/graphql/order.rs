//! The order of fields in a response: the order the query asked for them (GraphQL spec, October 2021,
//! §7.1.2 "Serialized Map Ordering": a map of results is written in the order `CollectFields()` yields its
//! keys).
//!
//! async-graphql resolves an object's fields concurrently and inserts each value when its future
//! completes, so a field that waited for the database lands after the fields that did not. capcom puts
//! the keys back in query order after execution: the operation's selection sets are turned once into a
//! [`Shape`] (response keys in order, with the shape below each), and every object of the data is then
//! reordered in place. The cost is one pass over the reply's objects, none of which is copied.

use std::collections::HashMap;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value, Variables};

use crate::error::ApiError;

/// The response keys one object of the reply may have, in query order, with the shape of each key's
/// value (for fields that select sub-fields).
#[derive(Debug, Default)]
pub struct Shape {
    keys: IndexMap<Name, Option<Shape>>,
}

/// What shaping reads besides the selection sets.
struct Document<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
}

/// The operation of `document` that `operation_name` chooses, as execution chooses it: the only one, or
/// the named one.
fn operation<'a>(document: &'a ExecutableDocument, operation_name: Option<&str>) -> Option<&'a OperationDefinition> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some(&operation.node)
}

/// Completes the request's variables as the spec's `CoerceVariableValues()` does (§6.1.2) for what
/// async-graphql leaves out: a variable the request does not give takes its default, and one of a
/// non-null type without a default is a request error (BAD_USER_INPUT naming it). async-graphql would
/// otherwise read a missing `@skip`/`@include` condition as false and run a field whose non-null argument
/// is missing. Values given are left to async-graphql's coercion.
pub fn complete_variables(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &mut Variables,
) -> Result<(), ApiError> {
    let Some(operation) = operation(document, operation_name) else { return Ok(()) };
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = &definition.name.node;
        if variables.contains_key(name) {
            continue;
        }
        match &definition.default_value {
            Some(default) => {
                variables.insert(name.clone(), default.node.clone());
            }
            None if !definition.var_type.node.nullable => {
                let message = format!("Variable ${name} of type {} was not given", definition.var_type.node);
                return Err(ApiError::bad_input(name.as_str(), message));
            }
            None => {}
        }
    }
    Ok(())
}

impl Shape {
    /// The shape of the operation of `document` that `operation_name` chooses (as execution chooses it:
    /// the only one, or the named one), with `@skip` and `@include` decided by `variables` (then the
    /// operation's defaults); `None` when there is no such operation.
    pub fn of_operation(
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Option<Shape> {
        let operation = operation(document, operation_name)?;
        let document = Document { fragments: &document.fragments, variables };
        Some(Shape::of_sets(&[&operation.selection_set.node], &document))
    }

    /// The merged shape of selection sets that answer the same response key (fields of one key are merged
    /// into one result, spec §6.3.2).
    fn of_sets(sets: &[&SelectionSet], document: &Document<'_>) -> Shape {
        let mut below: IndexMap<Name, Vec<&SelectionSet>> = IndexMap::new();
        for set in sets {
            collect(set, document, 0, &mut below);
        }
        let keys = below
            .into_iter()
            .map(|(key, subsets)| {
                let shape = subsets.iter().any(|set| !set.items.is_empty()).then(|| Shape::of_sets(&subsets, document));
                (key, shape)
            })
            .collect();
        Shape { keys }
    }

    /// Puts the keys of every object in `value` (and below) in this shape's order. Keys the object lacks
    /// (fields whose resolver failed: async-graphql leaves them out) stay absent; keys the shape does not
    /// know (none, for a reply of this operation) keep their place after the known ones.
    pub fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                // Each key is looked up once, both to order the object and to shape what is below it.
                let mut sorted = true;
                let mut previous = 0;
                for (key, value) in map.iter_mut() {
                    let position = self.position(key);
                    sorted &= previous <= position;
                    previous = position;
                    if let Some((_, Some(shape))) = self.keys.get_index(position) {
                        shape.apply(value);
                    }
                }
                if !sorted {
                    map.sort_by(|a, _, b, _| self.position(a).cmp(&self.position(b)));
                }
            }
            Value::List(items) => items.iter_mut().for_each(|item| self.apply(item)),
            _ => {}
        }
    }

    /// The place of `key` in the query's order; keys the shape does not know go last. An object of a
    /// query has a few keys: comparing their short names is cheaper than hashing them, and a reply of
    /// thousands of objects does it for every key of every object.
    fn position(&self, key: &Name) -> usize {
        const LINEAR: usize = 8;
        let found = if self.keys.len() <= LINEAR {
            self.keys.keys().position(|known| known == key)
        } else {
            self.keys.get_index_of(key)
        };
        found.unwrap_or(usize::MAX)
    }
}

/// `CollectFields()` (spec §6.3.2) without the type conditions: the response keys of `set` in order, each
/// with the sub-selection sets of the fields answering it. A type condition only removes keys from an
/// object and keeps the others in their relative order, so ignoring conditions orders every object as the
/// spec does, except when fragments on different types select the same keys in different orders (the
/// first fragment's order then serves every type). capcom's schema has no interfaces or unions, so every
/// condition names the object's own type today.
fn collect<'a>(
    set: &'a SelectionSet,
    document: &Document<'a>,
    depth: usize,
    below: &mut IndexMap<Name, Vec<&'a SelectionSet>>,
) {
    for selection in &set.items {
        if !included(selection.node.directives(), document) {
            continue;
        }
        match &selection.node {
            Selection::Field(field) => {
                below.entry(field.node.response_key().node.clone()).or_default().push(&field.node.selection_set.node);
            }
            // The document limits refuse fragment cycles before execution; a chain of spreads is then no
            // deeper than the number of fragments, which also keeps this function total on its own.
            Selection::FragmentSpread(spread) if depth < document.fragments.len() => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(&fragment.node.selection_set.node, document, depth + 1, below);
                }
            }
            Selection::InlineFragment(inline) => collect(&inline.node.selection_set.node, document, depth, below),
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// Whether `@skip` and `@include` keep a selection (spec §3.13), as execution decides it.
fn included(directives: &[Positioned<Directive>], document: &Document<'_>) -> bool {
    directives.iter().all(|directive| {
        let keep_when = match directive.node.name.node.as_str() {
            "skip" => false,
            "include" => true,
            _ => return true,
        };
        let condition = match directive.node.get_argument("if").map(|argument| &argument.node) {
            Some(async_graphql_value::Value::Boolean(value)) => Some(*value),
            // Defaults were filled in by `complete_variables` before execution.
            Some(async_graphql_value::Value::Variable(name)) => match document.variables.get(name) {
                Some(Value::Boolean(value)) => Some(*value),
                _ => None,
            },
            _ => None,
        };
        condition.is_none_or(|value| value == keep_when)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(query: &str, data: serde_json::Value) -> String {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let variables = Variables::from_json(serde_json::json!({"no": false}));
        let shape = Shape::of_operation(&document, None, &variables).unwrap();
        let mut value = Value::from_json(data).unwrap();
        shape.apply(&mut value);
        value.into_json().unwrap().to_string()
    }

    #[test]
    fn objects_follow_the_query_at_every_level() {
        let data = serde_json::json!({
            "workspaces": [{"users": [{"username": "a", "id": "1"}], "label": "W", "id": "w"}],
            "appConfig": {"version": "1"}
        });
        assert_eq!(
            ordered("{ appConfig { version } workspaces { id label users { id username } } }", data),
            r#"{"appConfig":{"version":"1"},"workspaces":[{"id":"w","label":"W","users":[{"id":"1","username":"a"}]}]}"#
        );
    }

    #[test]
    fn aliases_fragments_and_merged_fields_keep_their_first_place() {
        let data = serde_json::json!({"b": {"y": 2, "x": 1}, "first": {"z": 3}, "a": 0});
        let query = "{ a ...F b { x } } fragment F on Query { first: c { z } b { y } }";
        // `b` first appears inside the fragment, whose `y` comes before the outer `x`.
        assert_eq!(ordered(query, data), r#"{"a":0,"first":{"z":3},"b":{"y":2,"x":1}}"#);
    }

    #[test]
    fn the_named_operation_is_the_one_shaped() {
        let document = async_graphql::parser::parse_query("query A { a b } query B { b a }").unwrap();
        let mut value = Value::from_json(serde_json::json!({"a": 1, "b": 2})).unwrap();
        Shape::of_operation(&document, Some("B"), &Variables::default()).unwrap().apply(&mut value);
        assert_eq!(value.into_json().unwrap().to_string(), r#"{"b":2,"a":1}"#);
        assert!(Shape::of_operation(&document, None, &Variables::default()).is_none());
    }

    #[test]
    fn skipped_selections_take_no_place() {
        let data = serde_json::json!({"b": 2, "a": 1});
        // Execution drops the skipped `b`, so the kept one (after `a`) gives the place.
        assert_eq!(ordered("query { ... @include(if: false) { b } a b }", data.clone()), r#"{"a":1,"b":2}"#);
        assert_eq!(ordered("query { b @skip(if: true) a b }", data.clone()), r#"{"a":1,"b":2}"#);
        assert_eq!(ordered("query($no: Boolean!) { b @include(if: $no) a b }", data.clone()), r#"{"a":1,"b":2}"#);
        assert_eq!(ordered("query { b @include(if: true) a }", data), r#"{"b":2,"a":1}"#);
    }

    #[test]
    fn missing_variables_take_their_defaults_or_are_refused_when_required() {
        let document =
            async_graphql::parser::parse_query("query($a: Boolean = true, $b: Int, $c: Uuid!) { x }").unwrap();
        let mut variables = Variables::from_json(serde_json::json!({"c": "x"}));
        complete_variables(&document, None, &mut variables).unwrap();
        assert_eq!(variables.into_value().into_json().unwrap(), serde_json::json!({"a": true, "c": "x"}));
        let mut missing = Variables::default();
        let error = complete_variables(&document, None, &mut missing).unwrap_err();
        assert!(matches!(error, ApiError::BadUserInput { ref field, .. } if field == "c"), "{error:?}");
        let mut given_null = Variables::from_json(serde_json::json!({"a": null, "c": "x"}));
        complete_variables(&document, None, &mut given_null).unwrap();
        assert_eq!(given_null.get(&Name::new("a")), Some(&Value::Null), "a value given is kept, even null");
    }
}
