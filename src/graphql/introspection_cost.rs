//! The exact size of an introspection reply, known before execution (SPEC §7: a request's cost is bounded
//! by what it returns).
//!
//! The schema is static, so what `__schema` and `__type(name:)` return is known in advance: an
//! [`IntrospectionModel`] holds the schema's introspection graph (each named type's fields with their
//! arguments and type references, input fields, enum values, interfaces, possible types; every type
//! reference as `NON_NULL`/`LIST` wrappers around a named type), built once from the SDL the reply
//! estimate already parses plus the introspection types themselves ([`INTRINSIC_SDL`]: `__Schema`,
//! `__Type`, `__Field`, `__InputValue`, `__EnumValue`, `__Directive`, the built-in scalars and
//! directives, as async-graphql exposes them).
//!
//! [`IntrospectionWalk`] then counts, for the selection a document makes, the objects and list items the
//! reply would hold, the way `crate::graphql::budget::count_objects` counts a real reply: each object
//! one, each list item that is not an object one, `null` nothing. Arguments such as `includeDeprecated`
//! are not read: every field, argument and value is counted (the larger answer). Each selection set is
//! sized once per object it applies to (memoised on the selection set and the type reference), so a
//! document nesting `fields { type { fields { type { … } } } }` costs work proportional to its size times
//! the schema's, while the count it gives grows as the reply would (saturating). The walk's own work is
//! capped ([`WORK_CAP`]); past it the answer is [`OVER_CAP`], and the request is refused at once.

use std::collections::HashMap;

use async_graphql::Variables;
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Selection, SelectionSet, ServiceDocument, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql_value::{ConstValue, Value as InputValue};

/// GraphiQL's standard introspection query (graphql-js `getIntrospectionQuery` with descriptions,
/// `specifiedByURL`, `isRepeatable`, the schema's description, deprecated arguments and `isOneOf`): what a
/// complete description of the schema is measured with.
pub const STANDARD_QUERY: &str = include_str!("introspection_query.graphql");

/// How many complete descriptions of the schema (GraphiQL's standard query) the introspection of one
/// request may return, all its operations (a batch) together. One is all an honest client asks for; the
/// attack of issue 22 (20 aliases of `__schema { types { fields { type { ofType { ofType { name } } } } } }`)
/// is eleven, and a batch of ten operations asking for the allowance each would be ten times it.
pub const DESCRIPTIONS_ALLOWED: u64 = 2;

/// The answer of a walk that passed [`WORK_CAP`]: more than any reply cap.
pub const OVER_CAP: u64 = u64::MAX;

/// The most steps (selections visited, list items summed) one operation's introspection estimate may
/// take. GraphiQL's standard introspection query of the capcom schema takes about 40 000; past the cap
/// the operation is refused as over the reply cap rather than sized further.
pub const WORK_CAP: u64 = 250_000;

/// Deepest nesting of selection sets and fragment spreads the walk follows (documents are limited to far
/// less before it runs; a deeper one is answered [`OVER_CAP`]).
const MAX_DEPTH: usize = 256;

