//! Property test over generated GraphQL documents and variables, sent to the real server as a system
//! administrator: whatever the document, the answer is JSON with HTTP 200, never INTERNAL, within a
//! bounded time, and the server keeps serving.
//!
//! Documents are built from `schema.graphql`: root fields of Query and Mutation with arguments that are
//! well-typed, nearly well-typed (extreme numbers, NUL characters, unknown enum values, garbage ids) or
//! plainly wrong, passed as literals or as variables, with nested selections, aliases, fragments and
//! directives; now and then plain garbage text. proptest drives the choices (and shrinks a failure), from a
//! fixed seed unless `CAPCOM_FUZZ_RANDOM` is set; `CAPCOM_FUZZ_CASES` sets the number of documents (150).

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value, json};

use crate::common::TestApp;

struct Field {
    name: String,
    arguments: Vec<(String, Type)>,
    ty: Type,
}

enum Kind {
    Object(Vec<Field>),
    Input(Vec<(String, Type)>),
    Enum(Vec<String>),
    Abstract,
    Scalar,
}

fn load_schema() -> HashMap<String, Kind> {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let document = async_graphql::parser::parse_schema(sdl).unwrap();
    let mut kinds = HashMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else { continue };
        let definition = definition.node;
        let kind = match definition.kind {
            TypeKind::Object(object) => Kind::Object(
                object
                    .fields
                    .into_iter()
                    .map(|field| Field {
                        name: field.node.name.node.to_string(),
                        arguments: field
                            .node
                            .arguments
                            .into_iter()
                            .map(|argument| (argument.node.name.node.to_string(), argument.node.ty.node))
                            .collect(),
                        ty: field.node.ty.node,
                    })
                    .collect(),
            ),
            TypeKind::InputObject(input) => Kind::Input(
                input.fields.into_iter().map(|field| (field.node.name.node.to_string(), field.node.ty.node)).collect(),
            ),
            TypeKind::Enum(values) => {
                Kind::Enum(values.values.into_iter().map(|value| value.node.value.node.to_string()).collect())
            }
            TypeKind::Interface(_) | TypeKind::Union(_) => Kind::Abstract,
            TypeKind::Scalar => Kind::Scalar,
        };
        kinds.insert(definition.name.node.to_string(), kind);
    }
    kinds
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Turns proptest's numbers into choices.
struct Choices<'a> {
    numbers: &'a [u32],
    next: usize,
}

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let number = self.numbers.get(self.next % self.numbers.len().max(1)).copied().unwrap_or_default();
        self.next += 1;
        (number as usize).wrapping_add(self.next / self.numbers.len().max(1)) % n.max(1)
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.pick(one_in) == 0
    }
}

struct Generator<'a> {
    schema: &'a HashMap<String, Kind>,
    choices: Choices<'a>,
    ids: &'a [String],
    variables: serde_json::Map<String, Value>,
    declarations: Vec<String>,
}

const TEXTS: &[&str] = &[
    "",
    "a",
    "ada@example.com",
    "a\u{0}b",
    "é😀\u{202e}",
    "%_\\",
    "' OR 1=1 --",
    "deploy-1",
    "  spaced  ",
    "AIRFLOW__CORE__EXECUTOR",
    "CeleryExecutor",
];

