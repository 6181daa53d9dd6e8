//! Limits on what one GraphQL document may cost, checked before anything walks it expanded.
//!
//! async-graphql's own depth, complexity and recursion checks expand every fragment spread as they walk, so a
//! document whose fragments each spread the next one twice costs 2ⁿ steps before it is refused. Here, in
//! the order they run and each linear in the size of the text:
//!
//! 1. the text is lexed (apollo-parser's lexer) and refused past [`DocumentLimits::max_tokens`] significant
//!    tokens or [`MAX_NESTING`] open brackets, before the (much slower) parser sees it;
//! 2. the parsed document is refused with more than `max_fragments` fragment definitions, a fragment cycle,
//!    more than `max_directives` directives, more than `max_aliases` aliases of one field in one selection
//!    set, or more than `max_selections` fields once every fragment spread is expanded: that size is
//!    computed by counting each fragment once and multiplying (memoized over the fragment graph), never by
//!    expanding;
//! 3. inputs (variables and literal arguments) are refused when a text holds a NUL character (PostgreSQL
//!    cannot store one) or a list holds more than `max_list_items` items, naming the argument or variable.
//!
//! Only then does async-graphql parse-check and validate, on a document now known to be small when
//! expanded. See `docs/limits.md`.

use std::collections::HashMap;

use apollo_parser::{Lexer, TokenKind};
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Request, ServerError, ServerResult};

use crate::error::ApiError;

/// Deepest nesting of `{`, `[` and `(` a document may have. Selection depth is limited separately
/// (`CAPCOM_MAX_DEPTH`); this bounds everything the parser and the validators walk recursively, input
/// values included.
pub const MAX_NESTING: usize = 64;

/// The limits one document is held to (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    /// Significant tokens (names, punctuators, values; not whitespace, commas or comments).
    pub max_tokens: usize,
    /// Fragment definitions.
    pub max_fragments: usize,
    /// Fields once every fragment spread is expanded (the complexity limit: a document larger than that
    /// would be refused as too complex anyway).
    pub max_selections: usize,
    /// Directives written in the document.
    pub max_directives: usize,
    /// Aliases of one field within one selection set.
    pub max_aliases: usize,
    /// Items of one list input.
    pub max_list_items: usize,
}

impl DocumentLimits {
    /// The limits of `config`.
    pub fn from_config(config: &crate::config::Config) -> Self {
        DocumentLimits {
            max_tokens: config.max_tokens,
            max_fragments: config.max_fragments,
            max_selections: config.max_complexity,
            max_directives: config.max_directives,
            max_aliases: config.max_aliases,
            max_list_items: config.list_cap,
        }
    }
}

fn refuse(message: impl Into<String>) -> ServerError {
    ServerError::new(message, None)
}

/// Refuses a document text with more than `max_tokens` significant tokens or more than [`MAX_NESTING`]
/// open brackets. Lexing errors are left to the parser (each counts as a token, so garbage is bounded too).
pub fn check_text(query: &str, max_tokens: usize) -> ServerResult<()> {
    let mut tokens = 0usize;
    let mut nesting = 0usize;
    for token in Lexer::new(query) {
        if let Ok(token) = &token {
            match token.kind() {
                TokenKind::Whitespace | TokenKind::Comment | TokenKind::Comma => continue,
                TokenKind::Eof => break,
                TokenKind::LCurly | TokenKind::LBracket | TokenKind::LParen => {
                    nesting += 1;
                    if nesting > MAX_NESTING {
                        return Err(refuse(format!("The document nests brackets more than {MAX_NESTING} levels deep")));
                    }
                }
                TokenKind::RCurly | TokenKind::RBracket | TokenKind::RParen => nesting = nesting.saturating_sub(1),
                _ => {}
            }
        }
        tokens += 1;
        if tokens > max_tokens {
            return Err(refuse(format!("The document has more than {max_tokens} tokens")));
        }
    }
    Ok(())
}

