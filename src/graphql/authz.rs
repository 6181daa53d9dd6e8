//! Authorization at request time, in one place:
//!
//! - [`Access`]: the caller's authority for one request (or one WebSocket connection): its principal and
//!   direct bindings, loaded once, the matrix in force, and the ancestries looked up so far.
//! - [`Op`]: the guard every root field carries. It finds the field's row in the operation table
//!   ([`crate::rbac::operations::OPERATIONS`]), reads the object the rule names from the field's
//!   arguments, and decides.
//! - [`Readable`]: the only way an object that belongs to a scope reaches a response. It can be made only
//!   by [`Access::admit`] and its kin, which apply the object's read rule
//!   ([`crate::rbac::operations::read_rule`]) to the object's own ancestry. Every GraphQL type of such an
//!   object holds a `Readable`, so no path through the graph can reach an object the caller may not read:
//!   lists leave it out, nullable edges answer null.
//!
//! capcom's way, after GitLab's `authorize :read_project` on types and graphql-ruby's `authorized?`: the
//! check belongs to the object, not to the path that reached it. Decisions are made in memory from the
//! object's ancestry (deployment → workspace → organization) and the caller's bindings; an ancestor is
//! looked up (batched, once per request) only when a binding of the caller could imply a role through it.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Guard, Name, Value};
use uuid::Uuid;

use crate::auth::principal::{load_user, reload_service_account};
use crate::auth::{Principal, UserPrincipal};
use crate::db::models::deploy::Deploy;
use crate::db::models::deployment::{Cluster, Deployment};
use crate::db::models::invite::Invite;
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::service_account::ServiceAccountRow;
use crate::db::models::user::User;
use crate::db::models::workspace::Workspace;
use crate::domain::Authority;
use crate::domain::variables::VariableView;
use crate::error::{ApiError, ApiResult};
use crate::graphql::budget::ReplyBudget;
use crate::graphql::loaders::{AncestryOf, DbLoader, TeamById};
use crate::rbac::check::{self, Decision, Verdict};
use crate::rbac::operations::{self, ObjectKind, On, Operation, Rule, Setting};
use crate::rbac::{Ancestry, Matrix, Permission, Role, Scope, ScopeRef};
use crate::state::AppState;

/// An object the caller may read. Only [`Access`] makes one, after checking the object's read rule.
#[derive(Debug, Clone)]
pub struct Readable<T>(T);

impl<T> Deref for Readable<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Readable<T> {
    /// The object.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// An object that belongs to a scope: what kind it is (its read rule) and where it sits.
pub trait Scoped {
    /// The object's kind.
    fn kind(&self) -> ObjectKind;
    /// The object's scope object and the ancestors the row itself knows.
    fn ancestry(&self) -> Ancestry;
    /// Whether `principal` may read it whatever the matrix says (its own record).
    fn belongs_to(&self, _principal: &Principal) -> bool {
        false
    }
    /// Whether every signed-in principal may read it (shared objects such as standard clusters).
    fn shared(&self) -> bool {
        false
    }
}

impl Scoped for Workspace {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Workspace
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::workspace(Some(self.organization_id), self.id)
    }
}

impl Scoped for Deployment {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Deployment
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::deployment(None, Some(self.workspace_id), self.id)
    }
}

impl Scoped for Deploy {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Deploy
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::deployment(None, None, self.deployment_id)
    }
}

impl Scoped for VariableView {
    fn kind(&self) -> ObjectKind {
        ObjectKind::EnvironmentVariable
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::deployment(None, None, self.deployment_id)
    }
}

/// The scope object of a row that names one by its organization, workspace or deployment column.
fn scope_of(organization: Option<Uuid>, workspace: Option<Uuid>, deployment: Option<Uuid>) -> Ancestry {
    match (deployment, workspace, organization) {
        (Some(id), _, _) => Ancestry::deployment(None, None, id),
        (None, Some(id), _) => Ancestry::workspace(None, id),
        (None, None, Some(id)) => Ancestry::organization(id),
        (None, None, None) => Ancestry::SYSTEM,
    }
}

impl Scoped for RoleBindingRow {
    fn kind(&self) -> ObjectKind {
        if self.service_account_id.is_some() { ObjectKind::ServiceAccountBinding } else { ObjectKind::MemberBinding }
    }
    fn ancestry(&self) -> Ancestry {
        scope_of(self.organization_id, self.workspace_id, self.deployment_id)
    }
    /// A principal always sees the roles it holds, directly or through its teams, except those its
    /// organization's IP access list sets aside for this request (docs/ip-access-list.md): from outside
    /// the list, even the caller's own roles there are not shown.
    fn belongs_to(&self, principal: &Principal) -> bool {
        if principal.fenced().iter().any(|binding| binding.id == self.id) {
            return false;
        }
        match principal {
            Principal::User(user) => {
                self.user_id == Some(user.user.id)
                    || self.team_id.is_some_and(|team| user.bindings.iter().any(|b| b.via_team == Some(team)))
            }
            Principal::ServiceAccount(account) => self.service_account_id == Some(account.account.id),
            Principal::Anonymous | Principal::Rejected => false,
        }
    }
}

