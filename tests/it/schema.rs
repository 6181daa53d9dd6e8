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