/// What one selection set holds before fragment spreads are expanded.
#[derive(Default)]
struct Shape<'a> {
    /// Fields, at any depth, not counting those behind fragment spreads.
    fields: usize,
    /// Names of the fragments spread, once per spread.
    spreads: Vec<&'a str>,
}

struct Walker<'a> {
    limits: DocumentLimits,
    directives: usize,
    phantom: std::marker::PhantomData<&'a ()>,
}

impl<'a> Walker<'a> {
    fn count_directives(&mut self, directives: &[Positioned<Directive>]) -> ServerResult<()> {
        self.directives += directives.len();
        if self.directives > self.limits.max_directives {
            return Err(refuse(format!("The document has more than {} directives", self.limits.max_directives)));
        }
        Ok(())
    }

    /// Gathers the shape of `set` (recursion depth is bounded by [`MAX_NESTING`]).
    fn shape(&mut self, set: &'a SelectionSet, shape: &mut Shape<'a>) -> ServerResult<()> {
        let mut aliases_per_field: HashMap<&str, usize> = HashMap::new();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let Field { alias, name, directives, selection_set, .. } = &field.node;
                    shape.fields += 1;
                    self.count_directives(directives)?;
                    if alias.is_some() {
                        let count = aliases_per_field.entry(name.node.as_str()).or_default();
                        *count += 1;
                        if *count > self.limits.max_aliases {
                            return Err(ServerError::new(
                                format!(
                                    "Field \"{}\" is aliased more than {} times in one selection",
                                    name.node, self.limits.max_aliases
                                ),
                                Some(field.pos),
                            ));
                        }
                    }
                    self.shape(&selection_set.node, shape)?;
                }
                Selection::InlineFragment(fragment) => {
                    self.count_directives(&fragment.node.directives)?;
                    self.shape(&fragment.node.selection_set.node, shape)?;
                }
                Selection::FragmentSpread(spread) => {
                    self.count_directives(&spread.node.directives)?;
                    shape.spreads.push(spread.node.fragment_name.node.as_str());
                }
            }
        }
        Ok(())
    }
}

/// Refuses `document` when it breaks one of `limits` (see the module documentation).
pub fn check_document(document: &ExecutableDocument, limits: DocumentLimits) -> ServerResult<()> {
    if document.fragments.len() > limits.max_fragments {
        return Err(refuse(format!("The document defines more than {} fragments", limits.max_fragments)));
    }
    let mut walker = Walker { limits, directives: 0, phantom: std::marker::PhantomData };
    let mut fragment_shapes: HashMap<&str, Shape<'_>> = HashMap::new();
    for (name, fragment) in &document.fragments {
        let FragmentDefinition { directives, selection_set, .. } = &fragment.node;
        walker.count_directives(directives)?;
        let mut shape = Shape::default();
        walker.shape(&selection_set.node, &mut shape)?;
        fragment_shapes.insert(name.as_str(), shape);
    }
    let fragment_sizes = expanded_fragment_sizes(&fragment_shapes, limits.max_selections)?;
    let expanded = |shape: &Shape<'_>| {
        shape.spreads.iter().fold(shape.fields, |total, name| {
            total.saturating_add(fragment_sizes.get(name).copied().unwrap_or_default())
        })
    };
    // Validation walks every operation and every fragment definition, each expanded.
    let mut total = fragment_shapes.values().fold(0usize, |total, shape| total.saturating_add(expanded(shape)));
    for (_, operation) in document.operations.iter() {
        walker.count_directives(&operation.node.directives)?;
        let mut shape = Shape::default();
        walker.shape(&operation.node.selection_set.node, &mut shape)?;
        total = total.saturating_add(expanded(&shape));
    }
    if total > limits.max_selections {
        return Err(refuse(format!(
            "Query is too complex: it selects more than {} fields once its fragments are expanded",
            limits.max_selections
        )));
    }
    Ok(())
}

