//! What one operation's reply may hold (SPEC §7: a request's cost is bounded by what it returns).
//!
//! Three bounds, in the order they act:
//!
//! 1. Before execution, [`CostModel::estimate`] sizes the reply from the document and the schema: every
//!    object and every list item the operation can return, each list counted at the size its arguments
//!    ask for (`first`, `last`, `take`, `limit`, at most the list cap) or, when nothing says, at
//!    [`ASSUMED_LIST_SIZE`]. Past `CAPCOM_MAX_REPLY_OBJECTS` the operation is refused before any
//!    statement runs: a few KB of nested lists that fan out is answered at once.
//! 2. While it executes, a [`ReplyBudget`] counts the objects admitted into the reply
//!    (`crate::graphql::authz::Access::admit_all`, the only way a scoped object reaches a reply); once it
//!    passes the cap, every further admission and every loader statement is refused, so the work stops.
//! 3. After it executes, the reply's objects and list items are counted exactly ([`count_objects`]) and
//!    its serialized size is bounded by `CAPCOM_MAX_REPLY_BYTES` where it is written.
//!
//! Introspection (`__schema`, `__type`) is sized exactly, from the schema's introspection graph
//! (`crate::graphql::introspection_cost`): what it returns is known before it runs.
//!
//! Past any of them the operation's answer is a request error naming the cap (BAD_USER_INPUT on `query`)
//! and whatever was built is dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet,
    ServiceDocument, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Value, Variables};
use async_graphql_value::{ConstValue, Value as InputValue};

use crate::error::ApiError;
use crate::graphql::introspection_cost::{DESCRIPTIONS_ALLOWED, IntrospectionModel, IntrospectionWalk, OVER_CAP};

/// The size assumed for a list whose arguments do not say how many items it returns (a plain list
/// capped only by `CAPCOM_LIST_CAP`). Estimating such lists at the cap (1 000) would refuse the console's
/// own dashboard (three nested lists: 10⁹); 20 lets a document nest three plain lists (about 17 000 objects)
/// and refuses four. The count made during execution is the bound that holds whatever the data.
pub const ASSUMED_LIST_SIZE: u64 = 20;

/// Arguments that say how many items a list (or a connection's `edges`/`nodes`) returns.
const SIZE_ARGUMENTS: [&str; 4] = ["first", "last", "take", "limit"];

/// The error for a reply with more than `max` objects.
pub fn objects_exceeded(max: usize) -> ApiError {
    ApiError::bad_input(
        "query",
        format!(
            "The reply would hold more than {max} objects (CAPCOM_MAX_REPLY_OBJECTS): ask for fewer nested lists, \
             or fewer items with first/take"
        ),
    )
}

/// The error for a reply estimated at `estimate` objects, more than `max`.
pub fn estimate_exceeded(estimate: u64, max: usize) -> ApiError {
    if estimate == OVER_CAP {
        return ApiError::bad_input(
            "query",
            format!(
                "The reply would hold more than the {max} objects allowed (CAPCOM_MAX_REPLY_OBJECTS): ask for fewer \
                 nested lists or fewer introspection fields"
            ),
        );
    }
    ApiError::bad_input(
        "query",
        format!(
            "The reply could hold about {estimate} objects, more than the {max} allowed (CAPCOM_MAX_REPLY_OBJECTS; \
             each list is counted at the size its first/take asks for, else {ASSUMED_LIST_SIZE}): ask for fewer \
             nested lists, or fewer items with first/take"
        ),
    )
}

/// The introspection objects the operations of one request (a batch, or one WebSocket operation) have
/// been allowed so far: shared by them, so that the allowance
/// (`crate::graphql::introspection_cost::DESCRIPTIONS_ALLOWED` descriptions of the schema) holds for the
/// request, not for each of its operations.
#[derive(Debug, Clone, Default)]
pub struct IntrospectionSpent(Arc<std::sync::atomic::AtomicU64>);

impl IntrospectionSpent {
    /// Counts `objects` more; the total so far, saturating.
    pub fn add(&self, objects: u64) -> u64 {
        let before = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |spent| Some(spent.saturating_add(objects)))
            .unwrap_or_else(|spent| spent);
        before.saturating_add(objects)
    }
}

/// The error for a request whose introspection would return `estimate` objects, more than `allowance`
/// (`crate::graphql::introspection_cost::DESCRIPTIONS_ALLOWED` complete descriptions of the schema).
pub fn introspection_exceeded(estimate: u64, allowance: u64) -> ApiError {
    ApiError::bad_input(
        "query",
        format!(
            "The request's introspection would hold {estimate} objects, more than the {allowance} allowed per request \
             ({DESCRIPTIONS_ALLOWED} complete descriptions of the schema, all batched operations together; \
             CAPCOM_MAX_REPLY_OBJECTS applies besides): ask for the schema once"
        ),
    )
}

