//! `capcom seed`: data to try capcom with, made through the domain functions the API uses (sign-up,
//! workspaces, members, deployments, variables, deploys, API keys), so every rule and audit event applies.
//!
//! Profiles:
//! - `demo` (default): five people, three workspaces with members, four deployments with variables and a
//!   deploy each, two API keys. Passwords and keys are printed once.
//! - `bench`: the benchmark's data set (`bench/README.md`): 1 organization, 200 workspaces, 2 000
//!   deployments (10 per workspace, each with a deploy; 500 also with variables), 5 000 users, about 20 000
//!   role bindings, 100 API keys, 10 000 audit events; and the mid-size page's five workspaces (`Mid 1` …
//!   `Mid 5`: 11 members, 20 deployments and an API key each) with their member `bench-mid`. Users beyond
//!   the first three are created by [`crate::domain::users::import`] (one password hash for all, a
//!   thousand rows per statement) and members by [`crate::domain::workspaces::add_members`] (one
//!   transaction per workspace).
//!
//! A database that has users is refused unless `--force`, except one already seeded with the same
//! profile: seeding is idempotent (what exists, found by its email address, label or name, is kept; only
//! what is missing is made), so a second run changes nothing and prints the same counts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::principal::load_user;
use crate::db::models::bulk::{self, TableCounts};
use crate::domain::deployments::{NewDeploymentRequest, Policy};
use crate::domain::deploys::{DeployKind, DeployRequest, Deployer};
use crate::domain::service_accounts::{AccountScope, NewAccountRequest};
use crate::domain::users::{Person, SignUp, SignUpPolicy};
use crate::domain::variables::VariableInput;
use crate::domain::{Actor, Authority, deployments, deploys, service_accounts, users, variables, workspaces};
use crate::error::{ApiError, ApiResult};
use crate::rbac::Role;
use crate::state::AppState;

/// Which data set to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// A small organization to click through.
    Demo,
    /// The benchmark's data set.
    Bench,
}

impl Profile {
    /// The first account of the profile: its presence says the database was seeded with it.
    fn admin_email(self) -> &'static str {
        match self {
            Profile::Demo => "admin@example.com",
            Profile::Bench => "bench-admin@bench.example.com",
        }
    }
}

/// What `capcom seed` was asked.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// The data set.
    pub profile: Profile,
    /// Seed a database that already has (other) users.
    pub force: bool,
    /// Password of every account made (demo: generated when absent; bench: [`BENCH_PASSWORD`]).
    pub password: Option<String>,
}

/// Password of the bench profile's accounts unless `--password` says otherwise (the data set is public).
pub const BENCH_PASSWORD: &str = "capcom-bench-password";

/// What a seed did.
#[derive(Debug, Default)]
pub struct SeedReport {
    /// Accounts to sign in with: (email, what it is).
    pub accounts: Vec<(String, String)>,
    /// Their password, when this run set it (`None`: the accounts existed already).
    pub password: Option<String>,
    /// API keys made by this run: (what it is, key). Shown this once.
    pub keys: Vec<(String, String)>,
    /// Rows in the main tables afterwards.
    pub counts: TableCounts,
    /// Seconds the run took.
    pub seconds: f64,
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The database has users of its own and `--force` was not given.
    #[error(
        "this database already has users; capcom seed adds demo accounts with known passwords, so it runs only on \
         an empty database (or one it seeded) unless you pass --force"
    )]
    HasUsers,
    /// A domain rule refused something.
    #[error("{0}")]
    Api(#[from] ApiError),
}

fn random_password() -> ApiResult<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    Ok(bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect())
}

/// Seeds the database of `state` (migrated) with `options.profile`.
pub async fn run(state: &AppState, options: SeedOptions) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    let seeded_before = users::by_email(&mut conn, options.profile.admin_email()).await?.is_some();
    if !seeded_before && !users::installation_is_empty(&mut conn).await? && !options.force {
        return Err(SeedError::HasUsers);
    }
    drop(conn);
    let password = match (&options.password, options.profile) {
        (Some(password), _) => password.clone(),
        (None, Profile::Bench) => BENCH_PASSWORD.to_owned(),
        (None, Profile::Demo) => random_password()?,
    };
    let seeder = Seeder { state, password, made_accounts: false };
    let mut report = match options.profile {
        Profile::Demo => seeder.demo().await?,
        Profile::Bench => seeder.bench().await?,
    };
    let mut conn = state.pool.get().await.map_err(ApiError::from)?;
    report.counts = bulk::table_counts(&mut conn).await.map_err(ApiError::from)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