/// The expanded size of every fragment (fields, with spreads replaced by their fragment's size), computed
/// once per fragment in dependency order, without recursion. Sizes saturate just above `cap`. A cycle is
/// refused (the spec forbids it; walking one expanded would never end).
fn expanded_fragment_sizes<'a>(
    shapes: &HashMap<&'a str, Shape<'a>>,
    cap: usize,
) -> ServerResult<HashMap<&'a str, usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        InProgress,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for &root in shapes.keys() {
        if marks.contains_key(root) {
            continue;
        }
        // Depth-first over the fragment graph with an explicit stack of (fragment, next spread to visit).
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        marks.insert(root, Mark::InProgress);
        while let Some(&mut (name, ref mut next)) = stack.last_mut() {
            let spreads = shapes.get(name).map(|shape| shape.spreads.as_slice()).unwrap_or_default();
            if let Some(&child) = spreads.get(*next) {
                *next += 1;
                if !shapes.contains_key(child) {
                    continue; // unknown fragment: validation reports it
                }
                match marks.get(child) {
                    Some(Mark::Done) => {}
                    Some(Mark::InProgress) => {
                        return Err(refuse(format!(
                            "Fragment \"{child}\" spreads itself (directly or through others)"
                        )));
                    }
                    None => {
                        marks.insert(child, Mark::InProgress);
                        stack.push((child, 0));
                    }
                }
                continue;
            }
            let own = shapes.get(name).map(|shape| shape.fields).unwrap_or_default();
            let size = spreads.iter().fold(own, |total, child| {
                total.saturating_add(sizes.get(child).copied().unwrap_or_default()).min(cap.saturating_add(1))
            });
            sizes.insert(name, size);
            marks.insert(name, Mark::Done);
            stack.pop();
        }
    }
    Ok(sizes)
}

/// Refuses inputs PostgreSQL cannot store or that no list field needs: a NUL character in any text (or
/// object key) of the variables or of the document's literal arguments, and lists longer than
/// `max_list_items`. The error is BAD_USER_INPUT naming the variable or argument (`user.email`,
/// `environmentVariables`).
pub fn check_inputs(request: &Request, document: &ExecutableDocument, max_list_items: usize) -> Result<(), ApiError> {
    check_variables(request, document, max_list_items)?;
    check_literal_inputs(document, max_list_items)
}

/// The part of [`check_inputs`] that depends on the request: its variables. A refused variable is named
/// by the argument it is passed as (`permissions`, `payload.role`), which is what the schema and the
/// documentation call it; by its own name only when the document uses it nowhere as an argument.
fn check_variables(request: &Request, document: &ExecutableDocument, max_list_items: usize) -> Result<(), ApiError> {
    for (name, value) in request.variables.iter() {
        if check_value(value, name.as_str(), max_list_items).is_err() {
            // Only on a refusal: the walk costs nothing on the path every request takes.
            let argument = argument_using(document, name.as_str()).unwrap_or_else(|| name.to_string());
            check_value(value, &argument, max_list_items)?;
        }
    }
    Ok(())
}

/// The path of the first argument (or field of an input-object argument) that `$variable` is passed as
/// in `document`: `permissions`, `payload.role`.
fn argument_using(document: &ExecutableDocument, variable: &str) -> Option<String> {
    fn in_value(value: &async_graphql_value::Value, variable: &str, path: &str) -> Option<String> {
        use async_graphql_value::Value;
        match value {
            Value::Variable(name) if name.as_str() == variable => Some(path.to_owned()),
            Value::List(items) => items.iter().find_map(|item| in_value(item, variable, path)),
            Value::Object(fields) => {
                fields.iter().find_map(|(key, item)| in_value(item, variable, &format!("{path}.{key}")))
            }
            _ => None,
        }
    }
    fn in_set(set: &SelectionSet, variable: &str) -> Option<String> {
        set.items.iter().find_map(|selection| match &selection.node {
            Selection::Field(field) => field
                .node
                .arguments
                .iter()
                .find_map(|(name, value)| in_value(&value.node, variable, name.node.as_str()))
                .or_else(|| in_set(&field.node.selection_set.node, variable)),
            Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node, variable),
            Selection::FragmentSpread(_) => None,
        })
    }
    document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set.node)
        .chain(document.fragments.values().map(|fragment| &fragment.node.selection_set.node))
        .find_map(|set| in_set(set, variable))
}

