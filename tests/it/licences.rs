//! Supply chain (SPEC §7): every package capcom is built or tested with is under a licence `deny.toml`
//! allows, and no crate `deny.toml` bans is in the lock.
//!
//! This is cargo-deny's `licenses` and `bans` checks over the same `deny.toml`, without needing
//! `cargo deny` installed (CI runs it next to the advisory check, `tests/it/advisories.rs`):
//! - the packages and their `license` fields come from `cargo metadata --locked --offline` for the host
//!   platform (dev-dependencies and build tools included; packages only other platforms build are not
//!   downloaded offline, so not read);
//! - a licence is an SPDX expression (`OR` passes when one alternative is allowed, `AND` when all are,
//!   `WITH` names a licence with its exception, which is allowed only as written; the old `/` means `OR`);
//!   allowed are `[licenses] allow` and, for one crate, its `[licenses] exceptions` entry;
//! - a package with no `license` field but a `license-file` needs a `[[licenses.clarify]]` entry naming its
//!   version, the expression and the file's hash (cargo-deny's XXH32 of the file, line endings as `\n`):
//!   when the file changes the clarification no longer applies;
//! - every exception and clarification is preceded by a comment saying why (cargo-deny's format has no
//!   `reason` field there), and one that no longer applies to anything fails, like a stale advisory
//!   exception; so does an allowed licence no package uses;
//! - `[bans] deny` lists crates that must not be in the lock at all, or, with
//!   `deny-multiple-versions = true`, not in two versions; each ban says why in `reason`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    license: Option<String>,
    license_file: Option<String>,
    manifest_path: PathBuf,
}

#[derive(Deserialize)]
struct Deny {
    licenses: Licences,
    bans: Bans,
}

#[derive(Deserialize)]
struct Licences {
    allow: Vec<String>,
    #[serde(default)]
    exceptions: Vec<LicenceException>,
    #[serde(default)]
    clarify: Vec<Clarification>,
}

#[derive(Deserialize)]
struct LicenceException {
    #[serde(rename = "crate")]
    spec: String,
    allow: Vec<String>,
}

#[derive(Deserialize)]
struct Clarification {
    #[serde(rename = "crate")]
    spec: String,
    expression: String,
    #[serde(rename = "license-files")]
    license_files: Vec<FileSource>,
}

#[derive(Deserialize)]
struct FileSource {
    path: String,
    hash: u32,
}

#[derive(Deserialize)]
struct Bans {
    deny: Vec<Ban>,
}

#[derive(Deserialize)]
struct Ban {
    #[serde(rename = "crate")]
    spec: String,
    reason: Option<String>,
    #[serde(rename = "deny-multiple-versions", default)]
    deny_multiple_versions: bool,
}

/// Whether the crate spec of `deny.toml` (`name` or `name@version`) names `package`.
fn names(spec: &str, package: &Package) -> bool {
    match spec.split_once('@') {
        Some((name, version)) => name == package.name && version == package.version,
        None => spec == package.name,
    }
}

/// An SPDX licence expression.
#[derive(Debug, PartialEq)]
enum Expression {
    /// One licence, with its exception if any (`Apache-2.0 WITH LLVM-exception`).
    Licence(String),
    All(Vec<Expression>),
    Any(Vec<Expression>),
}

