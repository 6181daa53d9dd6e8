//! What kind of operation a GraphQL document selects, told from its tokens before it is parsed: whether
//! a request may be served from the read standby, and the `type` label of its metrics.
//!
//! Only the top level of the document is read: each definition starts with `query`, `mutation`,
//! `subscription`, `fragment` or `{` (an anonymous query); the operation chosen is the one named by
//! `operationName`, or the only one. Anything unexpected answers `None`, which callers treat as "may
//! write" (the primary serves it; the executor reports what is wrong with the document).

use apollo_parser::{Lexer, TokenKind};

/// The type of the operation a request selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationType {
    /// `query` or `{ … }`.
    Query,
    /// `mutation`.
    Mutation,
    /// `subscription`.
    Subscription,
}

/// Tokens read at most (the document limits refuse longer documents anyway).
const MAX_TOKENS: usize = 100_000;

/// Where the reader stands at the top level of the document.
#[derive(Clone, Copy)]
enum At {
    /// Between definitions.
    Start,
    /// In an operation's header (keyword, name, variables, directives), before its selection set.
    Header { kind: OperationType, counted: bool },
    /// In a fragment's (or an unknown definition's) header.
    Other,
    /// Inside a definition's selection set.
    Body,
}

/// The operation a request selects: its type and, when it has one, its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation<'a> {
    /// Query, mutation or subscription.
    pub kind: OperationType,
    /// The name written in the document.
    pub name: Option<&'a str>,
}

/// The type of the operation that `operation_name` (or, when `None`, the document's only operation)
/// selects in `document`; `None` when that cannot be told.
pub fn operation_type(document: &str, operation_name: Option<&str>) -> Option<OperationType> {
    operation(document, operation_name).map(|found| found.kind)
}

/// The operation that `operation_name` (or, when `None`, the document's only operation) selects in
/// `document`; `None` when that cannot be told.
pub fn operation<'a>(document: &'a str, operation_name: Option<&str>) -> Option<Operation<'a>> {
    let mut depth = 0usize;
    let mut at = At::Start;
    let mut after_directive_sign = false;
    let mut found: Option<Operation<'a>> = None;
    let mut operations = 0usize;
    for (index, token) in Lexer::new(document).enumerate() {
        if index > MAX_TOKENS {
            return None;
        }
        let Ok(token) = token else { return None };
        let kind = token.kind();
        if matches!(kind, TokenKind::Whitespace | TokenKind::Comment | TokenKind::Comma) {
            continue;
        }
        let directive_name = std::mem::replace(&mut after_directive_sign, kind == TokenKind::At);
        match kind {
            TokenKind::Eof => break,
            TokenKind::LCurly | TokenKind::LBracket | TokenKind::LParen => {
                if depth == 0 && kind == TokenKind::LCurly {
                    match at {
                        At::Start => {
                            // An anonymous query: `{ … }`.
                            operations += 1;
                            if operation_name.is_none() {
                                found = Some(Operation { kind: OperationType::Query, name: None });
                            }
                        }
                        At::Header { kind, counted: false } => {
                            operations += 1;
                            if operation_name.is_none() {
                                found = Some(Operation { kind, name: None });
                            }
                        }
                        _ => {}
                    }
                    at = At::Body;
                }
                depth += 1;
            }
            TokenKind::RCurly | TokenKind::RBracket | TokenKind::RParen => {
                depth = depth.checked_sub(1)?;
                if depth == 0 && kind == TokenKind::RCurly && matches!(at, At::Body) {
                    at = At::Start;
                }
            }
            TokenKind::Name if depth == 0 && !directive_name => match at {
                At::Start => {
                    at = match token.data() {
                        "query" => At::Header { kind: OperationType::Query, counted: false },
                        "mutation" => At::Header { kind: OperationType::Mutation, counted: false },
                        "subscription" => At::Header { kind: OperationType::Subscription, counted: false },
                        // A fragment definition (or something the executor will refuse).
                        _ => At::Other,
                    };
                }
                At::Header { kind, counted: false } => {
                    // The operation's name.
                    operations += 1;
                    if operation_name.is_none_or(|wanted| wanted == token.data()) {
                        found = Some(Operation { kind, name: Some(token.data()) });
                    }
                    at = At::Header { kind, counted: true };
                }
                _ => {}
            },
            _ => {}
        }
    }
    match operation_name {
        Some(_) => found,
        None if operations == 1 => found,
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OperationType::*;

    #[test]
    fn operation_types_are_read_from_the_top_level() {
        let cases: &[(&str, Option<&str>, Option<OperationType>)] = &[
            ("{ self { id } }", None, Some(Query)),
            ("query { self { id } }", None, Some(Query)),
            ("query Me($x: Int = 1) @cached { self { id } }", None, Some(Query)),
            ("mutation { createToken(identity: \"a\", password: \"b\") { token { value } } }", None, Some(Mutation)),
            ("mutation Go { a }", None, Some(Mutation)),
            ("subscription S { deploymentStatus }", None, Some(Subscription)),
            // A fragment before the operation, and one after.
            ("fragment F on User { id } mutation M { a { ...F } }", None, Some(Mutation)),
            ("query Q { a { ...F } } fragment F on User { mutation }", None, Some(Query)),
            // Several operations: the one named.
            ("query A { a } mutation B { b }", Some("B"), Some(Mutation)),
            ("query A { a } mutation B { b }", Some("A"), Some(Query)),
            ("query A { a } mutation B { b }", None, None),
            ("query A { a }", Some("C"), None),
            // Default values with braces inside variable definitions.
            ("mutation M($p: In = {a: {b: 1}}) { a(p: $p) }", None, Some(Mutation)),
            // Comments and strings do not count.
            ("# mutation\n{ a(s: \"mutation { }\") }", None, Some(Query)),
            ("{ a", None, Some(Query)),
            ("query ($x: Int) @skip(if: true) { a }", None, Some(Query)),
            ("mutation @dir { a }", None, Some(Mutation)),
            ("mutation @dir { a } query Q { b }", Some("Q"), Some(Query)),
            ("}", None, None),
            ("", None, None),
        ];
        for (document, name, expected) in cases {
            assert_eq!(operation_type(document, *name), *expected, "{document} / {name:?}");
        }
        assert_eq!(operation("query Me { self { id } }", None).and_then(|found| found.name), Some("Me"));
        assert_eq!(operation("{ self { id } }", None).and_then(|found| found.name), None);
    }
}