impl Generator<'_> {
    fn text(&mut self) -> Value {
        match self.choices.pick(TEXTS.len() + 2) {
            n if n < TEXTS.len() => json!(TEXTS[n]),
            n if n == TEXTS.len() => json!("x".repeat(300)),
            _ => json!("y".repeat(5000)),
        }
    }

    /// A JSON value for `ty` (often right, sometimes wrong).
    fn value(&mut self, ty: &Type, depth: usize) -> Value {
        if self.choices.chance(10) {
            return [json!(null), json!(0), json!("x"), json!([]), json!({}), json!(1.5)][self.choices.pick(6)].clone();
        }
        if let BaseType::List(inner) = &ty.base {
            let count = self.choices.pick(4);
            return Value::Array((0..count).map(|_| self.value(inner, depth + 1)).collect());
        }
        match named(ty) {
            "Int" => json!([0, 1, -1, 2, 10, 1000, i32::MAX, i32::MIN, 3650, 256][self.choices.pick(10)]),
            "Float" => json!([0.0, -1.5, 1e300][self.choices.pick(3)]),
            "Boolean" => json!(self.choices.chance(2)),
            "String" => self.text(),
            "Uuid" | "Id" | "ID" => match self.choices.pick(5) {
                0 | 1 if !self.ids.is_empty() => json!(self.ids[self.choices.pick(self.ids.len())]),
                2 => json!(uuid::Uuid::new_v4().to_string()),
                3 => json!(""),
                _ => json!("not-a-uuid"),
            },
            "DateTime" => json!(
                ["2024-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "yesterday"]
                    [self.choices.pick(4)]
            ),
            "JSON" => match self.choices.pick(4) {
                0 => json!({"fullName": "Ada", "bio": "x\u{0}"}),
                1 => json!({"nested": {"deep": [1, 2, {"k": "v"}]}}),
                2 => json!({"label": "x", "description": "y", "username": "ada2"}),
                _ => json!("text"),
            },
            other => match self.schema.get(other) {
                Some(Kind::Enum(values)) => {
                    if self.choices.chance(6) {
                        json!("NOT_A_VALUE")
                    } else {
                        json!(values[self.choices.pick(values.len())])
                    }
                }
                Some(Kind::Input(fields)) if depth < 4 => {
                    let mut object = serde_json::Map::new();
                    for (name, field_ty) in fields {
                        if !field_ty.nullable || self.choices.chance(2) {
                            let value = self.value(field_ty, depth + 1);
                            object.insert(name.clone(), value);
                        }
                    }
                    Value::Object(object)
                }
                _ => json!(null),
            },
        }
    }

    /// `value` as a GraphQL literal.
    fn literal(value: &Value, ty: &Type, schema: &HashMap<String, Kind>) -> String {
        match value {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => match schema.get(named(ty)) {
                Some(Kind::Enum(_)) if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !s.is_empty() => {
                    s.clone()
                }
                _ => serde_json::to_string(s).unwrap_or_default(),
            },
            Value::Array(items) => {
                let inner = match &ty.base {
                    BaseType::List(inner) => inner.as_ref().clone(),
                    BaseType::Named(_) => ty.clone(),
                };
                format!(
                    "[{}]",
                    items.iter().map(|item| Self::literal(item, &inner, schema)).collect::<Vec<_>>().join(", ")
                )
            }
            Value::Object(fields) => {
                let field_types: HashMap<&str, &Type> = match schema.get(named(ty)) {
                    Some(Kind::Input(fields)) => fields.iter().map(|(name, ty)| (name.as_str(), ty)).collect(),
                    _ => HashMap::new(),
                };
                let rendered: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| {
                        let field_ty = field_types.get(name.as_str()).copied().cloned().unwrap_or_else(|| ty.clone());
                        format!("{name}: {}", Self::literal(value, &field_ty, schema))
                    })
                    .collect();
                format!("{{{}}}", rendered.join(", "))
            }
        }
    }

    fn arguments(&mut self, arguments: &[(String, Type)]) -> String {
        let mut rendered = Vec::new();
        for (name, ty) in arguments {
            if ty.nullable && self.choices.chance(2) {
                continue;
            }
            let value = self.value(ty, 0);
            if self.choices.chance(2) {
                let variable = format!("v{}", self.declarations.len());
                self.declarations.push(format!("${variable}: {ty}"));
                self.variables.insert(variable.clone(), value);
                rendered.push(format!("{name}: ${variable}"));
            } else {
                rendered.push(format!("{name}: {}", Self::literal(&value, ty, self.schema)));
            }
        }
        if rendered.is_empty() { String::new() } else { format!("({})", rendered.join(", ")) }
    }

    fn selection(&mut self, type_name: &str, depth: usize) -> String {
        let Some(Kind::Object(fields)) = self.schema.get(type_name) else { return "{ __typename }".to_owned() };
        let count = 1 + self.choices.pick(3);
        let mut parts = Vec::new();
        for n in 0..count {
            let field = &fields[self.choices.pick(fields.len())];
            let arguments = self.arguments(&field.arguments);
            let alias = if self.choices.chance(4) { format!("a{depth}_{n}: ") } else { String::new() };
            let directive = if self.choices.chance(8) { " @include(if: true)" } else { "" };
            let sub = match self.schema.get(named(&field.ty)) {
                Some(Kind::Object(_)) if depth < 3 => format!(" {}", self.selection(named(&field.ty), depth + 1)),
                Some(Kind::Object(_)) | Some(Kind::Abstract) => " { __typename }".to_owned(),
                _ => String::new(),
            };
            parts.push(format!("{alias}{}{arguments}{directive}{sub}", field.name));
        }
        format!("{{ {} }}", parts.join(" "))
    }

    fn document(&mut self) -> String {
        if self.choices.chance(12) {
            let junk = [
                "{ { {",
                "query {",
                "fragment F on Query { ...F }",
                "{ appConfig(x: [[[1]]]) }",
                "\u{0}",
                "{ a: b: c }",
            ];
            return junk[self.choices.pick(junk.len())].to_owned();
        }
        let root = if self.choices.chance(3) { "Mutation" } else { "Query" };
        let body = self.selection(root, 0);
        let operation = if root == "Mutation" { "mutation" } else { "query" };
        let declarations =
            if self.declarations.is_empty() { String::new() } else { format!("({})", self.declarations.join(", ")) };
        if self.choices.chance(5) {
            format!("{operation} Op{declarations} {{ ...Root }} fragment Root on {root} {body}")
        } else {
            format!("{operation} Op{declarations} {body}")
        }
    }
}