/// The introspection types and the built-in scalars and directives, as async-graphql 7 exposes them (the
/// GraphQL specification's §4.5 schema, with `__Schema.description`, `__Type.specifiedByURL`,
/// `__Type.isOneOf` and `includeDeprecated` on argument and input-field lists). Definitions in the
/// served SDL take precedence over these.
pub const INTRINSIC_SDL: &str = r#"
scalar Boolean
scalar String
scalar Int
scalar Float
scalar ID
type __Schema {
  description: String!
  types: [__Type!]!
  queryType: __Type!
  mutationType: __Type
  subscriptionType: __Type
  directives: [__Directive!]!
}
type __Type {
  kind: __TypeKind!
  name: String
  description: String
  fields(includeDeprecated: Boolean! = false): [__Field!]
  interfaces: [__Type!]
  possibleTypes: [__Type!]
  enumValues(includeDeprecated: Boolean! = false): [__EnumValue!]
  inputFields(includeDeprecated: Boolean! = false): [__InputValue!]
  ofType: __Type
  specifiedByURL: String
  isOneOf: Boolean
}
type __Field {
  name: String!
  description: String
  args(includeDeprecated: Boolean! = false): [__InputValue!]!
  type: __Type!
  isDeprecated: Boolean!
  deprecationReason: String
}
type __InputValue {
  name: String!
  description: String
  type: __Type!
  defaultValue: String
  isDeprecated: Boolean!
  deprecationReason: String
}
type __EnumValue {
  name: String!
  description: String
  isDeprecated: Boolean!
  deprecationReason: String
}
type __Directive {
  name: String!
  description: String
  locations: [__DirectiveLocation!]!
  args(includeDeprecated: Boolean! = false): [__InputValue!]!
  isRepeatable: Boolean!
}
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
enum __DirectiveLocation {
  QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION
  SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT
  INPUT_FIELD_DEFINITION
}
directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @deprecated(reason: String = "No longer supported") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @specifiedBy(url: String!) on SCALAR
directive @oneOf on INPUT_OBJECT
"#;

/// A type reference, by index into [`IntrospectionModel::refs`]: a named type, or a wrapper around
/// another reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TypeRef {
    Named(usize),
    List(usize),
    NonNull(usize),
}

/// One field of an object or interface: its arguments' type references and its own.
#[derive(Debug, Default)]
struct FieldDef {
    args: Vec<usize>,
    ty: usize,
}

/// One named type, as introspection shows it (`None` where introspection answers `null`).
#[derive(Debug, Default)]
struct NamedType {
    name: String,
    /// Fields (objects and interfaces), indexes into [`IntrospectionModel::fields`].
    fields: Option<Vec<usize>>,
    /// Interfaces it implements (objects), as references.
    interfaces: Option<Vec<usize>>,
    /// Possible types (interfaces and unions), as references.
    possible_types: Option<Vec<usize>>,
    /// How many values (enums).
    enum_values: Option<u64>,
    /// Input fields' type references (input objects).
    input_fields: Option<Vec<usize>>,
    /// Type references its definition names (fields, arguments, members, input fields), for visibility.
    mentions: Vec<usize>,
}

/// One directive: how many locations, its arguments' type references.
#[derive(Debug)]
struct DirectiveDef {
    name: String,
    locations: u64,
    args: Vec<usize>,
}

/// The schema's introspection graph. Built once; read by every [`IntrospectionWalk`].
#[derive(Debug, Default)]
pub struct IntrospectionModel {
    types: Vec<NamedType>,
    by_name: HashMap<String, usize>,
    refs: Vec<TypeRef>,
    interned: HashMap<TypeRef, usize>,
    fields: Vec<FieldDef>,
    directives: Vec<DirectiveDef>,
    /// The types `__schema { types }` lists (reachable from the roots and the directives), as references.
    visible: Vec<usize>,
    /// The root types, as references.
    roots: [Option<usize>; 3],
    /// The type standing for a name no definition gives (none, in practice).
    unknown: Option<usize>,
    /// The objects of a complete description of the schema ([`STANDARD_QUERY`]'s reply).
    complete: u64,
}

/// The object kinds introspection returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Object {
    Schema,
    Type,
    Field,
    InputValue,
    EnumValue,
    Directive,
}

impl Object {
    fn type_name(self) -> &'static str {
        match self {
            Object::Schema => "__Schema",
            Object::Type => "__Type",
            Object::Field => "__Field",
            Object::InputValue => "__InputValue",
            Object::EnumValue => "__EnumValue",
            Object::Directive => "__Directive",
        }
    }
}