struct Seeder<'a> {
    state: &'a AppState,
    password: String,
    /// Whether this run made an account (so the password printed is theirs).
    made_accounts: bool,
}

/// The actor of everything a seed does as `user_id`.
fn actor(user_id: Uuid, label: &str) -> Actor {
    Actor { user_id: Some(user_id), label: label.to_owned(), request_id: Some("seed".into()), ..Actor::default() }
}

impl Seeder<'_> {
    async fn conn(&self) -> ApiResult<crate::db::DbConn> {
        Ok(self.state.pool.get().await?)
    }

    /// The account with `email`, signed up (through sign-up, as a person would) when missing.
    async fn account(&mut self, email: &str, full_name: &str) -> ApiResult<Uuid> {
        let mut conn = self.conn().await?;
        if let Some(user) = users::by_email(&mut conn, email).await? {
            return Ok(user.id);
        }
        let input = SignUp {
            email: email.to_owned(),
            password: self.password.clone(),
            profile: Some(serde_json::json!({"fullName": full_name})),
            ..SignUp::default()
        };
        // The operator seeds: sign-ups are open for this.
        let policy = SignUpPolicy {
            public_signups: true,
            claimed_domains_only: false,
            passwords: &self.state.passwords,
            matrix: &self.state.matrix,
        };
        let by = Actor { request_id: Some("seed".into()), label: "seed".into(), ..Actor::default() };
        let user = users::sign_up(&mut conn, input, policy, self.state.clock.now(), &by).await?;
        self.made_accounts = true;
        Ok(user.id)
    }

    async fn authority(&self, user_id: Uuid) -> ApiResult<Authority> {
        let mut conn = self.conn().await?;
        let user = load_user(&mut conn, &self.state.principals, user_id).await?.ok_or(ApiError::NotFound)?;
        Ok(Authority::new(Arc::new(Principal::User(user)), self.state.matrix.clone()))
    }

    fn policy(&self) -> Policy {
        Policy {
            namespace_prefix: self.state.config.namespace_prefix.clone(),
            manual_release_names: false,
            worker_max_ceiling: self.state.config.worker_max_ceiling,
        }
    }

    /// Workspaces by label.
    async fn workspaces(&self) -> ApiResult<HashMap<String, workspaces::Workspace>> {
        let mut conn = self.conn().await?;
        let all = workspaces::list(&mut conn, None, usize::MAX >> 1).await?;
        Ok(all.into_iter().map(|workspace| (workspace.label.clone(), workspace)).collect())
    }

    async fn workspace(
        &self,
        known: &mut HashMap<String, workspaces::Workspace>,
        label: &str,
        creator: Uuid,
    ) -> ApiResult<Uuid> {
        if let Some(found) = known.get(label) {
            return Ok(found.id);
        }
        let mut conn = self.conn().await?;
        let organization = crate::domain::organizations::default_locked(&mut conn).await?;
        let made =
            workspaces::create(&mut conn, organization.id, label, None, creator, &actor(creator, "seed")).await?;
        let id = made.id;
        known.insert(label.to_owned(), made);
        Ok(id)
    }

    /// Live deployment labels by workspace.
    async fn deployment_labels(&self) -> ApiResult<HashSet<(Uuid, String)>> {
        let mut conn = self.conn().await?;
        let all = deployments::list(&mut conn, None, None, usize::MAX >> 1).await?;
        Ok(all.into_iter().map(|d| (d.workspace_id, d.label)).collect())
    }

    /// Makes a deployment with a deploy and, when `with_variables`, three variables (one secret).
    async fn deployment(&self, workspace: Uuid, label: String, creator: Uuid, with_variables: bool) -> ApiResult<()> {
        let authority = self.authority(creator).await?;
        let mut conn = self.conn().await?;
        let by = actor(creator, "seed");
        let request = NewDeploymentRequest { workspace_id: workspace, label, ..NewDeploymentRequest::default() };
        let made = deployments::create(&mut conn, request, &self.policy(), &authority, &by).await?;
        if with_variables {
            let inputs = vec![
                VariableInput { key: "ENVIRONMENT".into(), value: "demo".into(), is_secret: false },
                VariableInput { key: "LOG_LEVEL".into(), value: "INFO".into(), is_secret: false },
                VariableInput { key: "WAREHOUSE_PASSWORD".into(), value: random_password()?, is_secret: true },
            ];
            variables::replace(&mut conn, made.id, inputs, &self.state.secrets, &by).await?;
        }
        let deploy = DeployRequest {
            kind: DeployKind::Image,
            tag: None,
            image: Some(format!("registry.example.com/{}:deploy-1", made.release_name)),
            bundle: None,
            description: Some("First deploy".into()),
        };
        deploys::create(&mut conn, made.id, deploy, Deployer::User(creator), &by).await?;
        Ok(())
    }

    /// Makes the deployments `jobs` lists (workspace, label, creator, variables?) that do not exist yet,
    /// a few at a time (each its own transaction, as the API would).
    async fn deployments(&self, jobs: Vec<(Uuid, String, Uuid, bool)>) -> ApiResult<usize> {
        let existing = self.deployment_labels().await?;
        let missing: Vec<_> = jobs
            .into_iter()
            .filter(|(workspace, label, _, _)| !existing.contains(&(*workspace, label.clone())))
            .collect();
        let count = missing.len();
        let parallel = self.state.config.pool_size.clamp(1, 4);
        stream::iter(missing)
            .map(|(workspace, label, creator, with_variables)| {
                self.deployment(workspace, label, creator, with_variables)
            })
            .buffer_unordered(parallel)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(count)
    }

    /// An API key labelled `label` in `workspace`, made by `creator` unless one exists; the key when made.
    async fn workspace_key(
        &self,
        workspace: Uuid,
        label: &str,
        role: Role,
        creator: Uuid,
    ) -> ApiResult<Option<String>> {
        let mut conn = self.conn().await?;
        let scope = AccountScope::Workspace(workspace);
        if service_accounts::list(&mut conn, scope).await?.iter().any(|account| account.label == label) {
            return Ok(None);
        }
        let authority = self.authority(creator).await?;
        let request = NewAccountRequest {
            label: label.to_owned(),
            category: None,
            role: crate::domain::memberships::RoleRequest::Builtin(role),
            expires_in_days: None,
        };
        let made = service_accounts::create(
            &mut conn,
            scope,
            request,
            self.state.config.sa_max_days,
            &authority,
            Some(creator),
            self.state.clock.now(),
            &actor(creator, "seed"),
        )
        .await?;
        Ok(Some(made.key))
    }

    async fn members(&self, workspace: Uuid, admin: Uuid, members: &[(Uuid, Role)]) -> ApiResult<usize> {
        let authority = self.authority(admin).await?;
        let mut conn = self.conn().await?;
        workspaces::add_members(&mut conn, workspace, members, &authority, &actor(admin, "seed")).await
    }

    async fn demo(mut self) -> ApiResult<SeedReport> {
        let people = [
            ("admin@example.com", "Ada Admin", "system admin, organization owner"),
            ("alice@example.com", "Alice Engineer", "organization owner, admin of Data Engineering"),
            ("bob@example.com", "Bob Analyst", "organization owner, admin of Analytics, editor in Data Engineering"),
            (
                "carol@example.com",
                "Carol Viewer",
                "organization member, viewer in Data Engineering, editor in Analytics",
            ),
            ("dave@example.com", "Dave Newcomer", "organization member, viewer in Analytics and Sandbox"),
        ];
        let mut ids = Vec::new();
        for (email, name, _) in people {
            ids.push(self.account(email, name).await?);
        }
        let [admin, alice, bob, carol, dave] = ids[..] else { return Err(ApiError::internal("five accounts")) };
        let mut known = self.workspaces().await?;
        let data = self.workspace(&mut known, "Data Engineering", alice).await?;
        let analytics = self.workspace(&mut known, "Analytics", bob).await?;
        let sandbox = self.workspace(&mut known, "Sandbox", admin).await?;
        self.members(data, alice, &[(bob, Role::WorkspaceEditor), (carol, Role::WorkspaceViewer)]).await?;
        self.members(analytics, bob, &[(carol, Role::WorkspaceEditor), (dave, Role::WorkspaceViewer)]).await?;
        self.members(sandbox, admin, &[(dave, Role::WorkspaceViewer)]).await?;
        self.deployments(vec![
            (data, "etl-nightly".into(), alice, true),
            (data, "ml-training".into(), alice, true),
            (analytics, "reporting".into(), bob, true),
            (sandbox, "playground".into(), admin, true),
        ])
        .await?;
        let mut keys = Vec::new();
        if let Some(key) = self.workspace_key(data, "ci", Role::WorkspaceEditor, alice).await? {
            keys.push(("Data Engineering, WORKSPACE_EDITOR (\"ci\")".to_owned(), key));
        }
        if let Some(key) = self.workspace_key(analytics, "dashboards", Role::WorkspaceViewer, bob).await? {
            keys.push(("Analytics, WORKSPACE_VIEWER (\"dashboards\")".to_owned(), key));
        }
        Ok(SeedReport {
            accounts: people.iter().map(|(email, _, what)| (email.to_string(), what.to_string())).collect(),
            password: self.made_accounts.then(|| self.password.clone()),
            keys,
            ..SeedReport::default()
        })
    }

    async fn bench(mut self) -> ApiResult<SeedReport> {
        const DOMAIN: &str = "bench.example.com";
        const WORKSPACES: usize = 200;
        const DEPLOYMENTS_PER_WORKSPACE: usize = 10;
        const USERS: usize = 5000;
        const KEYS: usize = 100;
        const MID_WORKSPACES: usize = 5;
        const MID_DEPLOYMENTS: usize = 20;
        // Founders: sign-up makes the system admin and the organization's three owners.
        let admin = self.account(&format!("bench-admin@{DOMAIN}"), "Bench Admin").await?;
        self.account(&format!("bench-owner@{DOMAIN}"), "Bench Owner").await?;
        self.account(&format!("bench-owner2@{DOMAIN}"), "Bench Owner Two").await?;
        // Everyone else in one import: `bench-member` and user0001 … user4996.
        let mut wanted: Vec<String> = vec![format!("bench-member@{DOMAIN}")];
        wanted.extend((1..=USERS - 4).map(|n| format!("user{n:04}@{DOMAIN}")));
        // The member of the mid-size page, last so that `user(n)` stays user{n:04}.
        wanted.push(format!("bench-mid@{DOMAIN}"));
        let mut conn = self.conn().await?;
        let taken: HashSet<String> = bulk::taken_addresses(&mut conn, &wanted).await?.into_iter().collect();
        let missing: Vec<Person> = wanted
            .iter()
            .filter(|email| !taken.contains(*email))
            .map(|email| Person { email: email.clone(), ..Person::default() })
            .collect();
        if !missing.is_empty() {
            let hash = self.state.passwords.hash(self.password.clone()).await?;
            users::import(&mut conn, &missing, &hash, &actor(admin, "seed")).await?;
            self.made_accounts = true;
        }
        // Ids by address, in `wanted`'s order.
        let mut user_ids = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(1000) {
            let found = bulk::user_ids_by_email(&mut conn, chunk).await?;
            user_ids.extend(chunk.iter().map(|email| found.get(email).copied().ok_or(ApiError::NotFound)));
        }
        let user_ids: Vec<Uuid> = user_ids.into_iter().collect::<ApiResult<_>>()?;
        drop(conn);
        let member = user_ids[0];
        let mid_member = user_ids[wanted.len() - 1];
        let user = |n: usize| user_ids[n]; // user{n:04}, n ≥ 1

        // Workspace n is made by user n, who becomes its admin.
        let mut known = self.workspaces().await?;
        let mut workspace_ids = Vec::with_capacity(WORKSPACES);
        for n in 1..=WORKSPACES {
            workspace_ids.push(self.workspace(&mut known, &format!("Workspace {n:03}"), user(n)).await?);
        }
        // Members: users 201 … 4996 join two workspaces (the first 2 800 a third), as viewers or editors;
        // bench-member is an editor of workspaces 1-20; workspace 1 is topped up to 200 members.
        let mut plan: Vec<Vec<(Uuid, Role)>> = vec![Vec::new(); WORKSPACES];
        for n in WORKSPACES + 1..=USERS - 4 {
            let k = n - WORKSPACES - 1;
            let role = if k % 3 == 0 { Role::WorkspaceEditor } else { Role::WorkspaceViewer };
            let mut targets = vec![k % WORKSPACES, (k * 7 + 3) % WORKSPACES];
            if k < 2800 {
                targets.push((k * 13 + 5) % WORKSPACES);
            }
            targets.sort_unstable();
            targets.dedup();
            for target in targets {
                plan[target].push((user(n), role));
            }
        }
        for target in plan.iter_mut().take(20) {
            target.push((member, Role::WorkspaceEditor));
        }
        let mut filler = WORKSPACES + 1;
        let mut first: HashSet<Uuid> = plan[0].iter().map(|(id, _)| *id).collect();
        while first.len() + 1 < 200 && filler <= USERS - 4 {
            if first.insert(user(filler)) {
                plan[0].push((user(filler), Role::WorkspaceViewer));
            }
            filler += 1;
        }
        for (index, members) in plan.iter().enumerate() {
            self.members(workspace_ids[index], user(index + 1), members).await?;
        }
        // Deployments: ten per workspace, by its admin; those of workspaces 1-50 get variables.
        let mut jobs = Vec::with_capacity(WORKSPACES * DEPLOYMENTS_PER_WORKSPACE);
        for (index, workspace) in workspace_ids.iter().enumerate() {
            for d in 1..=DEPLOYMENTS_PER_WORKSPACE {
                jobs.push((*workspace, format!("deployment-{:03}-{d:02}", index + 1), user(index + 1), index < 50));
            }
        }
        self.deployments(jobs).await?;
        // The mid-size page (`dashboard_mid`): bench-mid is an editor of Mid 1 … Mid 5, each made by user
        // 4900+k with nine more members (users 4900+10k+1 … +9): 55 members, 20 deployments and one API key
        // per workspace.
        let mut mid_jobs = Vec::with_capacity(MID_WORKSPACES * MID_DEPLOYMENTS);
        for k in 1..=MID_WORKSPACES {
            let admin = user(4900 + k);
            let workspace = self.workspace(&mut known, &format!("Mid {k}"), admin).await?;
            let mut members = vec![(mid_member, Role::WorkspaceEditor)];
            members.extend((1..=9).map(|j| {
                let role = if j % 3 == 0 { Role::WorkspaceEditor } else { Role::WorkspaceViewer };
                (user(4900 + 10 * k + j), role)
            }));
            self.members(workspace, admin, &members).await?;
            mid_jobs.extend((1..=MID_DEPLOYMENTS).map(|d| (workspace, format!("mid-{k}-{d:02}"), admin, false)));
            self.workspace_key(workspace, "bench-ci", Role::WorkspaceEditor, admin).await?;
        }
        self.deployments(mid_jobs).await?;
        // API keys: one per workspace for the first hundred; the first is printed for the write scenario.
        let mut keys = Vec::new();
        for (index, workspace) in workspace_ids.iter().take(KEYS).enumerate() {
            if let Some(key) =
                self.workspace_key(*workspace, "bench-ci", Role::WorkspaceEditor, user(index + 1)).await?
            {
                if index == 0 {
                    keys.push(("Workspace 001, WORKSPACE_EDITOR (\"bench-ci\")".to_owned(), key));
                }
            }
        }
        Ok(SeedReport {
            accounts: vec![
                (format!("bench-admin@{DOMAIN}"), "system admin, organization owner".into()),
                (format!("bench-owner@{DOMAIN}"), "organization owner".into()),
                (format!("bench-member@{DOMAIN}"), "editor in Workspace 001 … Workspace 020".into()),
                (format!("user0001@{DOMAIN}"), "admin of Workspace 001 (200 members)".into()),
                (format!("bench-mid@{DOMAIN}"), "editor in Mid 1 … Mid 5 (11 members, 20 deployments each)".into()),
            ],
            password: self.made_accounts.then(|| self.password.clone()),
            keys,
            ..SeedReport::default()
        })
    }
}

impl SeedReport {
    /// The report as printed by `capcom seed`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        text.push_str("Accounts:\n");
        for (email, what) in &self.accounts {
            text.push_str(&format!("  {email:<36} {what}\n"));
        }
        match &self.password {
            Some(password) => text.push_str(&format!("Password of every account: {password}  (shown once)\n")),
            None => text.push_str("Password: unchanged (the accounts existed already)\n"),
        }
        if !self.keys.is_empty() {
            text.push_str("API keys (shown once):\n");
            for (what, key) in &self.keys {
                text.push_str(&format!("  {what}: {key}\n"));
            }
        }
        let c = &self.counts;
        text.push_str(&format!(
            "Counts: {} users, {} workspaces, {} deployments, {} role bindings, {} service accounts, {} audit events\n",
            c.users, c.workspaces, c.deployments, c.role_bindings, c.service_accounts, c.audit_events
        ));
        text.push_str(&format!("Took {:.1} s\n", self.seconds));
        text
    }
}