impl Scoped for crate::domain::custom_roles::CustomRole {
    fn kind(&self) -> ObjectKind {
        ObjectKind::CustomRole
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::organization(self.row.organization_id)
    }
    /// A principal always sees the custom roles it holds, directly or through its teams.
    fn belongs_to(&self, principal: &Principal) -> bool {
        principal
            .bindings()
            .is_ok_and(|bindings| bindings.iter().any(|b| b.custom.is_some_and(|c| c.id == self.row.id)))
    }
}

impl Scoped for Invite {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Invite
    }
    fn ancestry(&self) -> Ancestry {
        scope_of(self.organization_id, self.workspace_id, None)
    }
}

/// An invite the caller has just accepted: its token proved it was addressed to them, so they may read
/// it whatever its scope (a system invite to sign up belongs to no workspace).
#[derive(Debug, Clone)]
pub struct AcceptedInvite {
    /// The invite.
    pub invite: Invite,
    /// The user who accepted it.
    pub by: Uuid,
}

impl Scoped for AcceptedInvite {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Invite
    }
    fn ancestry(&self) -> Ancestry {
        self.invite.ancestry()
    }
    fn belongs_to(&self, principal: &Principal) -> bool {
        matches!(principal, Principal::User(user) if user.user.id == self.by)
    }
}

impl Readable<AcceptedInvite> {
    /// The accepted invite.
    pub fn into_invite(self) -> Readable<Invite> {
        Readable(self.0.invite)
    }
}

impl Scoped for ServiceAccountRow {
    fn kind(&self) -> ObjectKind {
        ObjectKind::ServiceAccount
    }
    fn ancestry(&self) -> Ancestry {
        scope_of(self.organization_id, self.workspace_id, self.deployment_id)
    }
}

impl Scoped for crate::db::models::organization_domain::OrganizationDomain {
    fn kind(&self) -> ObjectKind {
        ObjectKind::OrganizationSetting
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::organization(self.organization_id)
    }
}

impl Scoped for crate::db::models::identity_provider::IdentityProvider {
    fn kind(&self) -> ObjectKind {
        ObjectKind::OrganizationSetting
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::organization(self.organization_id)
    }
}

impl Scoped for Cluster {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Cluster
    }
    fn ancestry(&self) -> Ancestry {
        scope_of(self.organization_id, None, None)
    }
    fn shared(&self) -> bool {
        self.kind == "STANDARD"
    }
}

impl Scoped for crate::db::models::organization::Organization {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Organization
    }
    fn ancestry(&self) -> Ancestry {
        Ancestry::organization(self.id)
    }
}

/// A team reached through its organization or through an object it holds a role on (`via`): readable by
/// whoever may read the teams (or members) of that object, and by its members.
#[derive(Debug, Clone)]
pub struct TeamReached {
    /// The team.
    pub team: crate::db::models::team::Team,
    /// The object that led to it.
    pub via: Ancestry,
}

impl Scoped for TeamReached {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Team
    }
    fn ancestry(&self) -> Ancestry {
        self.via
    }
    fn belongs_to(&self, principal: &Principal) -> bool {
        matches!(principal, Principal::User(user) if user.bindings.iter().any(|b| b.via_team == Some(self.team.id)))
    }
}

impl Scoped for crate::db::models::audit_event::AuditEvent {
    fn kind(&self) -> ObjectKind {
        ObjectKind::AuditEvent
    }
    /// An event belongs to its workspace (a deployment's events too: no permission reads the audit log at
    /// deployment scope), else to its organization, else to the installation.
    fn ancestry(&self) -> Ancestry {
        match (self.workspace_id, self.organization_id) {
            (Some(workspace), organization) => Ancestry::workspace(organization, workspace),
            (None, Some(organization)) => Ancestry::organization(organization),
            (None, None) => Ancestry::SYSTEM,
        }
    }
}

/// A user reached as a member of a scope object (`via`): readable by themselves, and by whoever may read
/// the members of that object. Their role bindings are each read-checked on their own.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user.
    pub user: User,
    /// The object whose membership led to them (the installation for system-wide user lists).
    pub via: Ancestry,
}

impl Scoped for Member {
    fn kind(&self) -> ObjectKind {
        ObjectKind::Member
    }
    fn ancestry(&self) -> Ancestry {
        self.via
    }
    fn belongs_to(&self, principal: &Principal) -> bool {
        matches!(principal, Principal::User(user) if user.user.id == self.user.id)
    }
}

/// The caller's authority for one request (or WebSocket connection). Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Access(Arc<Inner>);