impl IntrospectionModel {
    /// The model of the schema `served` (its parsed SDL, whose root types are `roots`: query, mutation,
    /// subscription), with the introspection types of [`INTRINSIC_SDL`].
    pub fn new(served: &ServiceDocument, roots: &[String; 3]) -> IntrospectionModel {
        let mut model = IntrospectionModel::default();
        let intrinsic = async_graphql::parser::parse_schema(INTRINSIC_SDL).ok();
        let documents: Vec<&ServiceDocument> = std::iter::once(served).chain(intrinsic.as_ref()).collect();
        // Named types first (the served schema's win), so that every reference can be resolved.
        for document in &documents {
            for definition in &document.definitions {
                if let TypeSystemDefinition::Type(definition) = definition {
                    let name = definition.node.name.node.to_string();
                    if !model.by_name.contains_key(&name) {
                        let index = model.types.len();
                        model.types.push(NamedType { name: name.clone(), ..NamedType::default() });
                        model.by_name.insert(name, index);
                        model.refs.push(TypeRef::Named(index));
                    }
                }
            }
        }
        // Every name the SDL references is defined there or above; should one not be, it is one unlisted scalar.
        let unknown = model.types.len();
        model.types.push(NamedType::default());
        model.refs.push(TypeRef::Named(unknown));
        model.unknown = Some(unknown);
        let mut defined = vec![false; model.types.len()];
        let mut implementers: HashMap<String, Vec<usize>> = HashMap::new();
        let mut directive_names = std::collections::HashSet::new();
        for document in &documents {
            for definition in &document.definitions {
                match definition {
                    TypeSystemDefinition::Type(definition) => {
                        let definition = &definition.node;
                        let Some(&index) = model.by_name.get(definition.name.node.as_str()) else { continue };
                        if std::mem::replace(&mut defined[index], true) {
                            continue;
                        }
                        let mut mentions = Vec::new();
                        match &definition.kind {
                            TypeKind::Scalar => {}
                            TypeKind::Object(object) => {
                                let fields = model.fields_of(&object.fields, &mut mentions);
                                model.types[index].fields = Some(fields);
                                let interfaces = object
                                    .implements
                                    .iter()
                                    .filter_map(|name| model.by_name.get(name.node.as_str()).copied())
                                    .collect();
                                model.types[index].interfaces = Some(interfaces);
                                for interface in &object.implements {
                                    implementers.entry(interface.node.to_string()).or_default().push(index);
                                }
                            }
                            TypeKind::Interface(interface) => {
                                let fields = model.fields_of(&interface.fields, &mut mentions);
                                model.types[index].fields = Some(fields);
                                model.types[index].possible_types = Some(Vec::new());
                            }
                            TypeKind::Union(union) => {
                                let members: Vec<usize> = union
                                    .members
                                    .iter()
                                    .filter_map(|name| model.by_name.get(name.node.as_str()).copied())
                                    .collect();
                                mentions.extend(&members);
                                model.types[index].possible_types = Some(members);
                            }
                            TypeKind::Enum(enumeration) => {
                                model.types[index].enum_values =
                                    Some(u64::try_from(enumeration.values.len()).unwrap_or(u64::MAX));
                            }
                            TypeKind::InputObject(input) => {
                                let fields: Vec<usize> =
                                    input.fields.iter().map(|field| model.reference(&field.node.ty.node)).collect();
                                mentions.extend(&fields);
                                model.types[index].input_fields = Some(fields);
                            }
                        }
                        model.types[index].mentions.extend(mentions);
                    }
                    TypeSystemDefinition::Directive(directive) => {
                        let directive = &directive.node;
                        if !directive_names.insert(directive.name.node.to_string()) {
                            continue;
                        }
                        let args = directive.arguments.iter().map(|arg| model.reference(&arg.node.ty.node)).collect();
                        model.directives.push(DirectiveDef {
                            name: directive.name.node.to_string(),
                            locations: u64::try_from(directive.locations.len()).unwrap_or(u64::MAX),
                            args,
                        });
                    }
                    TypeSystemDefinition::Schema(_) => {}
                }
            }
        }
        // An interface's possible types are the objects that implement it (in name order, as listed).
        for (interface, mut objects) in implementers {
            let Some(&index) = model.by_name.get(&interface) else { continue };
            objects.sort_by(|a, b| model.types[*a].name.cmp(&model.types[*b].name));
            let ty = &mut model.types[index];
            if let Some(possible) = ty.possible_types.as_mut() {
                possible.extend(&objects);
                ty.mentions.extend(objects);
            }
        }
        model.directives.sort_by(|a, b| a.name.cmp(&b.name));
        for (slot, name) in roots.iter().enumerate() {
            model.roots[slot] = model.by_name.get(name).copied();
        }
        model.visible = model.reachable();
        model.complete = model.measure(STANDARD_QUERY);
        model
    }

