//! Supply chain (SPEC §7): no package in `Cargo.lock` has a known, unwithdrawn RustSec advisory, unless
//! `deny.toml` names the advisory with the reason it cannot reach capcom.
//!
//! The advisories are RustSec's own files (`crates/<name>/RUSTSEC-*.md`, TOML front matter in a fenced
//! block) from the copy of the database in `../shared/advisory-db` (or `$CAPCOM_ADVISORY_DB`). A locked
//! version is affected when it is in none of the advisory's `patched` and `unaffected` ranges (the
//! rules `cargo audit` and `cargo deny` apply; `unsound` and other informational advisories count too).
//! The check is a test so that CI (`.ci/run`, which runs `cargo test`) fails on a match without needing
//! `cargo deny` installed; `deny.toml` keeps cargo-deny's format so that it can read the same file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The advisory database: `$CAPCOM_ADVISORY_DB`, else the nearest `shared/advisory-db` above the
/// repository (the checkout's sibling `../shared`, also from a worktree nested deeper).
fn database() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAPCOM_ADVISORY_DB") {
        return PathBuf::from(dir);
    }
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    repository
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared").join("advisory-db"))
        .find(|dir| dir.join("crates").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "the RustSec advisory database is not found at ../shared/advisory-db (a directory holding \
                 crates/<name>/RUSTSEC-*.md); set CAPCOM_ADVISORY_DB to its path"
            )
        })
}

#[derive(Deserialize)]
struct Lock {
    package: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    /// Absent for the workspace's own packages, which no advisory is about.
    source: Option<String>,
}

#[derive(Deserialize)]
struct FrontMatter {
    advisory: Advisory,
    #[serde(default)]
    versions: Versions,
}

#[derive(Deserialize)]
struct Advisory {
    id: String,
    package: String,
    /// The date it was withdrawn, if it was.
    withdrawn: Option<toml::Value>,
    /// `unsound`, `unmaintained` or `notice` for informational advisories.
    informational: Option<String>,
}

#[derive(Deserialize, Default)]
struct Versions {
    #[serde(default)]
    patched: Vec<String>,
    #[serde(default)]
    unaffected: Vec<String>,
}