struct Inner {
    principal: RwLock<Arc<Principal>>,
    state: AppState,
    loader: Arc<DataLoader<DbLoader>>,
    /// Objects admitted into the reply so far, against `CAPCOM_MAX_REPLY_OBJECTS`.
    budget: Arc<ReplyBudget>,
    /// Ancestries looked up so far, by object id. They never change (SPEC §1: deployments never move
    /// between workspaces, workspaces never leave their organization).
    ancestries: Mutex<HashMap<Uuid, Ancestry>>,
    /// The request's client address: principals loaded again during the request are seen from it
    /// ([`Principal::behind`]).
    client: Option<std::net::IpAddr>,
}

impl Access {
    /// The authority of `principal` (already seen from `client`, [`Principal::behind`]), drawing
    /// ancestries through `loader` and counting the objects it admits against `budget`.
    pub fn new(
        state: &AppState,
        principal: Principal,
        loader: Arc<DataLoader<DbLoader>>,
        budget: Arc<ReplyBudget>,
        client: Option<std::net::IpAddr>,
    ) -> Access {
        Access(Arc::new(Inner {
            client,
            principal: RwLock::new(Arc::new(principal)),
            state: state.clone(),
            loader,
            budget,
            ancestries: Mutex::new(HashMap::new()),
        }))
    }