    /// The objects the introspection fields of `query` (one operation, no variables) return.
    fn measure(&self, query: &str) -> u64 {
        let Ok(document) = async_graphql::parser::parse_query(query) else { return 0 };
        let variables = Variables::default();
        let mut walk = IntrospectionWalk::new(self, &document, &variables);
        for (_, operation) in document.operations.iter() {
            for selection in &operation.node.selection_set.node.items {
                if let Selection::Field(field) = &selection.node {
                    let field = &field.node;
                    walk.root_field(field.name.node.as_str(), &field.arguments, &field.selection_set.node);
                }
            }
        }
        walk.returned()
    }

    /// The objects the introspection of one request may return: [`DESCRIPTIONS_ALLOWED`] complete
    /// descriptions of the schema (each measured as GraphiQL's standard query).
    pub fn allowance(&self) -> u64 {
        self.complete.saturating_mul(DESCRIPTIONS_ALLOWED)
    }

    /// The fields of an object or interface (`__`-prefixed ones are not listed), adding the references
    /// they name to `mentions`.
    fn fields_of(
        &mut self,
        fields: &[async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>],
        mentions: &mut Vec<usize>,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        for field in fields {
            if field.node.name.node.starts_with("__") {
                continue;
            }
            let ty = self.reference(&field.node.ty.node);
            let args: Vec<usize> = field.node.arguments.iter().map(|arg| self.reference(&arg.node.ty.node)).collect();
            mentions.push(ty);
            mentions.extend(&args);
            out.push(self.fields.len());
            self.fields.push(FieldDef { args, ty });
        }
        out
    }

    /// The reference for `ty`, interned.
    fn reference(&mut self, ty: &Type) -> usize {
        let base = match &ty.base {
            BaseType::Named(name) => self.by_name.get(name.as_str()).copied().or(self.unknown).unwrap_or_default(),
            BaseType::List(inner) => {
                let inner = self.reference(inner);
                self.intern(TypeRef::List(inner))
            }
        };
        if ty.nullable { base } else { self.intern(TypeRef::NonNull(base)) }
    }

    fn intern(&mut self, reference: TypeRef) -> usize {
        if let Some(&index) = self.interned.get(&reference) {
            return index;
        }
        let index = self.refs.len();
        self.refs.push(reference);
        self.interned.insert(reference, index);
        index
    }

    /// The named type under reference `reference`.
    fn named(&self, mut reference: usize) -> Option<usize> {
        for _ in 0..=self.refs.len() {
            match self.refs.get(reference)? {
                TypeRef::Named(index) => return Some(*index),
                TypeRef::List(inner) | TypeRef::NonNull(inner) => reference = *inner,
            }
        }
        None
    }

