//! `schema.graphql` is the exported SDL.

#[test]
fn schema_graphql_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = capcom::graphql::sdl();
    assert!(
        committed == current,
        "schema.graphql is stale. Regenerate it with:\n    cargo run -- export-schema > schema.graphql"
    );
}

/// Every root field of the schema has its row in the operation table (with the right root), and every row
/// names a field that exists: a field cannot be added without saying what it needs.
#[test]
fn every_root_field_is_in_the_operation_table() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    use capcom::rbac::operations::{OPERATIONS, Root, find};

    let document = async_graphql::parser::parse_schema(capcom::graphql::sdl()).expect("the SDL parses");
    let mut fields = Vec::new();
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else { continue };
        let root = match ty.node.name.node.as_str() {
            "Query" => Root::Query,
            "Mutation" => Root::Mutation,
            "Subscription" => Root::Subscription,
            _ => continue,
        };
        let TypeKind::Object(object) = &ty.node.kind else { continue };
        for field in &object.fields {
            fields.push((root, field.node.name.node.to_string()));
        }
    }
    assert!(fields.len() > 60, "the SDL's root fields were read: {fields:?}");
    for (root, name) in &fields {
        let operation = find(name).unwrap_or_else(|| panic!("{name} ({root:?}) has no row in rbac::operations"));
        assert_eq!(operation.root, *root, "{name} is listed under the wrong root");
    }
    for operation in OPERATIONS {
        assert!(
            fields.iter().any(|(root, name)| *root == operation.root && name == operation.field),
            "the operation table lists {}, which the schema does not have",
            operation.field
        );
    }
}