    /// The caller as it stands now.
    pub fn principal(&self) -> Arc<Principal> {
        match self.0.principal.read() {
            Ok(principal) => principal.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_principal(&self, principal: Principal) {
        match self.0.principal.write() {
            Ok(mut slot) => *slot = Arc::new(principal),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(principal),
        }
    }

    /// The matrix in force.
    pub fn matrix(&self) -> &Matrix {
        &self.0.state.matrix
    }

    /// The operation's reply budget.
    pub fn budget(&self) -> &Arc<ReplyBudget> {
        &self.0.budget
    }

    /// Charges `bytes` of text the reply will hold against the request's `CAPCOM_MAX_REPLY_BYTES`
    /// (SPEC §7); past it, the cap's error, and every later statement or admission of the request is
    /// refused ([`ReplyBudget::check`]).
    pub fn charge_bytes(&self, bytes: usize) -> ApiResult<()> {
        self.0.budget.spend_bytes(bytes)
    }

    /// Counts `items` list items that reach the reply without being admitted one by one (values the
    /// caller may read with the object that holds them): against `CAPCOM_MAX_REPLY_OBJECTS`, and their
    /// `bytes` of text against `CAPCOM_MAX_REPLY_BYTES`.
    pub fn charge_items(&self, items: usize, bytes: usize) -> ApiResult<()> {
        self.0.budget.spend(items)?;
        self.0.budget.spend_bytes(bytes)
    }

    /// The request's loader.
    pub fn loader(&self) -> &DataLoader<DbLoader> {
        &self.0.loader
    }

    /// The caller's authority for domain rules (escalation).
    pub fn authority(&self) -> ApiResult<Authority> {
        let principal = self.principal();
        principal.bindings()?;
        Ok(Authority::new(principal, self.0.state.matrix.clone()))
    }

    /// Loads the caller's bindings again, after a change that may have given or taken roles (the creator
    /// of a workspace becomes its admin), or before each event of a long-lived subscription. A caller who
    /// was removed, deactivated or revoked meanwhile becomes [`Principal::Rejected`].
    pub async fn reload(&self) -> ApiResult<()> {
        let current = self.principal();
        let now = self.0.state.clock.now();
        let fresh = match current.as_ref() {
            Principal::User(user) if user.valid_until.is_some_and(|until| until <= now) => None,
            Principal::User(user) => {
                let mut conn = self.0.state.pool.get().await?;
                let loaded = load_user(&mut conn, &self.0.state.principals, user.user.id).await?;
                loaded
                    .filter(|u| u.user.tokens_valid_after <= user.user.tokens_valid_after)
                    .map(|u| Principal::User(UserPrincipal { valid_until: user.valid_until, ..u }))
            }
            Principal::ServiceAccount(account) => {
                let mut conn = self.0.state.pool.get().await?;
                reload_service_account(&mut conn, &self.0.state.principals, &account.account, now)
                    .await?
                    .map(Principal::ServiceAccount)
            }
            Principal::Anonymous | Principal::Rejected => return Ok(()),
        };
        self.set_principal(fresh.map(|p| p.behind(self.0.client)).unwrap_or(Principal::Rejected));
        Ok(())
    }

    /// Makes the rest of the request act as `user_id`, who has just signed up or in: the response (the
    /// signed-in user and anything below it) is read as that user.
    pub async fn sign_in_as(&self, user_id: Uuid) -> ApiResult<()> {
        let mut conn = self.0.state.pool.get().await?;
        let user = load_user(&mut conn, &self.0.state.principals, user_id).await?;
        self.set_principal(user.map(|u| Principal::User(u).behind(self.0.client)).unwrap_or(Principal::Rejected));
        Ok(())
    }

    fn remember(&self, ancestry: Ancestry) {
        if let Ok(mut known) = self.0.ancestries.lock() {
            remember_in(&mut known, ancestry);
        }
    }

    /// Records the ancestry of an object a loader read from the database together with the object, so that
    /// deciding on it needs no lookup. Incomplete ancestries are ignored.
    pub fn learn(&self, ancestry: Ancestry) {
        self.remember(ancestry);
    }

    /// [`Access::learn`] for each of `ancestries`, in order, under one lock (a list of role bindings
    /// brings one per binding).
    pub fn learn_all(&self, ancestries: impl IntoIterator<Item = Ancestry>) {
        if let Ok(mut known) = self.0.ancestries.lock() {
            for ancestry in ancestries {
                remember_in(&mut known, ancestry);
            }
        }
    }

    /// The known ancestry of workspace `id` (never that of another kind of object with the same id).
    fn known_workspace(&self, id: Uuid) -> Option<Ancestry> {
        self.0.ancestries.lock().ok().and_then(|known| known_workspace_in(&known, id))
    }

    fn known(&self, id: Uuid) -> Option<Ancestry> {
        self.0.ancestries.lock().ok().and_then(|known| known.get(&id).copied())
    }

    /// Fills in the missing ancestors of `ancestries` (one batched statement at most, and none for what
    /// the request has already seen).
    async fn complete(&self, ancestries: &mut [Ancestry]) -> ApiResult<()> {
        let mut missing = Vec::new();
        for ancestry in ancestries.iter_mut() {
            if ancestry.is_complete() {
                continue;
            }
            // A deployment whose workspace is known needs only the workspace's organization.
            let via_workspace = ancestry.workspace.and_then(|ws| self.known_workspace(ws));
            let known = ancestry
                .object()
                .id()
                .and_then(|id| self.known(id))
                .filter(|found| found.object().scope() == ancestry.object().scope());
            match (known, via_workspace) {
                (Some(found), _) => *ancestry = found,
                (None, Some(workspace)) => ancestry.organization = workspace.organization,
                (None, None) => missing.extend(ancestry.object().id()),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort();
        missing.dedup();
        let found = self.loader().load_many(missing.into_iter().map(AncestryOf)).await.map_err(|e| (*e).clone())?;
        for ancestry in found.values() {
            self.remember(*ancestry);
        }
        for ancestry in ancestries.iter_mut() {
            // Only an ancestry of the same kind of object counts: an id named as a deployment that is
            // really a workspace's implies nothing (and so reveals nothing about what it is).
            if let Some(full) = ancestry.object().id().and_then(|id| found.get(&AncestryOf(id))) {
                if full.object().scope() == ancestry.object().scope() {
                    *ancestry = *full;
                }
            }
        }
        Ok(())
    }

    /// The ancestry of `object`, completed when the caller's bindings could use it.
    pub async fn ancestry_of(&self, object: ScopeRef) -> ApiResult<Ancestry> {
        let mut ancestry = [Ancestry::of(object)];
        self.complete(&mut ancestry).await?;
        Ok(ancestry[0])
    }

    /// Whether the caller holds any of `permissions` on the object of `at`. Ancestors are looked up only
    /// when the decision without them is "no" and a binding of the caller could imply a role through them.
    pub async fn allows(&self, permissions: &[Permission], at: Ancestry) -> ApiResult<bool> {
        let principal = self.principal();
        let Ok(bindings) = principal.bindings() else { return Ok(false) };
        let matrix = self.matrix();
        match check::verdict(bindings, matrix, permissions, &at) {
            Verdict::Granted => Ok(true),
            Verdict::Denied => Ok(false),
            Verdict::NeedsAncestry => {
                let mut completed = [at];
                self.complete(&mut completed).await?;
                Ok(check::allowed_any(bindings, matrix, permissions, &completed[0]))
            }
        }
    }

    /// The decision (with its explanation) for `permission` on `object`.
    pub async fn decide(&self, permission: Permission, object: ScopeRef) -> ApiResult<Decision> {
        let principal = self.principal();
        let bindings = principal.bindings()?;
        let at = if check::needs_ancestors(bindings, object.scope()) {
            self.ancestry_of(object).await?
        } else {
            Ancestry::of(object)
        };
        Ok(check::decide(bindings, self.matrix(), permission, &at))
    }

    /// FORBIDDEN unless the caller holds any of `permissions` on the object of `at`.
    pub async fn authorize(&self, permissions: &[Permission], at: Ancestry) -> ApiResult<()> {
        self.principal().bindings()?;
        if self.allows(permissions, at).await? { Ok(()) } else { Err(self.refusal(permissions, at).await?) }
    }

    /// The error for a refused decision: FORBIDDEN naming the IP access list when a binding set aside by it
    /// ([`Principal::behind`]) would have allowed the operation, plain FORBIDDEN otherwise. The bindings set
    /// aside are looked at only here, after a refusal.
    async fn refusal(&self, permissions: &[Permission], at: Ancestry) -> ApiResult<ApiError> {
        let principal = self.principal();
        if principal.fenced().is_empty() {
            return Ok(ApiError::Forbidden);
        }
        let mut all = principal.bindings()?.to_vec();
        all.extend_from_slice(principal.fenced());
        let matrix = self.matrix();
        let mut completed = [at];
        if check::verdict(&all, matrix, permissions, &at) == Verdict::NeedsAncestry {
            self.complete(&mut completed).await?;
        }
        Ok(if check::allowed_any(&all, matrix, permissions, &completed[0]) {
            ApiError::ForbiddenBy(crate::error::MSG_IP_ACCESS_LIST.to_owned())
        } else {
            ApiError::Forbidden
        })
    }

    /// The Airflow role the caller has on a deployment (SPEC §2 mapping).
    pub async fn airflow_role(&self, deployment: Uuid) -> ApiResult<Option<&'static str>> {
        let principal = self.principal();
        let Ok(bindings) = principal.bindings() else { return Ok(None) };
        let at = self.ancestry_of(ScopeRef::Deployment(deployment)).await?;
        Ok(check::airflow_role(bindings, self.matrix(), &at))
    }

    /// Whether the caller may perform `operation` (a row of the operation table) on the object of `at`:
    /// what capabilities objects report.
    pub async fn may(&self, operation: &Operation, at: Ancestry) -> ApiResult<bool> {
        self.may_by(&operation.rule, at).await
    }

    async fn may_by(&self, rule: &Rule, at: Ancestry) -> ApiResult<bool> {
        match rule {
            Rule::Permission { any_of, person_only, .. } => {
                if *person_only && !matches!(self.principal().as_ref(), Principal::User(_)) {
                    return Ok(false);
                }
                self.allows(any_of, at).await
            }
            Rule::Public => Ok(true),
            Rule::SignedIn => Ok(self.principal().bindings().is_ok()),
            Rule::Person => Ok(matches!(self.principal().as_ref(), Principal::User(_))),
            // The form whose permissions are of the object's own scope.
            Rule::Forms(forms) => {
                let scope = at.object().scope();
                let form = forms
                    .iter()
                    .map(|(_, rule)| rule)
                    .find(|rule| rule.permissions().iter().any(|p| p.scope() == scope));
                match form {
                    Some(rule) => Box::pin(self.may_by(rule, at)).await,
                    None => Ok(false),
                }
            }
            Rule::Configured(setting, on, off) => {
                let rule = if self.setting(*setting) { on } else { off };
                Box::pin(self.may_by(rule, at)).await
            }
        }
    }

    fn setting(&self, setting: Setting) -> bool {
        match setting {
            Setting::OrganizationSelfService => self.0.state.config.org_self_service,
        }
    }

    fn readable_without_lookup<T: Scoped>(&self, principal: &Principal, object: &T) -> Option<bool> {
        if object.belongs_to(principal) {
            return Some(true);
        }
        let bindings = principal.bindings().ok()?;
        if object.shared() {
            return Some(true);
        }
        let at = object.ancestry();
        let rule = operations::read_rule(object.kind(), at.object().scope());
        match check::verdict(bindings, self.matrix(), rule, &at) {
            Verdict::Granted => Some(true),
            Verdict::Denied => Some(false),
            Verdict::NeedsAncestry => None,
        }
    }

    /// The objects of `rows` the caller may read, in order; the others are left out. At most one
    /// (batched) ancestry lookup, and only when a binding of the caller could imply a role. Each counts
    /// against the reply budget (SPEC §7); past it the answer is the budget's error.
    pub async fn admit_all<T: Scoped>(&self, rows: Vec<T>) -> ApiResult<Vec<Readable<T>>> {
        self.admit_kept(rows, |admitted| admitted).await
    }

    /// What `keep` makes of the objects of `rows` the caller may read (a page, a filter): only what it
    /// keeps counts against the reply budget, since only that reaches the reply. `rows` is bounded by
    /// the list cap, so what is read and dropped is bounded too.
    pub async fn admit_kept<T: Scoped, U>(
        &self,
        rows: Vec<T>,
        keep: impl FnOnce(Vec<Readable<T>>) -> Vec<U>,
    ) -> ApiResult<Vec<U>> {
        let admitted = self.admit_uncounted(rows).await?;
        let kept = keep(admitted);
        self.0.budget.spend(kept.len())?;
        Ok(kept)
    }

    async fn admit_uncounted<T: Scoped>(&self, rows: Vec<T>) -> ApiResult<Vec<Readable<T>>> {
        // Past the reply budget nothing more is admitted (SPEC §7): the reply will be refused anyway.
        self.0.budget.check()?;
        let principal = self.principal();
        let mut undecided = Vec::new();
        let mut verdicts = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let verdict = self.readable_without_lookup(&principal, row);
            if verdict.is_none() {
                undecided.push(index);
            }
            verdicts.push(verdict.unwrap_or(false));
        }
        if !undecided.is_empty() {
            let mut ancestries: Vec<Ancestry> = undecided.iter().map(|i| rows[*i].ancestry()).collect();
            self.complete(&mut ancestries).await?;
            let bindings = principal.bindings()?;
            for (index, at) in undecided.into_iter().zip(ancestries) {
                let rule = operations::read_rule(rows[index].kind(), at.object().scope());
                verdicts[index] = check::allowed_any(bindings, self.matrix(), rule, &at);
            }
        }
        let admitted: Vec<Readable<T>> =
            rows.into_iter().zip(verdicts).filter(|(_, readable)| *readable).map(|(row, _)| Readable(row)).collect();
        // One lock for the whole list, each row completed from what the rows before it taught.
        if let Ok(mut known) = self.0.ancestries.lock() {
            for row in &admitted {
                let at = completed_from_known(&known, row.ancestry());
                remember_in(&mut known, at);
            }
        }
        Ok(admitted)
    }

    /// `row` if the caller may read it.
    pub async fn admit<T: Scoped>(&self, row: T) -> ApiResult<Option<Readable<T>>> {
        Ok(self.admit_all(vec![row]).await?.pop())
    }

    /// `row`, or FORBIDDEN when the caller may not read it (for non-null fields whose object the guard
    /// already authorized, such as a mutation's result).
    pub async fn admit_one<T: Scoped>(&self, row: T) -> ApiResult<Readable<T>> {
        self.principal().bindings()?;
        let at = row.ancestry();
        let rule = operations::read_rule(row.kind(), at.object().scope());
        match self.admit(row).await? {
            Some(readable) => Ok(readable),
            None => Err(self.refusal(rule, at).await?),
        }
    }

    /// The error for an object that could not be found: NOT_FOUND for callers who hold one of the
    /// `system.*` alternatives of `permissions` (they may look at every such object), FORBIDDEN for everyone
    /// else, so that absence reveals nothing.
    pub fn absent(&self, permissions: &[Permission]) -> ApiError {
        let principal = self.principal();
        let Ok(bindings) = principal.bindings() else {
            return ApiError::NotSignedIn;
        };
        let system: Vec<Permission> = permissions.iter().copied().filter(|p| p.scope() == Scope::System).collect();
        if check::allowed_any(bindings, self.matrix(), &system, &Ancestry::SYSTEM) {
            ApiError::NotFound
        } else {
            ApiError::Forbidden
        }
    }

    /// Checks a root field's rule against its arguments.
    async fn check_rule(&self, field: &str, rule: &Rule, arguments: &Arguments) -> ApiResult<()> {
        match rule {
            Rule::Public => Ok(()),
            Rule::SignedIn => self.principal().bindings().map(|_| ()),
            Rule::Person => self.principal().user().map(|_| ()),
            Rule::Forms(forms) => {
                let chosen = forms
                    .iter()
                    .find(|(argument, _)| argument.is_none_or(|name| arguments.present(name)))
                    .map(|(_, rule)| rule)
                    .ok_or_else(|| ApiError::internal(format!("{field} has no default form")))?;
                Box::pin(self.check_rule(field, chosen, arguments)).await
            }
            Rule::Configured(setting, on, off) => {
                let rule = if self.setting(*setting) { on } else { off };
                Box::pin(self.check_rule(field, rule, arguments)).await
            }
            Rule::Permission { any_of, on, person_only } => {
                let principal = self.principal();
                if *person_only {
                    principal.user()?;
                } else {
                    principal.bindings()?;
                }
                match self.target(on, arguments).await? {
                    Some(at) => self.authorize(any_of, at).await,
                    None => match self.absent(any_of) {
                        // The resolver answers NOT_FOUND for those who may know.
                        ApiError::NotFound => Ok(()),
                        refused => Err(refused),
                    },
                }
            }
        }
    }

    /// The object a rule names, from the arguments; `None` when the arguments name nothing that exists.
    async fn target(&self, on: &On, arguments: &Arguments) -> ApiResult<Option<Ancestry>> {
        match on {
            On::Nothing => Ok(Some(Ancestry::SYSTEM)),
            On::Workspace(name) => Ok(Some(Ancestry::workspace(None, arguments.id(name)?))),
            On::Deployment(name) => Ok(Some(Ancestry::deployment(None, None, arguments.id(name)?))),
            On::Organization(name) => match arguments.optional_id(name)? {
                Some(id) => Ok(Some(Ancestry::organization(id))),
                None => self.only_organization(name).map(|id| Some(Ancestry::organization(id))),
            },
            On::DeploymentNamed { id, release_name } => {
                if let Some(deployment) = arguments.optional_id(id)? {
                    return Ok(Some(Ancestry::deployment(None, None, deployment)));
                }
                let Some(name) = arguments.text(release_name) else {
                    return Err(ApiError::bad_input(*id, format!("Name the deployment by {id} or {release_name}")));
                };
                let mut conn = self.0.state.pool.get().await?;
                let found = crate::domain::deployments::list(&mut conn, None, Some(name), 1).await?;
                Ok(found.first().map(|d| Ancestry::deployment(None, Some(d.workspace_id), d.id)))
            }
            On::ServiceAccount(name) => {
                let id = arguments.id(name)?;
                let account = self
                    .loader()
                    .load_one(crate::graphql::loaders::ServiceAccountById(id))
                    .await
                    .map_err(|e| (*e).clone())?;
                Ok(account.map(|a| a.ancestry()))
            }
            On::Team(name) => {
                let id = arguments.id(name)?;
                let team = self.loader().load_one(TeamById(id)).await.map_err(|e| (*e).clone())?;
                Ok(team.map(|t| Ancestry::organization(t.organization_id)))
            }
            On::Cluster(name) => {
                let id = arguments.id(name)?;
                let mut conn = self.0.state.pool.get().await?;
                match crate::domain::clusters::get(&mut conn, id).await {
                    Ok(cluster) => Ok(Some(cluster.ancestry())),
                    Err(ApiError::NotFound) => Ok(None),
                    Err(other) => Err(other),
                }
            }
            On::WorkspaceOfDeployment(name) => {
                let id = arguments.id(name)?;
                let found = self.loader().load_one(AncestryOf(id)).await.map_err(|e| (*e).clone())?;
                Ok(found
                    .filter(|at| at.object().scope() == Scope::Deployment)
                    .map(|at| Ancestry::workspace(at.organization, at.workspace.unwrap_or(id))))
            }
            On::CustomRole(name) => {
                let id = arguments.id(name)?;
                let role = self
                    .loader()
                    .load_one(crate::graphql::loaders::CustomRoleById(id))
                    .await
                    .map_err(|e| (*e).clone())?;
                Ok(role.map(|r| r.ancestry()))
            }
            On::Invite { invite, workspace } => {
                if let Some(id) = arguments.optional_id(workspace)? {
                    return Ok(Some(Ancestry::workspace(None, id)));
                }
                let id = arguments.id(invite)?;
                let mut conn = self.0.state.pool.get().await?;
                match crate::domain::invites::get(&mut conn, id).await {
                    Ok(found) => Ok(Some(found.ancestry())),
                    Err(ApiError::NotFound) => Ok(None),
                    Err(other) => Err(other),
                }
            }
        }
    }

    /// The caller's only organization; BAD_USER_INPUT naming `argument` when it belongs to several.
    pub fn only_organization(&self, argument: &str) -> ApiResult<Uuid> {
        let principal = self.principal();
        let mut organizations: Vec<Uuid> = principal
            .bindings()?
            .iter()
            .filter(|b| b.role.scope() == Some(Scope::Organization))
            .filter_map(|b| b.target)
            .collect();
        organizations.sort();
        organizations.dedup();
        match organizations.as_slice() {
            [only] => Ok(*only),
            [] => Err(ApiError::Forbidden),
            _ => Err(ApiError::bad_input(
                argument,
                format!("You belong to several organizations: name one with {argument}"),
            )),
        }
    }

    /// The organizations the caller's bindings name, by role (candidates for lists; each object found is
    /// still admitted by its own read rule).
    pub fn reach(&self) -> ApiResult<Reach> {
        let principal = self.principal();
        let bindings = principal.bindings()?;
        let ids = |scope: Scope, role: Option<Role>| -> Vec<Uuid> {
            let mut ids: Vec<Uuid> = bindings
                .iter()
                .filter(|b| b.role.scope() == Some(scope) && role.is_none_or(|r| b.role == r))
                .filter_map(|b| b.target)
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        Ok(Reach {
            organizations: ids(Scope::Organization, None),
            owned_organizations: ids(Scope::Organization, Some(Role::OrganizationOwner)),
            workspaces: ids(Scope::Workspace, None),
            deployments: ids(Scope::Deployment, None),
        })
    }
}

/// Records `ancestry` in `known` (an [`Access`]'s ancestries); incomplete ancestries are ignored.
fn remember_in(known: &mut HashMap<Uuid, Ancestry>, ancestry: Ancestry) {
    if !ancestry.is_complete() {
        return;
    }
    let Some(id) = ancestry.object().id() else { return };
    // An id already known as another kind of object keeps that entry: a reference naming a workspace id
    // as a deployment (or the reverse) must not rewrite what the id is.
    let entry = known.entry(id).or_insert(ancestry);
    if entry.object().scope() == ancestry.object().scope() {
        *entry = ancestry;
    }
}

/// The ancestry of workspace `id` in `known` (never that of another kind of object with the same id).
fn known_workspace_in(known: &HashMap<Uuid, Ancestry>, id: Uuid) -> Option<Ancestry> {
    known.get(&id).copied().filter(|found| matches!(found.object(), ScopeRef::Workspace(w) if w == id))
}

/// `ancestry` with the organization filled in when its workspace is in `known` (a deployment row names
/// its workspace only), so that later references to the object need no lookup.
fn completed_from_known(known: &HashMap<Uuid, Ancestry>, mut ancestry: Ancestry) -> Ancestry {
    if ancestry.organization.is_none() {
        if let Some(workspace) = ancestry.workspace.and_then(|id| known_workspace_in(known, id)) {
            ancestry.organization = workspace.organization;
        }
    }
    ancestry
}

/// The objects a caller's bindings name directly: the candidates of "my workspaces"-style lists.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Organizations with any role.
    pub organizations: Vec<Uuid>,
    /// Organizations the caller owns (their workspaces are the caller's too).
    pub owned_organizations: Vec<Uuid>,
    /// Workspaces with a role.
    pub workspaces: Vec<Uuid>,
    /// Deployments with a role.
    pub deployments: Vec<Uuid>,
}

/// A root field's arguments as sent, variables substituted.
struct Arguments(Vec<(Name, Value)>);

impl Arguments {
    /// The value at `path` (`where.id` reaches into an input object); `None` when absent or null.
    fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut value = self.0.iter().find(|(name, _)| name.as_str() == first).map(|(_, value)| value)?;
        for part in parts {
            value = match value {
                Value::Object(fields) => fields.get(part)?,
                _ => return None,
            };
        }
        (!matches!(value, Value::Null)).then_some(value)
    }

    /// Whether the argument was sent with a value (not null, not `""`, not `false`).
    fn present(&self, path: &str) -> bool {
        match self.get(path) {
            None | Some(Value::Boolean(false)) => false,
            Some(Value::String(text)) => !text.trim().is_empty(),
            Some(_) => true,
        }
    }

    fn text(&self, path: &str) -> Option<&str> {
        match self.get(path) {
            Some(Value::String(text)) if !text.trim().is_empty() => Some(text.as_str()),
            _ => None,
        }
    }

    fn optional_id(&self, path: &str) -> ApiResult<Option<Uuid>> {
        match self.text(path) {
            None => Ok(None),
            Some(text) => text
                .trim()
                .parse::<Uuid>()
                .map(Some)
                .map_err(|_| ApiError::bad_input(path, format!("{path} must be a UUID"))),
        }
    }

    fn id(&self, path: &str) -> ApiResult<Uuid> {
        self.optional_id(path)?.ok_or_else(|| ApiError::bad_input(path, format!("{path} must be a UUID")))
    }
}

impl Access {
    /// Checks the rule of the operation table's row `field` against arguments given as name/value pairs
    /// (for HTTP endpoints that share a GraphQL operation's rule, such as the audit export).
    pub async fn check_operation(&self, field: &str, arguments: Vec<(Name, Value)>) -> ApiResult<()> {
        let operation = operations::find(field)
            .ok_or_else(|| ApiError::internal(format!("{field} is missing from the operation table")))?;
        self.check_rule(operation.field, &operation.rule, &Arguments(arguments)).await
    }
}

/// The request's [`Access`].
pub fn access<'a>(ctx: &Context<'a>) -> ApiResult<&'a Access> {
    ctx.data::<Access>().map_err(|_| ApiError::internal("request authority missing"))
}