/// The part of [`check_inputs`] that depends only on the document: its literal arguments.
fn check_literal_inputs(document: &ExecutableDocument, max_list_items: usize) -> Result<(), ApiError> {
    let mut sets: Vec<&SelectionSet> = Vec::new();
    for (_, operation) in document.operations.iter() {
        sets.push(&operation.node.selection_set.node);
        check_directive_arguments(&operation.node.directives, max_list_items)?;
    }
    for fragment in document.fragments.values() {
        sets.push(&fragment.node.selection_set.node);
    }
    for set in sets {
        check_literals(set, max_list_items)?;
    }
    Ok(())
}

fn check_directive_arguments(directives: &[Positioned<Directive>], max_list_items: usize) -> Result<(), ApiError> {
    for directive in directives {
        for (name, value) in &directive.node.arguments {
            check_value(&value.node, name.node.as_str(), max_list_items)?;
        }
    }
    Ok(())
}

fn check_literals(set: &SelectionSet, max_list_items: usize) -> Result<(), ApiError> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                for (name, value) in &field.node.arguments {
                    check_value(&value.node, name.node.as_str(), max_list_items)?;
                }
                check_directive_arguments(&field.node.directives, max_list_items)?;
                check_literals(&field.node.selection_set.node, max_list_items)?;
            }
            Selection::InlineFragment(fragment) => {
                check_directive_arguments(&fragment.node.directives, max_list_items)?;
                check_literals(&fragment.node.selection_set.node, max_list_items)?;
            }
            Selection::FragmentSpread(spread) => check_directive_arguments(&spread.node.directives, max_list_items)?,
        }
    }
    Ok(())
}

/// A value that is either a constant (a variable's value) or a literal of the document (which may
/// reference variables, checked on their own).
trait InputValue: Sized {
    fn visit(&self) -> Visit<'_, Self>;
}

enum Visit<'v, V> {
    Text(&'v str),
    List(&'v [V]),
    Object(Vec<(&'v Name, &'v V)>),
    Other,
}

impl InputValue for async_graphql_value::ConstValue {
    fn visit(&self) -> Visit<'_, Self> {
        match self {
            Self::String(text) => Visit::Text(text),
            Self::List(items) => Visit::List(items),
            Self::Object(fields) => Visit::Object(fields.iter().collect()),
            _ => Visit::Other,
        }
    }
}

impl InputValue for async_graphql_value::Value {
    fn visit(&self) -> Visit<'_, Self> {
        match self {
            Self::String(text) => Visit::Text(text),
            Self::List(items) => Visit::List(items),
            Self::Object(fields) => Visit::Object(fields.iter().collect()),
            _ => Visit::Other,
        }
    }
}

fn check_value<V: InputValue>(value: &V, path: &str, max_list_items: usize) -> Result<(), ApiError> {
    match value.visit() {
        Visit::Text(text) if text.contains('\0') => {
            let path = shown(path);
            Err(ApiError::bad_input(&path, format!("{path} must not contain a NUL character (\\u0000)")))
        }
        Visit::List(items) if items.len() > max_list_items => {
            let path = shown(path);
            Err(ApiError::bad_input(&path, format!("{path} may hold at most {max_list_items} items")))
        }
        Visit::List(items) => items.iter().try_for_each(|item| check_value(item, path, max_list_items)),
        Visit::Object(fields) => fields.into_iter().try_for_each(|(key, item)| {
            let nested = format!("{path}.{key}");
            if key.as_str().contains('\0') {
                let path = shown(path);
                return Err(ApiError::bad_input(&path, format!("{path} must not contain a NUL character (\\u0000)")));
            }
            check_value(item, &nested, max_list_items)
        }),
        _ => Ok(()),
    }
}