/// The error for a reply of more than `max` bytes.
pub fn bytes_exceeded(max: usize) -> ApiError {
    ApiError::bad_input(
        "query",
        format!("The reply would be larger than {max} bytes (CAPCOM_MAX_REPLY_BYTES): ask for less"),
    )
}

/// The bytes of text the operations of one request have put into their replies so far, against
/// `CAPCOM_MAX_REPLY_BYTES` (SPEC §7). Shared by every operation of the request (an HTTP batch is one
/// request; a WebSocket operation is one, each event of a subscription counted on its own). What is
/// charged is what the reply will hold (variable values, descriptions, JSON documents, deployment files),
/// a lower bound of its serialized size: a reply under the cap is never refused by the charge, and one
/// over it stops being built once the charge passes the cap.
#[derive(Debug)]
pub struct ReplyBytes {
    max: usize,
    used: AtomicUsize,
    exceeded: AtomicBool,
}

impl ReplyBytes {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Arc<ReplyBytes> {
        Arc::new(ReplyBytes { max, used: AtomicUsize::new(0), exceeded: AtomicBool::new(false) })
    }

    /// Counts `bytes` more; past the cap, marks the budget exceeded and refuses.
    pub fn spend(&self, bytes: usize) -> Result<(), ApiError> {
        let used = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| Some(used.saturating_add(bytes)))
            .unwrap_or_else(|used| used)
            .saturating_add(bytes);
        if used > self.max {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(bytes_exceeded(self.max));
        }
        Ok(())
    }

    /// Whether the cap was passed.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// The cap, in bytes.
    pub fn max(&self) -> usize {
        self.max
    }

    fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
        self.exceeded.store(false, Ordering::Relaxed);
    }
}

/// The size of `value` written as JSON, without keeping it.
pub fn json_len(value: &serde_json::Value) -> usize {
    let mut counter = LimitedWriter::new(std::io::sink(), usize::MAX);
    // Writing a `serde_json::Value` to a sink cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.written
}

/// What one operation's reply holds so far: its objects against the cap (the operation's own), and the
/// bytes of text of its request ([`ReplyBytes`], shared with the request's other operations). Shared by
/// the operation's [`crate::graphql::authz::Access`] (which counts) and its loader (which stops issuing
/// statements once a cap is passed).
#[derive(Debug)]
pub struct ReplyBudget {
    max: usize,
    used: AtomicUsize,
    exceeded: AtomicBool,
    bytes: Arc<ReplyBytes>,
}

impl ReplyBudget {
    /// A budget of `max` objects, charging text to the request's `bytes`.
    pub fn new(max: usize, bytes: Arc<ReplyBytes>) -> Arc<ReplyBudget> {
        Arc::new(ReplyBudget { max, used: AtomicUsize::new(0), exceeded: AtomicBool::new(false), bytes })
    }

    /// The cap, in objects.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Counts `objects` more; past the cap, marks the budget exceeded and refuses.
    pub fn spend(&self, objects: usize) -> Result<(), ApiError> {
        let used = self.used.fetch_add(objects, Ordering::Relaxed).saturating_add(objects);
        if used > self.max {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(objects_exceeded(self.max));
        }
        Ok(())
    }

    /// Counts `bytes` of text more against the request's reply bytes; past the cap, refuses.
    pub fn spend_bytes(&self, bytes: usize) -> Result<(), ApiError> {
        self.bytes.spend(bytes)
    }

    /// Refuses once a cap was passed (more work would be thrown away).
    pub fn check(&self) -> Result<(), ApiError> {
        if self.exceeded() {
            Err(objects_exceeded(self.max))
        } else if self.bytes.exceeded() {
            Err(bytes_exceeded(self.bytes.max))
        } else {
            Ok(())
        }
    }

    /// Whether the cap on objects was passed.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// The request's reply bytes.
    pub fn bytes(&self) -> &Arc<ReplyBytes> {
        &self.bytes
    }

    /// Starts again from zero (before each event of a subscription, a request of its own).
    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
        self.exceeded.store(false, Ordering::Relaxed);
        self.bytes.reset();
    }
}