/// `text`, charged against the request's reply bytes (`CAPCOM_MAX_REPLY_BYTES`, SPEC §7): for fields whose
/// text can be large (values, descriptions). Past the cap, the cap's error.
pub fn charged<'t>(ctx: &Context<'_>, text: &'t str) -> ApiResult<&'t str> {
    access(ctx)?.charge_bytes(text.len())?;
    Ok(text)
}

/// `value`, charged at its size written as JSON against the request's reply bytes (for free-form JSON
/// fields: configuration, audit snapshots, profiles). Past the cap, the cap's error.
pub fn charged_json(ctx: &Context<'_>, value: &serde_json::Value) -> ApiResult<async_graphql::Json<serde_json::Value>> {
    access(ctx)?.charge_bytes(crate::graphql::budget::json_len(value))?;
    Ok(async_graphql::Json(value.clone()))
}

/// The guard of every root field: the field's row of the operation table, applied to its arguments.
/// Put on each root object (`#[Object(guard = "Op")]`), so a field cannot be added unguarded.
pub struct Op;

impl Guard for Op {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let field = ctx.field();
        let Some(operation) = operations::find(field.name()) else {
            return Err(ApiError::internal(format!("{} is missing from the operation table", field.name())).into());
        };
        let arguments = Arguments(field.arguments()?);
        Ok(access(ctx)?.check_rule(operation.field, &operation.rule, &arguments).await?)
    }
}