/// At most this many characters of an input's path (the names a client sent: variables, object keys) are
/// repeated in an error, so that an answer never grows with a name the client made up.
const SHOWN_PATH_CHARS: usize = 64;

/// `path`, cut to [`SHOWN_PATH_CHARS`] characters (an ellipsis marks a cut).
fn shown(path: &str) -> String {
    match path.char_indices().nth(SHOWN_PATH_CHARS) {
        Some((cut, _)) => format!("{}…", &path[..cut]),
        None => path.to_owned(),
    }
}

/// At most this many bytes of admitted documents are remembered, counting [`DOCUMENT_BYTES_PER_CHAR`]
/// bytes per character of text for the parsed form.
pub const ADMITTED_DOCUMENTS_MAX_BYTES: usize = 32 * 1024 * 1024;

/// A document longer than this many bytes of text is not remembered (clients send the same few short
/// documents over and over; a long one is rarer and its parse a smaller share of its cost).
pub const ADMITTED_DOCUMENT_MAX_TEXT: usize = 64 * 1024;

/// What one character of a remembered document is counted as: the text and the parsed tree it becomes.
/// Measured: with 32 bytes counted per character, 300 distinct 20 KB documents of 9 990 fields each
/// grew the process by about 130 MB more than with no cache, about 125 bytes per character held; so a
/// character counts 160 bytes (a margin for other shapes).
pub const DOCUMENT_BYTES_PER_CHAR: usize = 160;

/// Documents that passed [`check_text`], [`check_document`] and the literal part of [`check_inputs`],
/// parsed, by their text: the astro CLI and the consoles send the same few documents on every request, so
/// the lexing, parsing and checking of a known document is done once. Bounded by
/// `CAPCOM_DOCUMENT_CACHE_ENTRIES` entries (1 000) and [`ADMITTED_DOCUMENTS_MAX_BYTES`]. Nothing here depends on the
/// caller: the limits are the configuration's, and async-graphql's validation (types, depth, complexity)
/// still runs on every request, as do the checks of the request's variables.
pub struct AdmittedDocuments {
    map: crate::bounded::BoundedMap<u64, std::sync::Arc<(String, ExecutableDocument)>>,
    hasher: std::collections::hash_map::RandomState,
}

impl AdmittedDocuments {
    /// An empty set holding at most `max_entries` documents (`CAPCOM_DOCUMENT_CACHE_ENTRIES`) and
    /// [`ADMITTED_DOCUMENTS_MAX_BYTES`].
    pub fn new(max_entries: usize) -> Self {
        Self::with_bounds(max_entries, ADMITTED_DOCUMENTS_MAX_BYTES)
    }

