//! The GraphQL examples of the README and `docs/` are valid against the checked-in `schema.graphql`: every
//! operation of every ```graphql fence parses and validates (field and argument names, types, required
//! arguments), so an example a new user copies cannot name a field that does not exist or leave out a
//! required argument.

use crate::cli_documents::{checked_in_schema, validation_errors};

/// The contents of the ```graphql fences of `markdown`, with the line each starts on.
fn graphql_fences(markdown: &str) -> Vec<(usize, String)> {
    let mut fences = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match current.take() {
            None if trimmed.starts_with("```graphql") => current = Some((number + 2, String::new())),
            None => {}
            Some(fence) if trimmed.starts_with("```") => fences.push(fence),
            Some((start, mut text)) => {
                text.push_str(line);
                text.push('\n');
                current = Some((start, text));
            }
        }
    }
    fences
}

/// Splits a fence into its operations: each ends where its outermost selection set closes. Strings and
/// comments are skipped over, so braces inside them do not count.
fn operations(fence: &str) -> Vec<String> {
    let mut operations = Vec::new();
    let mut current = String::new();
    let (mut depth, mut in_string, mut in_comment, mut escaped) = (0i32, false, false, false);
    for c in fence.chars() {
        current.push(c);
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '#' => in_comment = true,
            '"' => in_string = true,
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth -= 1;
                if depth == 0 && c == '}' {
                    operations.push(std::mem::take(&mut current));
                }
            }
            _ => {}
        }
    }
    operations
}

#[test]
fn the_splitter_finds_each_operation() {
    let fence =
        "# 1. a comment with { a brace\nmutation { a(b: \"}\") { c } }\nquery($x: [Uuid!]) { d(e: $x) { f } }\n{ g }\n";
    let found = operations(fence);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[1].trim().starts_with("query($x"));
}

#[test]
fn the_check_refuses_what_the_old_tour_said() {
    // The organizations tour once created a dedicated cluster without its required `name`.
    let schema = checked_in_schema();
    let old = "mutation { createCluster(type: DEDICATED, organizationUuid: \"<org>\") { id } }";
    assert!(validation_errors(&schema, "old tour", old).is_some());
}

#[test]
fn every_graphql_example_of_the_readme_and_docs_validates_against_schema_graphql() {
    let schema = checked_in_schema();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = vec![std::path::PathBuf::from(root).join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(std::path::Path::new(root).join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);

    let (mut checked, mut failures) = (0, Vec::new());
    for file in &files {
        let markdown = std::fs::read_to_string(file).expect("markdown");
        let name = file.strip_prefix(root).unwrap_or(file).display().to_string();
        for (line, fence) in graphql_fences(&markdown) {
            for operation in operations(&fence) {
                checked += 1;
                if let Some(errors) = validation_errors(&schema, &format!("{name}:{line}"), &operation) {
                    failures.push(format!("{name} (fence at line {line}):\n{}\n{errors}", operation.trim()));
                }
            }
        }
    }
    assert!(checked >= 20, "the README's tours hold more examples than {checked}");
    assert!(failures.is_empty(), "examples that do not validate:\n\n{}", failures.join("\n\n"));
}