/// Parses an SPDX expression: `WITH` binds tighter than `AND`, which binds tighter than `OR`; parentheses
/// group; `/` is the `OR` of old crates' manifests.
fn parse(text: &str) -> Result<Expression, String> {
    let spaced = text.replace('(', " ( ").replace(')', " ) ").replace('/', " OR ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut at = 0;
    let expression = parse_any(&tokens, &mut at)?;
    if at != tokens.len() {
        return Err(format!("{text:?}: unexpected {:?}", tokens[at]));
    }
    Ok(expression)
}

fn parse_any(tokens: &[&str], at: &mut usize) -> Result<Expression, String> {
    let mut terms = vec![parse_all(tokens, at)?];
    while tokens.get(*at) == Some(&"OR") {
        *at += 1;
        terms.push(parse_all(tokens, at)?);
    }
    Ok(if terms.len() == 1 { terms.remove(0) } else { Expression::Any(terms) })
}

fn parse_all(tokens: &[&str], at: &mut usize) -> Result<Expression, String> {
    let mut terms = vec![parse_term(tokens, at)?];
    while tokens.get(*at) == Some(&"AND") {
        *at += 1;
        terms.push(parse_term(tokens, at)?);
    }
    Ok(if terms.len() == 1 { terms.remove(0) } else { Expression::All(terms) })
}

fn parse_term(tokens: &[&str], at: &mut usize) -> Result<Expression, String> {
    match tokens.get(*at) {
        Some(&"(") => {
            *at += 1;
            let inner = parse_any(tokens, at)?;
            if tokens.get(*at) != Some(&")") {
                return Err("unbalanced parentheses".to_owned());
            }
            *at += 1;
            Ok(inner)
        }
        Some(&id) if !["AND", "OR", "WITH", ")"].contains(&id) => {
            *at += 1;
            if tokens.get(*at) == Some(&"WITH") {
                let exception = tokens.get(*at + 1).ok_or("WITH names no exception")?;
                *at += 2;
                return Ok(Expression::Licence(format!("{id} WITH {exception}")));
            }
            Ok(Expression::Licence(id.to_owned()))
        }
        other => Err(format!("a licence expected, found {other:?}")),
    }
}

impl Expression {
    fn allowed(&self, allow: &BTreeSet<&str>) -> bool {
        match self {
            Expression::Licence(licence) => allow.contains(licence.as_str()),
            Expression::All(terms) => terms.iter().all(|term| term.allowed(allow)),
            Expression::Any(terms) => terms.iter().any(|term| term.allowed(allow)),
        }
    }

    fn licences<'e>(&'e self, out: &mut BTreeSet<&'e str>) {
        match self {
            Expression::Licence(licence) => {
                out.insert(licence.as_str());
            }
            Expression::All(terms) | Expression::Any(terms) => terms.iter().for_each(|term| term.licences(out)),
        }
    }
}