    /// The named types introspection lists, in name order: those reachable from the root types (whose
    /// `__schema` and `__type(name: String!)` fields reach the introspection types) and from the
    /// directives' arguments, as async-graphql finds them.
    fn reachable(&self) -> Vec<usize> {
        let mut seen = vec![false; self.types.len()];
        let mut stack: Vec<usize> = self.roots.iter().flatten().copied().collect();
        if self.roots[0].is_some() {
            stack.extend(["__Schema", "__Type", "String"].iter().filter_map(|name| self.by_name.get(*name).copied()));
        }
        stack.extend(self.directives.iter().flat_map(|d| d.args.iter()).filter_map(|r| self.named(*r)));
        let visit = |stack: &mut Vec<usize>, seen: &mut Vec<bool>| {
            while let Some(index) = stack.pop() {
                if std::mem::replace(&mut seen[index], true) {
                    continue;
                }
                stack.extend(self.types[index].mentions.iter().filter_map(|r| self.named(*r)));
            }
        };
        visit(&mut stack, &mut seen);
        // An interface not reached itself is listed when one of its possible types is.
        let mut order: Vec<usize> = (0..self.types.len()).collect();
        order.sort_by(|a, b| self.types[*a].name.cmp(&self.types[*b].name));
        for &index in &order {
            let ty = &self.types[index];
            let implemented =
                ty.fields.is_some() && ty.possible_types.as_ref().is_some_and(|p| p.iter().any(|p| seen[*p]));
            if !seen[index] && implemented {
                stack.push(index);
                visit(&mut stack, &mut seen);
            }
        }
        // As async-graphql lists them: the introspection types and the built-in scalars always.
        let system = |name: &str| name.starts_with("__") || ["Boolean", "Int", "Float", "String", "ID"].contains(&name);
        order
            .into_iter()
            .filter(|index| (seen[*index] || system(&self.types[*index].name)) && Some(*index) != self.unknown)
            .collect()
    }

    /// Whether the model knows any type (the SDL parsed).
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// One operation's walk over its introspection fields: the memo and the work done, shared by every
/// `__schema`/`__type` of the operation (aliases and fragments included).
pub struct IntrospectionWalk<'a> {
    model: &'a IntrospectionModel,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    memo: HashMap<(usize, Object, usize), u64>,
    work: u64,
    depth: usize,
    /// The objects the root introspection fields walked so far return.
    returned: u64,
}

/// The walk passed its work cap or its depth.
struct OverCap;

impl<'a> IntrospectionWalk<'a> {
    /// A walk over `document`'s introspection fields, with `variables`.
    pub fn new(model: &'a IntrospectionModel, document: &'a ExecutableDocument, variables: &'a Variables) -> Self {
        IntrospectionWalk { model, document, variables, memo: HashMap::new(), work: 0, depth: 0, returned: 0 }
    }

    /// The objects and list items the query root's introspection field `field` (`__schema` or `__type`,
    /// with `arguments` and the selection `set`) returns, counting its own object; `None` for any other
    /// field. [`OVER_CAP`] once the walk passed its work cap.
    pub fn root_field(
        &mut self,
        field: &str,
        arguments: &[(async_graphql::Positioned<async_graphql::Name>, async_graphql::Positioned<InputValue>)],
        set: &SelectionSet,
    ) -> Option<u64> {
        if self.work > WORK_CAP {
            return matches!(field, "__schema" | "__type").then_some(OVER_CAP);
        }
        let cost = match field {
            "__schema" => self.set(set, Object::Schema, 0).map(|cost| cost.saturating_add(1)),
            "__type" => {
                let name =
                    arguments.iter().find(|(name, _)| name.node.as_str() == "name").and_then(|(_, value)| match &value
                        .node
                    {
                        InputValue::String(name) => Some(name.clone()),
                        InputValue::Variable(variable) => match self.variables.get(variable) {
                            Some(ConstValue::String(name)) => Some(name.clone()),
                            _ => None,
                        },
                        _ => None,
                    });
                let listed = name
                    .and_then(|name| self.model.by_name.get(&name).copied())
                    .filter(|index| self.model.visible.contains(index));
                match listed {
                    Some(index) => self.set(set, Object::Type, index).map(|cost| cost.saturating_add(1)),
                    None => Ok(0),
                }
            }
            _ => return None,
        };
        let cost = cost.unwrap_or_else(|OverCap| {
            self.work = WORK_CAP.saturating_add(1);
            OVER_CAP
        });
        self.returned = self.returned.saturating_add(cost);
        Some(cost)
    }