/// The objects and list items `value` holds, at every depth: each object counts one, each list item
/// that is not an object counts one. Stops counting just past `limit`.
pub fn count_objects(value: &Value, limit: usize) -> usize {
    let mut count = 0usize;
    let mut stack: Vec<&Value> = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(fields) => {
                count += 1;
                stack.extend(fields.values());
            }
            Value::List(items) => {
                for item in items {
                    if !matches!(item, Value::Object(_)) {
                        count += 1;
                    }
                    stack.push(item);
                }
            }
            _ => {}
        }
        if count > limit {
            break;
        }
    }
    count
}

/// A `Write` that counts bytes and fails past a limit (to size a reply without keeping it).
#[derive(Debug)]
pub struct LimitedWriter<W> {
    inner: W,
    written: usize,
    max: usize,
    /// Whether a write would have passed `max`.
    pub exceeded: bool,
}

impl<W: std::io::Write> LimitedWriter<W> {
    /// A writer into `inner` accepting at most `max` bytes.
    pub fn new(inner: W, max: usize) -> Self {
        LimitedWriter { inner, written: 0, max, exceeded: false }
    }

    /// The writer written into.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: std::io::Write> std::io::Write for LimitedWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.written.saturating_add(bytes.len()) > self.max {
            self.exceeded = true;
            return Err(std::io::Error::other("the reply is larger than CAPCOM_MAX_REPLY_BYTES"));
        }
        self.written += bytes.len();
        self.inner.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What the estimate needs to know of one field of the schema.
#[derive(Debug, Clone)]
struct FieldInfo {
    /// The named type it returns (under any list and non-null wrappers).
    ty: String,
    /// Whether it returns a list.
    list: bool,
    /// The size arguments it takes, with their declared defaults.
    sizes: Vec<(String, Option<u64>)>,
}

/// The schema's fields, by type, as the reply estimate reads them. Built once from the SDL.
#[derive(Debug, Default)]
pub struct CostModel {
    fields: HashMap<String, HashMap<String, FieldInfo>>,
    roots: [String; 3],
    list_cap: u64,
    /// The schema's introspection graph, for `__schema` and `__type`.
    introspection: IntrospectionModel,
}

fn size_of(value: &ConstValue) -> Option<u64> {
    match value {
        ConstValue::Number(number) => number
            .as_i64()
            .map(i64::unsigned_abs)
            .or_else(|| number.as_f64().filter(|n| n.is_finite()).map(|n| n.abs() as u64)),
        _ => None,
    }
}

impl CostModel {
    /// The model of the schema whose SDL is `sdl`; plain lists are capped at `list_cap` items.
    pub fn from_sdl(sdl: &str, list_cap: usize) -> CostModel {
        let mut model = CostModel {
            fields: HashMap::new(),
            roots: ["Query".to_owned(), "Mutation".to_owned(), "Subscription".to_owned()],
            list_cap: u64::try_from(list_cap).unwrap_or(u64::MAX),
            introspection: IntrospectionModel::default(),
        };
        let Ok(document): Result<ServiceDocument, _> = async_graphql::parser::parse_schema(sdl) else {
            tracing::error!("the schema's SDL does not parse: replies are not estimated");
            return model;
        };
        for definition in &document.definitions {
            if let TypeSystemDefinition::Schema(schema) = definition {
                let schema = &schema.node;
                for (slot, name) in [&schema.query, &schema.mutation, &schema.subscription].into_iter().enumerate() {
                    if let Some(name) = name {
                        model.roots[slot] = name.node.to_string();
                    }
                }
            }
        }
        model.introspection = IntrospectionModel::new(&document, &model.roots);
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(_) => {}
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    let fields = match definition.kind {
                        TypeKind::Object(object) => object.fields,
                        TypeKind::Interface(interface) => interface.fields,
                        _ => continue,
                    };
                    let fields = fields
                        .into_iter()
                        .map(|field| {
                            let field = field.node;
                            let mut ty = &field.ty.node;
                            let mut list = false;
                            while let async_graphql::parser::types::BaseType::List(inner) = &ty.base {
                                list = true;
                                ty = inner;
                            }
                            let named = match &ty.base {
                                async_graphql::parser::types::BaseType::Named(name) => name.to_string(),
                                async_graphql::parser::types::BaseType::List(_) => String::new(),
                            };
                            let sizes = field
                                .arguments
                                .iter()
                                .filter(|argument| SIZE_ARGUMENTS.contains(&argument.node.name.node.as_str()))
                                .map(|argument| {
                                    let default = argument.node.default_value.as_ref().and_then(|v| size_of(&v.node));
                                    (argument.node.name.node.to_string(), default)
                                })
                                .collect();
                            (field.name.node.to_string(), FieldInfo { ty: named, list, sizes })
                        })
                        .collect();
                    model.fields.insert(definition.name.node.to_string(), fields);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        model
    }