/// The front matter of a RustSec advisory file: the TOML in its first ```` ```toml ```` block.
fn front_matter(path: &Path) -> FrontMatter {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text.find("```toml").unwrap_or_else(|| panic!("{}: no ```toml block", path.display()));
    let body = &text[start + "```toml".len()..];
    let end = body.find("```").unwrap_or_else(|| panic!("{}: unterminated ```toml block", path.display()));
    toml::from_str(&body[..end]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `version` is in any of `ranges` (RustSec's requirements are Cargo's: `>= 1.2.3`, `^0.9`,
/// several comma-separated comparators for an interval).
fn in_any(version: &semver::Version, ranges: &[String], advisory: &str) -> bool {
    ranges.iter().any(|range| {
        let requirement = semver::VersionReq::parse(range)
            .unwrap_or_else(|e| panic!("{advisory}: the version range {range:?} does not parse: {e}"));
        requirement.matches(version)
    })
}

/// Every unwithdrawn advisory about a package of `names`: (id, package, informational kind, versions).
fn advisories_for(database: &Path, names: &BTreeSet<&str>) -> Vec<FrontMatter> {
    let mut found = Vec::new();
    for name in names {
        let dir = database.join("crates").join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|extension| extension != "md") {
                continue;
            }
            let front = front_matter(&path);
            assert_eq!(&front.advisory.package, name, "{}: filed under another package", path.display());
            if front.advisory.withdrawn.is_none() {
                found.push(front);
            }
        }
    }
    found
}

/// The exceptions `deny.toml` lists (`[advisories] ignore = [{ id, reason }]`), by id.
fn exceptions(repository: &Path) -> BTreeMap<String, String> {
    #[derive(Deserialize)]
    struct Deny {
        advisories: Option<Advisories>,
    }
    #[derive(Deserialize)]
    struct Advisories {
        #[serde(default)]
        ignore: Vec<Exception>,
    }
    #[derive(Deserialize)]
    struct Exception {
        id: String,
        reason: Option<String>,
    }
    let path = repository.join("deny.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let deny: Deny = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut exceptions = BTreeMap::new();
    for exception in deny.advisories.map(|a| a.ignore).unwrap_or_default() {
        let reason = exception.reason.unwrap_or_default();
        assert!(
            reason.trim().len() >= 40,
            "deny.toml: the exception for {} must say why the advisory cannot reach capcom",
            exception.id
        );
        assert!(exceptions.insert(exception.id.clone(), reason).is_none(), "deny.toml: {} listed twice", exception.id);
    }
    exceptions
}

#[test]
fn no_locked_package_has_an_unexplained_advisory() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let database = database();
    let lock_path = repository.join("Cargo.lock");
    let lock: Lock = toml::from_str(&std::fs::read_to_string(&lock_path).unwrap()).unwrap();
    let locked: Vec<(&str, semver::Version)> = lock
        .package
        .iter()
        .filter(|package| package.source.as_deref().is_some_and(|source| source.contains("crates.io")))
        .map(|package| {
            let version = semver::Version::parse(&package.version)
                .unwrap_or_else(|e| panic!("Cargo.lock: {} {}: {e}", package.name, package.version));
            (package.name.as_str(), version)
        })
        .collect();
    assert!(locked.len() > 100, "Cargo.lock lists only {} packages from crates.io", locked.len());
    let names: BTreeSet<&str> = locked.iter().map(|(name, _)| *name).collect();
    let advisories = advisories_for(&database, &names);

    // (advisory id, "crate version") for every locked version an advisory affects.
    let mut matches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    for front in &advisories {
        let id = &front.advisory.id;
        for (name, version) in locked.iter().filter(|(name, _)| *name == front.advisory.package) {
            let patched = in_any(version, &front.versions.patched, id);
            let unaffected = in_any(version, &front.versions.unaffected, id);
            if !patched && !unaffected {
                matches.entry(id.clone()).or_default().push(format!("{name} {version}"));
                let kind = front.advisory.informational.as_deref().unwrap_or("vulnerability");
                kinds.insert(id.clone(), kind.to_owned());
            }
        }
    }

    let exceptions = exceptions(repository);
    let unexplained: Vec<String> = matches
        .iter()
        .filter(|(id, _)| !exceptions.contains_key(*id))
        .map(|(id, packages)| format!("{} ({id}, {})", packages.join(", "), kinds[id]))
        .collect();
    assert!(
        unexplained.is_empty(),
        "locked packages with an unwithdrawn RustSec advisory ({}): upgrade them, or list the advisory in \
         deny.toml with why it cannot reach capcom:\n  {}",
        database.display(),
        unexplained.join("\n  ")
    );
    // An exception outlives its reason once the package is upgraded or the advisory withdrawn.
    let stale: Vec<&String> = exceptions.keys().filter(|id| !matches.contains_key(*id)).collect();
    assert!(
        stale.is_empty(),
        "deny.toml lists advisories that no locked package matches any more (remove them): {stale:?}"
    );
}

#[test]
fn the_check_reads_ranges_as_rustsec_writes_them() {
    let version = |text: &str| semver::Version::parse(text).unwrap();
    let ranges = |list: &[&str]| list.iter().map(|range| (*range).to_owned()).collect::<Vec<_>>();
    // An interval, a caret range with a space, and an open bound.
    let patched = ranges(&[">= 0.8.4, < 0.9.0", "^ 0.24.3", ">= 0.26.1"]);
    assert!(in_any(&version("0.8.9"), &patched, "test"));
    assert!(in_any(&version("0.24.9"), &patched, "test"));
    assert!(in_any(&version("0.26.3"), &patched, "test"));
    assert!(!in_any(&version("0.25.2"), &patched, "test"));
    assert!(!in_any(&version("0.9.0"), &patched, "test"));
    // Build metadata does not change a version's place.
    assert!(in_any(&version("0.9.12+spec-1.1.0"), &ranges(&[">= 0.9.0"]), "test"));
    // A fenced front matter parses, and a withdrawn advisory is recognised.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("RUSTSEC-0000-0000.md");
    std::fs::write(
        &path,
        "```toml\n[advisory]\nid = \"RUSTSEC-0000-0000\"\npackage = \"x\"\ndate = \"2026-01-01\"\n\
         withdrawn = \"2026-02-01\"\n\n[versions]\npatched = []\n```\n\n# Title\n",
    )
    .unwrap();
    let front = front_matter(&path);
    assert_eq!(front.advisory.id, "RUSTSEC-0000-0000");
    assert!(front.advisory.withdrawn.is_some() && front.versions.patched.is_empty());
}