    /// The objects every root introspection field walked so far returns ([`OVER_CAP`] past the work cap).
    pub fn returned(&self) -> u64 {
        self.returned
    }

    fn step(&mut self, steps: usize) -> Result<(), OverCap> {
        self.work = self.work.saturating_add(u64::try_from(steps).unwrap_or(u64::MAX));
        if self.work > WORK_CAP { Err(OverCap) } else { Ok(()) }
    }

    /// The cost of `set` on the introspection object `object` identified by `item` (a type reference for
    /// `__Type` and `__InputValue`, a field for `__Field`, a directive for `__Directive`).
    fn set(&mut self, set: &SelectionSet, object: Object, item: usize) -> Result<u64, OverCap> {
        let key = (std::ptr::from_ref(set) as usize, object, item);
        if let Some(&cost) = self.memo.get(&key) {
            return Ok(cost);
        }
        self.step(set.items.len().max(1))?;
        if self.depth >= MAX_DEPTH {
            return Err(OverCap);
        }
        self.depth += 1;
        let cost = self.items(set, object, item);
        self.depth -= 1;
        let cost = cost?;
        self.memo.insert(key, cost);
        Ok(cost)
    }

    fn items(&mut self, set: &SelectionSet, object: Object, item: usize) -> Result<u64, OverCap> {
        let mut total = 0u64;
        for selection in &set.items {
            let cost = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.field(field.name.node.as_str(), &field.selection_set.node, object, item)?
                }
                Selection::InlineFragment(fragment) => {
                    let applies = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .is_none_or(|condition| condition.node.on.node.as_str() == object.type_name());
                    if applies { self.set(&fragment.node.selection_set.node, object, item)? } else { 0 }
                }
                Selection::FragmentSpread(spread) => {
                    let document = self.document;
                    match document.fragments.get(spread.node.fragment_name.node.as_str()) {
                        Some(fragment) if fragment.node.type_condition.node.on.node.as_str() == object.type_name() => {
                            self.set(&fragment.node.selection_set.node, object, item)?
                        }
                        _ => 0,
                    }
                }
            };
            total = total.saturating_add(cost);
        }
        Ok(total)
    }

    /// The objects each of `items` counts (one, plus `set` on it as `object`), summed.
    fn each(&mut self, set: &SelectionSet, object: Object, items: &[usize]) -> Result<u64, OverCap> {
        self.step(items.len())?;
        let mut total = 0u64;
        for &item in items {
            total = total.saturating_add(self.set(set, object, item)?.saturating_add(1));
        }
        Ok(total)
    }

    /// The cost of the field `name` (with selection `set`) of the introspection object `object`/`item`.
    fn field(&mut self, name: &str, set: &SelectionSet, object: Object, item: usize) -> Result<u64, OverCap> {
        let model = self.model;
        Ok(match (object, name) {
            (Object::Schema, "types") => self.each(set, Object::Type, &model.visible)?,
            (Object::Schema, "queryType") => {
                self.each(set, Object::Type, &model.roots[0..1].iter().flatten().copied().collect::<Vec<_>>())?
            }
            (Object::Schema, "mutationType") => {
                let root: Vec<usize> = model.roots[1].filter(|r| model.visible.contains(r)).into_iter().collect();
                self.each(set, Object::Type, &root)?
            }
            (Object::Schema, "subscriptionType") => {
                let root: Vec<usize> = model.roots[2].filter(|r| model.visible.contains(r)).into_iter().collect();
                self.each(set, Object::Type, &root)?
            }
            (Object::Schema, "directives") => {
                let directives: Vec<usize> = (0..model.directives.len()).collect();
                self.each(set, Object::Directive, &directives)?
            }
            (Object::Directive, "locations") => model.directives.get(item).map_or(0, |d| d.locations),
            (Object::Directive, "args") => match model.directives.get(item) {
                Some(directive) => self.each(set, Object::InputValue, &directive.args)?,
                None => 0,
            },
            (Object::Field, "args") => match model.fields.get(item) {
                Some(field) => self.each(set, Object::InputValue, &field.args)?,
                None => 0,
            },
            (Object::Field, "type") => match model.fields.get(item) {
                Some(field) => self.each(set, Object::Type, &[field.ty])?,
                None => 0,
            },
            (Object::InputValue, "type") => self.each(set, Object::Type, &[item])?,
            (Object::Type, name) => match model.refs.get(item) {
                Some(TypeRef::List(inner) | TypeRef::NonNull(inner)) if name == "ofType" => {
                    self.each(set, Object::Type, &[*inner])?
                }
                Some(TypeRef::List(_) | TypeRef::NonNull(_)) => 0,
                Some(TypeRef::Named(index)) => {
                    let Some(ty) = model.types.get(*index) else { return Ok(0) };
                    match name {
                        "fields" => match &ty.fields {
                            Some(fields) => self.each(set, Object::Field, fields)?,
                            None => 0,
                        },
                        "interfaces" => match &ty.interfaces {
                            Some(interfaces) => self.each(set, Object::Type, interfaces)?,
                            None => 0,
                        },
                        "possibleTypes" => match &ty.possible_types {
                            Some(possible) => self.each(set, Object::Type, possible)?,
                            None => 0,
                        },
                        "enumValues" => match ty.enum_values {
                            Some(values) => {
                                values.saturating_mul(self.set(set, Object::EnumValue, 0)?.saturating_add(1))
                            }
                            None => 0,
                        },
                        "inputFields" => match &ty.input_fields {
                            Some(fields) => self.each(set, Object::InputValue, fields)?,
                            None => 0,
                        },
                        _ => 0,
                    }
                }
                None => 0,
            },
            // Scalars, `__typename`, and fields validation refuses.
            _ => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use async_graphql::{Schema, Variables};

    use crate::graphql::budget::{CostModel, count_objects};
    use crate::graphql::mutation::Mutation;
    use crate::graphql::query::Query;
    use crate::graphql::subscription::Subscription;

    use super::STANDARD_QUERY as STANDARD;

    /// The one field of issue 22's attack, aliased.
    const ATTACK_FIELD: &str = "__schema { types { fields { type { ofType { ofType { name } } } } } }";

    fn model() -> CostModel {
        CostModel::from_sdl(&crate::graphql::schema::sdl(), 1000)
    }

    fn estimate(model: &CostModel, query: &str, variables: serde_json::Value) -> u64 {
        let document = async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{e}"));
        model.estimate(&document, None, &Variables::from_json(variables))
    }

    /// The objects and list items of the real reply to `query`, executed by the served schema.
    async fn real(query: &str, variables: serde_json::Value) -> usize {
        let schema = Schema::build(Query::default(), Mutation::default(), Subscription).finish();
        let request = async_graphql::Request::new(query).variables(Variables::from_json(variables));
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        count_objects(&response.data, usize::MAX)
    }

    #[tokio::test]
    async fn introspection_replies_are_sized_exactly() {
        let model = model();
        let cases = [
            (STANDARD, serde_json::json!({})),
            ("{ __schema { types { name fields { name } } } }", serde_json::json!({})),
            (
                "query($t: String!) { __type(name: $t) { fields { name type { name ofType { name ofType { name } } } } } }",
                serde_json::json!({"t": "Query"}),
            ),
            (
                "{ __type(name: \"__Type\") { fields { args { type { kind ofType { kind } } } } } }",
                serde_json::json!({}),
            ),
            ("{ __type(name: \"Nope\") { name } }", serde_json::json!({})),
            ("{ __schema { directives { locations args { type { ofType { name } } } } } }", serde_json::json!({})),
            (
                "{ __schema { queryType { name } mutationType { ...on __Type { fields { name } } } subscriptionType { name } } }",
                serde_json::json!({}),
            ),
            (
                "{ a: __schema { types { inputFields { type { name } } enumValues { name } interfaces { name } possibleTypes { name } } } \
                 b: __typename }",
                serde_json::json!({}),
            ),
        ];
        for (query, variables) in cases {
            let estimated = estimate(&model, query, variables.clone());
            let counted = real(query, variables).await;
            // The real count holds the reply's `data` object besides.
            assert_eq!(estimated + 1, u64::try_from(counted).unwrap(), "{query}");
        }
    }

    fn sizes(model: &CostModel, query: &str) -> crate::graphql::budget::Estimate {
        let document = async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{e}"));
        model.sizes(&document, None, &Variables::default())
    }

    #[test]
    fn the_standard_introspection_query_fits_with_room() {
        let model = model();
        let started = Instant::now();
        let standard = sizes(&model, STANDARD);
        let elapsed = started.elapsed();
        assert!(standard.objects > 1000, "the whole schema is counted: {standard:?}");
        assert_eq!(standard.objects, standard.introspection);
        assert_eq!(model.introspection_allowance(), super::DESCRIPTIONS_ALLOWED * standard.objects);
        assert!(standard.objects < 25_000, "half the default cap of 50 000 at most: {standard:?}");
        // What the integration tests and the capabilities check send fits too.
        let read_checks = "{ __schema { queryType { name } types { name kind enumValues { name } \
            inputFields { name type { ...T } } fields { name args { name type { ...T } } type { ...T } } } } } \
            fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";
        assert!(sizes(&model, read_checks).introspection < standard.objects);
        eprintln!("standard introspection query: {standard:?}, sized in {elapsed:?}");
    }

    #[test]
    fn issue_22_attacks_are_refused_and_sized_fast() {
        let model = model();
        let aliases: Vec<String> = (0..20).map(|n| format!("a{n}: {ATTACK_FIELD}")).collect();
        let started = Instant::now();
        let attack = sizes(&model, &format!("{{ {} }}", aliases.join(" ")));
        let elapsed = started.elapsed();
        assert!(attack.introspection > model.introspection_allowance(), "{attack:?}");
        eprintln!("20 aliases: {attack:?}, sized in {elapsed:?}");

        // Exponential nesting: each level multiplies by the fields of the types reached.
        let started = Instant::now();
        let estimated = estimate(&model, &nested_attack(10), serde_json::json!({}));
        let elapsed = started.elapsed();
        assert!(estimated > 1_000_000, "far over the cap of 50 000: {estimated}");
        eprintln!("nested: {estimated}, sized in {elapsed:?}");
    }

    /// `levels` fragments, each selecting the fields of the types under every field of the last.
    fn nested_attack(levels: usize) -> String {
        let mut document = format!("{{ __schema {{ types {{ ...F{levels} }} }} }} fragment F0 on __Type {{ name }}");
        for level in 1..=levels {
            let below = level - 1;
            document.push_str(&format!(
                " fragment F{level} on __Type {{ fields {{ type {{ ...F{below} ofType {{ ...F{below} ofType {{ ...F{below} }} }} }} }} }}"
            ));
        }
        document
    }

    #[test]
    fn the_walk_stops_at_its_work_cap() {
        let model = model();
        // Many distinct selection sets, each sized over every field of the schema.
        let aliases: Vec<String> =
            (0..2000).map(|n| format!("a{n}: __schema {{ types {{ fields {{ args {{ name }} }} }} }}")).collect();
        // The walk's work is bounded by its cap, not by a clock: past it the answer is OVER_CAP.
        let estimated = estimate(&model, &format!("{{ {} }}", aliases.join(" ")), serde_json::json!({}));
        assert_eq!(estimated, super::OVER_CAP);
    }
}