    /// The objects and list items the operation `operation_name` selects in `document` could return,
    /// saturating (see [`CostModel::sizes`]).
    pub fn estimate(&self, document: &ExecutableDocument, operation_name: Option<&str>, variables: &Variables) -> u64 {
        self.sizes(document, operation_name, variables).objects
    }

    /// The objects the introspection of one operation may return
    /// (`crate::graphql::introspection_cost::IntrospectionModel::allowance`).
    pub fn introspection_allowance(&self) -> u64 {
        self.introspection.allowance()
    }

    /// The objects and list items the operation `operation_name` selects in `document` could return, and
    /// how many of them its introspection fields return (exactly), saturating. Fragments are sized once
    /// each, in dependency order (cycles were refused before).
    pub fn sizes(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Estimate {
        let operation = match (&document.operations, operation_name) {
            (DocumentOperations::Single(operation), _) => Some(operation),
            (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
            (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations.values().next(),
            (DocumentOperations::Multiple(_), None) => None,
        };
        let Some(operation) = operation else { return Estimate::default() };
        let root = match operation.node.ty {
            OperationType::Query => &self.roots[0],
            OperationType::Mutation => &self.roots[1],
            OperationType::Subscription => &self.roots[2],
        };
        let introspection = RefCell::new(IntrospectionWalk::new(&self.introspection, document, variables));
        let mut walk = Walk { model: self, variables, fragments: HashMap::new(), introspection };
        for name in fragment_order(document) {
            let cost = document
                .fragments
                .get(name)
                .map(|fragment| {
                    let FragmentDefinition { type_condition, selection_set, .. } = &fragment.node;
                    walk.set(&selection_set.node, type_condition.node.on.node.as_str(), None)
                })
                .unwrap_or_default();
            walk.fragments.insert(name, cost);
        }
        let objects = walk.set(&operation.node.selection_set.node, root, None);
        Estimate { objects, introspection: walk.introspection.borrow().returned() }
    }
}

/// What [`CostModel::sizes`] finds of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Objects and list items the whole reply could hold.
    pub objects: u64,
    /// Of them, those its introspection fields (`__schema`, `__type`) return, exactly.
    pub introspection: u64,
}

struct Walk<'a> {
    model: &'a CostModel,
    variables: &'a Variables,
    /// Each fragment's cost, by name (computed before any selection spreads it).
    fragments: HashMap<&'a str, u64>,
    /// The operation's introspection fields, sized exactly.
    introspection: RefCell<IntrospectionWalk<'a>>,
}

impl<'a> Walk<'a> {
    /// The size a size argument asks for (a literal, or a variable's value), if it is given.
    fn argument_size(&self, value: &InputValue) -> Option<u64> {
        match value {
            InputValue::Variable(name) => self.variables.get(name).and_then(size_of),
            other => other.clone().into_const().as_ref().and_then(size_of),
        }
    }

    /// The cost of `set` on type `ty`; `pending` is the size a connection's arguments gave to the lists
    /// directly inside it (`edges`, `nodes`).
    fn set(&self, set: &SelectionSet, ty: &str, pending: Option<u64>) -> u64 {
        let fields = self.model.fields.get(ty);
        let mut total = 0u64;
        for selection in &set.items {
            let cost = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    if ty == self.model.roots[0] && name.starts_with("__") {
                        let exact = self.introspection.borrow_mut().root_field(
                            name,
                            &field.arguments,
                            &field.selection_set.node,
                        );
                        if let Some(cost) = exact {
                            total = total.saturating_add(cost);
                            continue;
                        }
                    }
                    let Some(info) = fields.and_then(|fields| fields.get(name)) else {
                        // `__typename`, or a field validation will refuse.
                        continue;
                    };
                    let asked = info.sizes.iter().find_map(|(name, default)| {
                        let given = field
                            .arguments
                            .iter()
                            .find(|(argument, _)| argument.node.as_str() == name)
                            .and_then(|(_, value)| self.argument_size(&value.node));
                        given.or(*default)
                    });
                    let asked = asked.map(|size| size.min(self.model.list_cap));
                    let composite = self.model.fields.contains_key(&info.ty);
                    if info.list {
                        let items = asked.or(pending).unwrap_or(ASSUMED_LIST_SIZE.min(self.model.list_cap));
                        let each = if composite {
                            1u64.saturating_add(self.set(&field.selection_set.node, &info.ty, None))
                        } else {
                            1
                        };
                        items.saturating_mul(each)
                    } else if composite {
                        1u64.saturating_add(self.set(&field.selection_set.node, &info.ty, asked))
                    } else {
                        0
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let on = fragment.node.type_condition.as_ref().map(|condition| condition.node.on.node.as_str());
                    self.set(&fragment.node.selection_set.node, on.unwrap_or(ty), pending)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragments.get(spread.node.fragment_name.node.as_str()).copied().unwrap_or_default()
                }
            };
            total = total.saturating_add(cost);
        }
        total
    }
}