#[test]
fn generated_documents_never_crash_hang_or_answer_internal() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, token, ids) = runtime.block_on(async {
        let app = TestApp::spawn_with(|config| {
            config.public_signups = true;
            config.request_timeout_ms = 8_000;
        })
        .await;
        let (token, user) = app.sign_up("root@example.com", "correct horse battery").await;
        let workspace = app.create_workspace(&token, "Data").await;
        let deployment = app.create_deployment(&token, &workspace, "etl").await;
        let ids = vec![user, workspace, deployment["id"].as_str().unwrap().to_owned()];
        (app, token, ids)
    });
    let schema = load_schema();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let cases = std::env::var("CAPCOM_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(150);
    // A fixed seed keeps the suite reproducible; CAPCOM_FUZZ_RANDOM=1 explores new documents.
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = if std::env::var_os("CAPCOM_FUZZ_RANDOM").is_some() {
        TestRunner::new(config)
    } else {
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    };
    // How many documents got as far as execution (a test that only ever hits validation errors proves little).
    let executed = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&proptest::collection::vec(any::<u32>(), 16..128), |numbers| {
        let mut generator = Generator {
            schema: &schema,
            choices: Choices { numbers: &numbers, next: 0 },
            ids: &ids,
            variables: serde_json::Map::new(),
            declarations: Vec::new(),
        };
        let query = generator.document();
        let body = json!({"query": query, "variables": Value::Object(generator.variables)});
        let outcome: Result<(u16, Value), String> = runtime.block_on(async {
            let response = client
                .post(format!("{}/v1", app.base))
                .header("Authorization", &token)
                .json(&body)
                .send()
                .await
                .map_err(|error| format!("no answer within 15 s: {error}"))?;
            let status = response.status().as_u16();
            let reply = response.json::<Value>().await.map_err(|error| format!("not JSON: {error}"))?;
            Ok((status, reply))
        });
        let (status, reply) = outcome.map_err(|error| TestCaseError::fail(format!("{error}\n{body}")))?;
        prop_assert_eq!(status, 200, "{}\n{}", body, reply);
        let internal =
            reply["errors"].as_array().into_iter().flatten().any(|error| error["extensions"]["code"] == "INTERNAL");
        prop_assert!(!internal, "INTERNAL for\n{}\n{}", body, reply);
        if reply.get("data").is_some_and(|data| !data.is_null()) {
            executed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if std::env::var_os("CAPCOM_FUZZ_SHOW").is_some() {
            eprintln!("{body}\n  -> {}", reply.to_string().chars().take(300).collect::<String>());
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let executed = executed.into_inner();
    assert!(executed * 20 >= cases as usize, "only {executed} of {cases} documents were executed");
    let alive = runtime.block_on(app.gql("{ appConfig { version } }", json!({}), None));
    assert_eq!(alive["data"]["appConfig"]["version"], "2.1.0");
}