/// XXH32 with seed 0 (the hash cargo-deny records for a clarified licence file).
fn xxh32(bytes: &[u8]) -> u32 {
    const P1: u32 = 2_654_435_761;
    const P2: u32 = 2_246_822_519;
    const P3: u32 = 3_266_489_917;
    const P4: u32 = 668_265_263;
    const P5: u32 = 374_761_393;
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let round = |acc: u32, input: u32| acc.wrapping_add(input.wrapping_mul(P2)).rotate_left(13).wrapping_mul(P1);
    let mut at = 0;
    let mut hash = if bytes.len() >= 16 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u32.wrapping_sub(P1)];
        while at + 16 <= bytes.len() {
            for (lane, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, word(at + 4 * lane));
            }
            at += 16;
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        P5
    };
    hash = hash.wrapping_add(bytes.len() as u32);
    while at + 4 <= bytes.len() {
        hash = hash.wrapping_add(word(at).wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
        at += 4;
    }
    for &byte in &bytes[at..] {
        hash = hash.wrapping_add(u32::from(byte).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    hash ^= hash >> 15;
    hash = hash.wrapping_mul(P2);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(P3);
    hash ^ (hash >> 16)
}

/// A licence file's hash as cargo-deny computes it: every line ends with `\n` alone.
fn licence_file_hash(path: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    let normalised: String = text.lines().map(|line| format!("{}\n", line.trim_end_matches('\r'))).collect();
    Some(xxh32(normalised.as_bytes()))
}

/// The comment lines right above the entry naming `spec` in `deny.toml` (table headers skipped), joined.
fn comment_above(text: &str, spec: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let needle = format!("crate = \"{spec}\"");
    let Some(index) = lines.iter().position(|line| line.contains(&needle)) else { return String::new() };
    let mut comment = Vec::new();
    for line in lines[..index].iter().rev().map(|line| line.trim()) {
        if line.starts_with("[[") {
            continue;
        }
        match line.strip_prefix('#') {
            Some(text) => comment.push(text.trim()),
            None => break,
        }
    }
    comment.reverse();
    comment.join(" ")
}

/// The platform cargo builds for here (`rustc -vV`'s host).
fn host() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc).arg("-vV").output().unwrap_or_else(|e| panic!("{rustc} -vV: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    let host = text.lines().find_map(|line| line.strip_prefix("host: "));
    host.unwrap_or_else(|| panic!("{rustc} -vV names no host:\n{text}")).to_owned()
}

/// Every package of the lock for the host platform, as `cargo metadata --locked --offline` reads them.
fn packages(repository: &Path) -> Vec<Package> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let output = Command::new(&cargo)
        .current_dir(repository)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform"])
        .arg(host())
        .output()
        .unwrap_or_else(|e| panic!("cargo metadata: {e}"));
    assert!(output.status.success(), "cargo metadata failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Metadata = serde_json::from_slice(&output.stdout).unwrap();
    metadata.packages
}

fn deny(repository: &Path) -> (Deny, String) {
    let path = repository.join("deny.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let deny: Deny = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (deny, text)
}

#[test]
fn every_locked_package_has_an_allowed_licence() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (deny, text) = deny(repository);
    let packages = packages(repository);
    assert!(packages.len() > 100, "cargo metadata lists only {} packages", packages.len());
    let allow: BTreeSet<&str> = deny.licenses.allow.iter().map(String::as_str).collect();
    for spec in deny.licenses.exceptions.iter().map(|e| &e.spec).chain(deny.licenses.clarify.iter().map(|c| &c.spec)) {
        assert!(
            comment_above(&text, spec).len() >= 40,
            "deny.toml: the licence exception or clarification for {spec} must say why, in a comment right above it"
        );
    }

    let mut refused = Vec::new();
    let mut encountered: BTreeSet<String> = BTreeSet::new();
    let mut exceptions_used: BTreeSet<&str> = BTreeSet::new();
    let mut clarifications_used: BTreeSet<&str> = BTreeSet::new();
    for package in &packages {
        let who = format!("{} {}", package.name, package.version);
        let expression = match (&package.license, &package.license_file) {
            (Some(licence), _) => licence.clone(),
            (None, file) => {
                let clarified = deny.licenses.clarify.iter().find(|c| names(&c.spec, package)).filter(|c| {
                    let root = package.manifest_path.parent().unwrap();
                    c.license_files.iter().all(|f| licence_file_hash(&root.join(&f.path)) == Some(f.hash))
                });
                match clarified {
                    Some(clarification) => {
                        clarifications_used.insert(clarification.spec.as_str());
                        clarification.expression.clone()
                    }
                    None => {
                        refused.push(format!(
                            "{who}: no `license` field (license-file {file:?}); add a [[licenses.clarify]] entry for \
                             {}@{} with the file's hash, after reading it",
                            package.name, package.version
                        ));
                        continue;
                    }
                }
            }
        };
        let parsed = match parse(&expression) {
            Ok(parsed) => parsed,
            Err(e) => {
                refused.push(format!("{who}: the licence {expression:?} does not parse: {e}"));
                continue;
            }
        };
        let mut licences = BTreeSet::new();
        parsed.licences(&mut licences);
        encountered.extend(licences.iter().map(|l| (*l).to_owned()));
        if parsed.allowed(&allow) {
            continue;
        }
        let exception = deny.licenses.exceptions.iter().find(|e| names(&e.spec, package));
        let widened: BTreeSet<&str> =
            allow.iter().copied().chain(exception.iter().flat_map(|e| e.allow.iter().map(String::as_str))).collect();
        match exception {
            Some(exception) if parsed.allowed(&widened) => {
                exceptions_used.insert(exception.spec.as_str());
            }
            _ => refused.push(format!("{who}: {expression}")),
        }
    }
    assert!(
        refused.is_empty(),
        "packages whose licence deny.toml does not allow ([licenses] allow, exceptions, clarify):\n  {}",
        refused.join("\n  ")
    );
    let stale: Vec<&str> = deny
        .licenses
        .exceptions
        .iter()
        .map(|e| e.spec.as_str())
        .filter(|spec| !exceptions_used.contains(spec))
        .chain(deny.licenses.clarify.iter().map(|c| c.spec.as_str()).filter(|spec| !clarifications_used.contains(spec)))
        .collect();
    assert!(
        stale.is_empty(),
        "deny.toml: licence exceptions or clarifications that no package needs (remove them): {stale:?}"
    );
    let unused: Vec<&&str> = allow.iter().filter(|licence| !encountered.contains(**licence)).collect();
    assert!(unused.is_empty(), "deny.toml: allowed licences no package is under (remove them): {unused:?}");
}

#[test]
fn no_banned_crate_is_locked() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (deny, _) = deny(repository);
    let packages = packages(repository);
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for package in &packages {
        versions.entry(&package.name).or_default().insert(&package.version);
    }
    let mut found = Vec::new();
    for ban in &deny.bans.deny {
        let reason = ban.reason.as_deref().unwrap_or_default();
        assert!(reason.trim().len() >= 30, "deny.toml: the ban of {} must say why (reason)", ban.spec);
        let (name, version) = ban.spec.split_once('@').unwrap_or((ban.spec.as_str(), ""));
        let locked = versions.get(name).cloned().unwrap_or_default();
        if ban.deny_multiple_versions {
            if locked.len() > 1 {
                found.push(format!("{name} in {} versions ({locked:?}): {reason}", locked.len()));
            }
        } else if locked.iter().any(|v| version.is_empty() || *v == version) {
            found.push(format!("{name} {locked:?}: {reason}"));
        }
    }
    assert!(found.is_empty(), "banned crates in the lock (deny.toml [bans] deny):\n  {}", found.join("\n  "));
}

#[test]
fn licence_expressions_read_as_spdx_writes_them() {
    let allow: BTreeSet<&str> = ["MIT", "Apache-2.0", "ISC", "Apache-2.0 WITH LLVM-exception"].into_iter().collect();
    let allowed = |text: &str| parse(text).unwrap().allowed(&allow);
    assert!(allowed("MIT OR GPL-3.0-only"), "one alternative suffices");
    assert!(!allowed("MIT AND GPL-3.0-only"), "every conjunct is needed");
    assert!(allowed("ISC AND (Apache-2.0 OR ISC) AND (Apache-2.0 OR ISC OR MIT-0)"));
    assert!(!allowed("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(allowed("MIT/Apache-2.0") && allowed("Apache-2.0 / MIT") && allowed("MIT/X11"), "the old `/` is OR");
    assert!(allowed("Apache-2.0 WITH LLVM-exception OR GPL-2.0-only"));
    assert!(!allowed("GPL-2.0-only WITH Classpath-exception-2.0"), "an exception does not widen a licence");
    assert!(!allowed("BSD-3-Clause WITH LLVM-exception"));
    // AND binds tighter than OR.
    assert_eq!(
        parse("A OR B AND C").unwrap(),
        Expression::Any(vec![
            Expression::Licence("A".into()),
            Expression::All(vec![Expression::Licence("B".into()), Expression::Licence("C".into())]),
        ])
    );
    assert!(parse("(MIT").is_err() && parse("MIT OR").is_err() && parse("MIT Apache-2.0").is_err());
    // XXH32 reference values.
    assert_eq!(xxh32(b""), 0x02cc_5d05);
    assert_eq!(xxh32(b"abc"), 0x32d1_53ff);
    assert_eq!(xxh32(b"Nobody inspects the spammish repetition"), 0xe229_3b2f);
}