/// The document's fragments, each after every fragment it spreads (post-order, without recursion).
fn fragment_order(document: &ExecutableDocument) -> Vec<&str> {
    fn spreads<'d>(set: &'d SelectionSet, out: &mut Vec<&'d str>) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => spreads(&field.node.selection_set.node, out),
                Selection::InlineFragment(fragment) => spreads(&fragment.node.selection_set.node, out),
                Selection::FragmentSpread(spread) => out.push(spread.node.fragment_name.node.as_str()),
            }
        }
    }
    let children: HashMap<&str, Vec<&str>> = document
        .fragments
        .iter()
        .map(|(name, fragment)| {
            let mut out = Vec::new();
            spreads(&fragment.node.selection_set.node, &mut out);
            (name.as_str(), out)
        })
        .collect();
    let mut order = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for root in document.fragments.keys().map(Name::as_str) {
        if !seen.insert(root) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        while let Some((name, next)) = stack.last_mut() {
            let name = *name;
            match children.get(name).and_then(|c| c.get(*next)) {
                Some(&child) => {
                    *next += 1;
                    if children.contains_key(child) && seen.insert(child) {
                        stack.push((child, 0));
                    }
                }
                None => {
                    order.push(name);
                    stack.pop();
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Query { self: User workspaces: [Workspace!]! page(take: Int): [Workspace!]! events(first: Int = 50): Conn! }
        type User { id: ID! roleBindings: [Binding!]! emails: [String!]! }
        type Binding { role: String workspace: Workspace }
        type Workspace { id: ID! users: [User!]! }
        type Conn { edges: [Edge!]! total: Int }
        type Edge { node: User }
    "#;

    fn estimate(query: &str, variables: serde_json::Value) -> u64 {
        let model = CostModel::from_sdl(SDL, 1000);
        let document = async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{e}"));
        model.estimate(&document, None, &Variables::from_json(variables))
    }

    #[test]
    fn lists_count_at_the_size_asked_else_the_assumed_size() {
        assert_eq!(estimate("{ self { id } }", serde_json::json!({})), 1);
        assert_eq!(estimate("{ workspaces { id } }", serde_json::json!({})), 20);
        assert_eq!(estimate("{ workspaces { users { emails } } }", serde_json::json!({})), 20 * (1 + 20 * (1 + 20)));
        assert_eq!(estimate("{ page(take: 3) { id } }", serde_json::json!({})), 3);
        assert_eq!(estimate("query($n: Int) { page(take: $n) { id } }", serde_json::json!({"n": -7})), 7);
        assert_eq!(estimate("{ page(take: 1000000) { id } }", serde_json::json!({})), 1000, "at most the cap");
        // A connection's size applies to its edges; its declared default when absent.
        assert_eq!(estimate("{ events(first: 2) { total edges { node { id } } } }", serde_json::json!({})), 1 + 2 * 2);
        assert_eq!(estimate("{ events { edges { node { id } } } }", serde_json::json!({})), 1 + 50 * 2);
        let fragments = "{ workspaces { ...W } } fragment W on Workspace { users { ...U } } fragment U on User { id }";
        assert_eq!(estimate(fragments, serde_json::json!({})), 20 * (1 + 20));
    }

    #[test]
    fn fan_out_through_relations_multiplies() {
        let mut query = String::from("{ self { id } }");
        for _ in 0..5 {
            query = query.replacen("{ id }", "{ roleBindings { workspace { users { id } } } }", 1);
        }
        assert!(estimate(&query, serde_json::json!({})) > 1_000_000_000);
    }

    #[test]
    fn objects_are_counted_at_every_depth_and_writes_are_bounded() {
        let value = Value::from_json(serde_json::json!({"a": [{"b": [1, 2, 3]}, {"b": []}], "c": {"d": 1}}))
            .unwrap_or(Value::Null);
        // data, two list items (objects), three scalar items, c.
        assert_eq!(count_objects(&value, 100), 1 + 2 + 3 + 1);
        use std::io::Write;
        let mut writer = LimitedWriter::new(Vec::new(), 4);
        assert!(writer.write_all(b"abcd").is_ok());
        assert!(writer.write_all(b"e").is_err() && writer.exceeded);
    }
}