    /// An empty set holding at most `max_entries` documents and `max_bytes` bytes.
    pub fn with_bounds(max_entries: usize, max_bytes: usize) -> Self {
        AdmittedDocuments {
            map: crate::bounded::BoundedMap::new(max_entries, max_bytes),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn key(&self, text: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(text)
    }

    /// The parsed form of `text`, if it was admitted before (the text itself is compared, not only its
    /// hash).
    fn get(&self, text: &str) -> Option<ExecutableDocument> {
        let found = self.map.get(&self.key(text))?;
        (found.0 == text).then(|| found.1.clone())
    }

    fn insert(&self, text: &str, document: &ExecutableDocument) {
        if text.len() > ADMITTED_DOCUMENT_MAX_TEXT {
            return;
        }
        let bytes = text.len().saturating_mul(DOCUMENT_BYTES_PER_CHAR).saturating_add(256);
        self.map.insert(self.key(text), std::sync::Arc::new((text.to_owned(), document.clone())), bytes);
    }

    /// How many documents are remembered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Applies [`check_text`], [`check_document`] and [`check_inputs`] to a request before async-graphql
/// parses, validates or executes it (every transport goes through it: `crate::graphql::GraphqlService`);
/// the document parsed here is the one executed. A document found in `known` was checked and parsed
/// before (with the same limits: one set belongs to one schema and its configuration); only the
/// request's variables are checked then.
pub fn admit(mut request: Request, limits: DocumentLimits, known: &AdmittedDocuments) -> ServerResult<Request> {
    let document = match known.get(&request.query) {
        Some(document) => document,
        None => {
            let document = parse_within(&request.query, limits)?;
            known.insert(&request.query, &document);
            document
        }
    };
    check_variables(&request, &document, limits.max_list_items).map_err(as_server_error)?;
    request.set_parsed_query(document);
    Ok(request)
}

/// `text` parsed, within `limits` before parsing (tokens) and after (fragments, fields, directives,
/// aliases), its literal inputs checked: what [`admit`] asks of a text it has not seen, and what a
/// persisted query must pass to be kept (`crate::graphql::persisted`).
pub fn parse_within(text: &str, limits: DocumentLimits) -> ServerResult<ExecutableDocument> {
    check_text(text, limits.max_tokens)?;
    let document = async_graphql::parser::parse_query(text)?;
    check_document(&document, limits)?;
    check_literal_inputs(&document, limits.max_list_items).map_err(as_server_error)?;
    Ok(document)
}

/// An input refusal as the server error [`admit`] answers with (no location: it is about the input).
fn as_server_error(error: ApiError) -> ServerError {
    let mut error = async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default());
    error.locations.clear();
    error
}

/// Whether the operation `operation_name` selects in `document` is a mutation (GET must not run one).
pub fn selects_mutation(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    use async_graphql::parser::types::OperationType;
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => operation.node.ty == OperationType::Mutation,
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).is_some_and(|operation| operation.node.ty == OperationType::Mutation)
        }
        (DocumentOperations::Multiple(operations), None) => {
            operations.len() == 1 && operations.values().all(|operation| operation.node.ty == OperationType::Mutation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DocumentLimits {
        DocumentLimits {
            max_tokens: 10_000,
            max_fragments: 100,
            max_selections: 10_000,
            max_directives: 100,
            max_aliases: 20,
            max_list_items: 1000,
        }
    }

    fn doubling(levels: usize) -> String {
        let mut query = String::from("{ workspaces { ...G0 } }");
        for level in 0..levels {
            query.push_str(&format!(" fragment G{level} on Workspace {{ ...G{0} ...G{0} }}", level + 1));
        }
        query.push_str(&format!(" fragment G{levels} on Workspace {{ id }}"));
        query
    }

    fn check(query: &str) -> ServerResult<()> {
        check_text(query, limits().max_tokens)?;
        let document = async_graphql::parser::parse_query(query)?;
        check_document(&document, limits())
    }

    #[test]
    fn doubling_fragments_are_sized_without_expanding() {
        assert!(check(&doubling(10)).is_ok(), "2^10 fields are within the limit");
        let error = check(&doubling(60)).err().map(|e| e.message).unwrap_or_default();
        assert!(error.contains("too complex"), "{error}");
    }

    #[test]
    fn cycles_and_deep_nesting_are_refused() {
        let error = check("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A ...A }").err();
        assert!(error.is_some_and(|e| e.message.contains("spreads itself")));
        let nested = format!("{{ a(x: {}1{}) }}", "[".repeat(100), "]".repeat(100));
        assert!(check(&nested).err().is_some_and(|e| e.message.contains("nests")));
        let many = format!("{{ {} }}", "a ".repeat(10_001));
        assert!(check(&many).err().is_some_and(|e| e.message.contains("tokens")));
    }

    #[test]
    fn a_remembered_document_still_has_each_requests_variables_checked() {
        let known = AdmittedDocuments::with_bounds(2, 1 << 20);
        let query = "query($ids: [Int]) { a(ids: $ids) }";
        let request = |count: usize| {
            let variables = serde_json::json!({"ids": (0..count).collect::<Vec<_>>()});
            Request::new(query).variables(async_graphql::Variables::from_json(variables))
        };
        assert!(admit(request(3), limits(), &known).is_ok());
        assert_eq!(known.len(), 1);
        let refused = admit(request(1001), limits(), &known).err().map(|e| e.message).unwrap_or_default();
        assert!(refused.contains("at most 1000 items"), "{refused}");
        assert!(admit(request(3), limits(), &known).is_ok_and(|r| r.query == query));
        // Refused documents are not remembered; the set keeps its bound.
        assert!(admit(Request::new(doubling(60)), limits(), &known).is_err());
        assert!(admit(Request::new(r#"{ a(x: "\u0000") }"#), limits(), &known).is_err());
        assert_eq!(known.len(), 1);
        for text in ["{ b }", "{ c }", "{ d }"] {
            assert!(admit(Request::new(text), limits(), &known).is_ok());
        }
        assert_eq!(known.len(), 2);
    }

    #[test]
    fn nul_characters_and_long_lists_are_bad_input_naming_the_input() {
        let document = async_graphql::parser::parse_query(r#"{ users(user: {email: "a\u0000b"}) { id } }"#).ok();
        let request = Request::new("");
        let error = document.and_then(|document| check_inputs(&request, &document, 10).err());
        assert!(matches!(error, Some(ApiError::BadUserInput { ref field, .. }) if field == "user.email"), "{error:?}");

        let variables = serde_json::json!({"ids": (0..11).collect::<Vec<_>>()});
        let request = Request::new("").variables(async_graphql::Variables::from_json(variables));
        let document = async_graphql::parser::parse_query("query($ids: [Int]) { a(ids: $ids) }").ok();
        let error = document.and_then(|document| check_inputs(&request, &document, 10).err());
        assert!(matches!(error, Some(ApiError::BadUserInput { ref field, .. }) if field == "ids"), "{error:?}");

        // A name the client made up is repeated at most SHOWN_PATH_CHARS characters long.
        let long = "v".repeat(10_000);
        let request =
            Request::new("").variables(async_graphql::Variables::from_json(serde_json::json!({long.clone(): "\u{0}"})));
        let document = async_graphql::parser::parse_query("{ a }").ok();
        match document.and_then(|document| check_inputs(&request, &document, 10).err()) {
            Some(ApiError::BadUserInput { field, message }) => {
                assert_eq!(field.chars().count(), SHOWN_PATH_CHARS + 1, "{field}");
                assert!(message.len() < 200, "{message}");
            }
            other => panic!("{other:?}"),
        }

        // A variable is named by the argument it is passed as, not by its own name.
        for (query, variables, expected) in [
            (
                "mutation($p: [String!]!) { createCustomRole(permissions: $p) { id } }",
                serde_json::json!({"p": ["a\u{0}b"]}),
                "permissions",
            ),
            (
                "mutation($p: String!) { m(payload: {role: $p}) { id } }",
                serde_json::json!({"p": "x\u{0}"}),
                "payload.role",
            ),
            (
                "mutation($q: In!) { m(payload: $q) { id } }",
                serde_json::json!({"q": {"name": "x\u{0}"}}),
                "payload.name",
            ),
            (
                "query($p: [String!]!) { a { ...F } } fragment F on A { b(names: $p) }",
                serde_json::json!({"p": ["x\u{0}"]}),
                "names",
            ),
            ("query($p: [String!]) { a }", serde_json::json!({"p": ["x\u{0}"]}), "p"),
        ] {
            let request = Request::new("").variables(async_graphql::Variables::from_json(variables));
            let document = async_graphql::parser::parse_query(query).ok();
            let error = document.and_then(|document| check_inputs(&request, &document, 10).err());
            assert!(
                matches!(error, Some(ApiError::BadUserInput { ref field, .. }) if field == expected),
                "{query}: {error:?}"
            );
        }
    }
}
