//! The astro CLI's own client code against capcom: `tests/astro-cli` is a Go program built on the CLI's
//! `houston` package (from `../shared/astro-cli-client`, unchanged) that plays a CLI user's day through
//! every method of `houston.ClientInterface`, as the CLI's commands call them, and checks what the CLI
//! decodes. This test seeds a server, builds the program (Go in GOPATH mode, offline, from Debian's
//! packages) and fails with the program's report on any mismatch.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::common::TestApp;

const SETUP: &str = "../shared/astro-cli-client/setup.sh";

/// The shared client: `$ASTRO_CLI_CLIENT_DIR`, else the nearest `shared/astro-cli-client` above the
/// repository (the checkout's sibling `../shared`, also from a worktree nested deeper).
fn client_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ASTRO_CLI_CLIENT_DIR") {
        return PathBuf::from(dir);
    }
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    repository
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared").join("astro-cli-client"))
        .find(|dir| dir.join("src").is_dir())
        .unwrap_or_else(|| {
            panic!("the astro CLI's client is not found at ../shared/astro-cli-client (set ASTRO_CLI_CLIENT_DIR)")
        })
}

/// The GOPATH `setup.sh` prints: the client, the links it makes for `/vN` import paths, Debian's Go
/// libraries.
fn gopath(client: &Path) -> String {
    format!("{}:/var/tmp/astro-cli-client-links:/usr/share/gocode", client.display())
}

/// Builds `tests/astro-cli` into `out`; panics, saying how to install Go, when it is missing.
fn build(client: &Path, out: &Path) -> PathBuf {
    let installed = Command::new("go").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(
        installed
            && Path::new("/var/tmp/astro-cli-client-links/src").is_dir()
            && Path::new("/usr/share/gocode/src").is_dir(),
        "Go and the astro CLI client's libraries are not installed: run {SETUP} (as root; it installs Debian's \
         golang-go and the Go packages the client imports)"
    );
    let binary = out.join("astro-day");
    // A cache under the target dir keeps rebuilds to a few seconds.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("astro-cli-gocache");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("astro-cli"))
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOPATH", gopath(client))
        .env("GOCACHE", cache)
        .output()
        .expect("go build");
    assert!(
        built.status.success(),
        "building tests/astro-cli failed (is {SETUP} up to date?):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    binary
}

async fn seed(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let (root, root_id) = app.sign_up(email, password).await;
    let root = Some(root.as_str());
    let cluster = app.text("SELECT id::text AS t FROM clusters WHERE name = 'default'").await;
    let pool = app
        .gql(
            "mutation($c: Uuid!) { updateCluster(clusterUuid: $c, namespaces: [\"team-a\", \"team-b\", \"team-c\", \"team-d\"]) { id } }",
            json!({"c": cluster}),
            root,
        )
        .await;
    assert!(pool.get("errors").is_none(), "{pool}");
    let mut teams = Vec::new();
    for name in ["Analysts", "Engineers", "Ops"] {
        let made = app.gql("mutation($n: String!) { createTeam(name: $n) { id } }", json!({"n": name}), root).await;
        teams.push(made["data"]["createTeam"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_owned());
    }
    let joined = app
        .gql(
            "mutation($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }",
            json!({"t": teams[0], "u": root_id}),
            root,
        )
        .await;
    assert!(joined.get("errors").is_none(), "{joined}");
    (cluster, teams[0].clone())
}

#[tokio::test]
async fn the_astro_clis_own_client_gets_what_it_expects_from_every_method() {
    let client = client_dir();
    let out = tempfile::tempdir().expect("temp dir");
    let binary = {
        let (client, out) = (client.clone(), out.path().to_owned());
        tokio::task::spawn_blocking(move || build(&client, &out)).await.expect("build")
    };

    let app = TestApp::spawn_with(|config| config.public_signups = true).await;
    let (email, password) = ("admin@example.com", "correct horse battery");
    let (cluster, team) = seed(&app, email, password).await;

    // A fresh home: the program writes the astro config file there as `astro login` does.
    let home = tempfile::tempdir().expect("temp dir");
    let mut day = Command::new(&binary);
    day.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("ASTRO_HOME", home.path())
        .env("ASTRO_DAY_URL", &app.base)
        .env("ASTRO_DAY_EMAIL", email)
        .env("ASTRO_DAY_PASSWORD", password)
        .env("ASTRO_DAY_CLUSTER", &cluster)
        .env("ASTRO_DAY_TEAM", &team);
    let ran = tokio::task::spawn_blocking(move || day.output()).await.expect("join").expect("run astro-day");
    let report = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(
        ran.status.success(),
        "calls that did not come back as the astro CLI expects:\n{}\n(stderr: {})",
        report.lines().filter(|l| !l.starts_with("PASS")).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(report.contains("ClientInterface methods behaved as the CLI expects"), "{report}");
    println!("{report}");
    assert!(home.path().join(".astro").join("config.yaml").is_file(), "the config file is where the CLI keeps it");
}
