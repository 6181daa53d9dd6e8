//! `User`, `Email`, `RoleBinding`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Json, Object, Result};
use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::domain::users::{self, RoleBindingRow};
use crate::graphql::authz::{Member, Readable, Scoped, TeamReached, access, charged_json};
use crate::graphql::context::loader;
use crate::graphql::loaders::{
    DeploymentById, EmailsOfUser, RoleBindingsOfUser, ServiceAccountById, TeamById, UserById, WorkspaceById,
};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::deployment::Deployment;
use crate::graphql::types::service_account::ServiceAccount;
use crate::graphql::types::team::Team;
use crate::graphql::types::workspace::Workspace;
use crate::rbac::operations::FieldRule;
use crate::rbac::{Ancestry, Role};

/// A person with an account. Only made from a user the caller may read: themselves, or someone reached
/// as a member of an object whose members the caller may read.
pub struct User {
    member: Readable<Member>,
    /// The user's addresses, when the list the user came in loaded them for all its users at once.
    emails: Option<Arc<[users::Email]>>,
    /// The user's direct bindings with their objects' ancestry, loaded the same way.
    bindings: Option<Arc<[(RoleBindingRow, Ancestry)]>>,
    /// The workspaces of the bindings of every user of the list, when the query selects
    /// `roleBindings { workspace }` (see [`BindingWorkspaces`]).
    workspaces: Option<BindingWorkspaces>,
}

/// The live workspaces the role bindings of a list of users are on, loaded for the whole list by one
/// `load_many` rather than one `load_one` per binding (the statement is the same: the loader batched the
/// `load_one`s into it), and shared by the bindings. A workspace missing here is one the loader would not
/// have found either. Each binding's `workspace` still admits its workspace itself.
pub(crate) type BindingWorkspaces = Arc<HashMap<WorkspaceById, crate::domain::workspaces::Workspace>>;

impl From<Readable<Member>> for User {
    fn from(member: Readable<Member>) -> Self {
        User { member, emails: None, bindings: None, workspaces: None }
    }
}

impl User {
    fn row(&self) -> &users::User {
        &self.member.user
    }

    /// The user's id.
    pub fn uuid(&self) -> uuid::Uuid {
        self.member.user.id
    }

    /// The users of a list field, with the relations the query selects below it (`emails`,
    /// `roleBindings`) loaded for the whole list by one `load_many` each rather than one `load_one` per
    /// user. The statements are the same (the loader batches either way); what this saves is the loader's
    /// per-key bookkeeping, which in a reply of a thousand users costs more than the SQL.
    pub async fn list(ctx: &Context<'_>, members: Vec<Readable<Member>>) -> Result<Vec<User>> {
        let ahead = ctx.look_ahead();
        let loader = loader(ctx)?;
        let want_emails = ahead.field("emails").exists();
        let want_bindings = ahead.field("roleBindings").exists();
        let want_workspaces = ahead.field("roleBindings").field("workspace").exists();
        let emails = async {
            if want_emails {
                loader.load_many(members.iter().map(|member| EmailsOfUser(member.user.id))).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let bindings = async {
            if want_bindings {
                loader.load_many(members.iter().map(|member| RoleBindingsOfUser(member.user.id))).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let (emails, bindings) = futures_util::try_join!(emails, bindings)?;
        let workspaces = match &bindings {
            Some(found) if want_workspaces => {
                let mut ids: Vec<WorkspaceById> = found
                    .values()
                    .flat_map(|rows| rows.iter().filter_map(|(row, _)| row.workspace_id))
                    .map(WorkspaceById)
                    .collect();
                ids.sort_unstable_by_key(|key| key.0);
                ids.dedup();
                Some(Arc::new(loader.load_many(ids).await?))
            }
            _ => None,
        };
        Ok(members
            .into_iter()
            .map(|member| {
                let id = member.user.id;
                User {
                    // Shared rather than taken: a user may come twice in a list.
                    emails: emails.as_ref().map(|found| found.get(&EmailsOfUser(id)).cloned().unwrap_or_else(no_rows)),
                    bindings: bindings
                        .as_ref()
                        .map(|found| found.get(&RoleBindingsOfUser(id)).cloned().unwrap_or_else(no_rows)),
                    workspaces: workspaces.clone(),
                    member,
                }
            })
            .collect())
    }
}

/// A user.
#[Object]
impl User {
    /// The user's id.
    async fn id(&self) -> Uuid {
        self.row().id.into()
    }

    /// Login name.
    async fn username(&self) -> &str {
        &self.row().username
    }

    /// Display name.
    async fn full_name(&self) -> Option<&str> {
        self.row().full_name.as_deref()
    }

    /// `active`, `pending`, `inactive` or `banned`.
    async fn status(&self) -> &str {
        &self.row().status
    }

    /// Free-form profile: shown to the user themselves and to holders of `system.users.get`, null to
    /// everyone else.
    async fn profile(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        let access = access(ctx)?;
        let own = matches!(access.principal().as_ref(), Principal::User(u) if u.user.id == self.row().id);
        if own || access.allows(FieldRule::UserProfile.permissions(), Ancestry::SYSTEM).await? {
            Ok(Some(charged_json(ctx, &self.row().profile)?))
        } else {
            Ok(None)
        }
    }

    /// Email addresses, primary first.
    async fn emails(&self, ctx: &Context<'_>) -> Result<Vec<Email>> {
        let emails = match &self.emails {
            Some(emails) => emails.clone(),
            None => loader(ctx)?.load_one(EmailsOfUser(self.row().id)).await?.unwrap_or_else(no_rows),
        };
        // Read with the user, not admitted one by one: counted here (SPEC §7).
        access(ctx)?.charge_items(emails.len(), 0)?;
        Ok(emails.iter().cloned().map(Email).collect())
    }

    /// Roles the user holds directly, on the objects whose members the caller may read.
    async fn role_bindings(&self, ctx: &Context<'_>) -> Result<Vec<RoleBinding>> {
        let rows = match &self.bindings {
            Some(rows) => rows.clone(),
            None => loader(ctx)?.load_one(RoleBindingsOfUser(self.row().id)).await?.unwrap_or_else(no_rows),
        };
        let access = access(ctx)?;
        // The bindings came with their objects' ancestry: deciding needs no lookup.
        access.learn_all(rows.iter().map(|(_, at)| *at));
        let rows = rows.iter().map(|(row, _)| row.clone()).collect();
        Ok(access
            .admit_all(rows)
            .await?
            .into_iter()
            .map(|row| RoleBinding(row, Holder::default(), self.workspaces.clone()))
            .collect())
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.row().created_at
    }

    /// When the account last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row().updated_at
    }
}

/// An email address of a user.
pub struct Email(pub users::Email);

/// An email address.
#[Object]
impl Email {
    /// The address, lower-cased.
    async fn address(&self) -> &str {
        &self.0.address
    }

    /// Whether the address was verified.
    async fn verified(&self) -> bool {
        self.0.verified
    }

    /// Whether this is the user's primary address.
    async fn primary(&self) -> bool {
        self.0.is_primary
    }
}

/// A role held by a principal at one scope object. Only made from a binding the caller may read. The
/// workspaces, when the binding came in a list of users that loaded them (`User::list`).
pub struct RoleBinding(Readable<RoleBindingRow>, Holder, Option<BindingWorkspaces>);

/// The holder of a binding, when the list the binding came in loaded it already (a workspace's bindings
/// come with their service accounts, and with the workspace's members when `user` is selected): the
/// relation is then answered without loading it again. Access is decided the same way either way.
#[derive(Default)]
pub(crate) struct Holder {
    /// The user holding the binding, found among the members loaded beside it.
    pub(crate) user: Option<users::User>,
    /// The service account holding the binding, read with it.
    pub(crate) account: Option<crate::domain::service_accounts::ServiceAccount>,
}

/// No rows: what a relation's loader answers for a key it found nothing for.
fn no_rows<T>() -> Arc<[T]> {
    Arc::from(Vec::new())
}

impl From<Readable<RoleBindingRow>> for RoleBinding {
    fn from(binding: Readable<RoleBindingRow>) -> Self {
        RoleBinding(binding, Holder::default(), None)
    }
}

impl RoleBinding {
    /// A binding whose holder was loaded with it.
    pub(crate) fn with_holder(binding: Readable<RoleBindingRow>, holder: Holder) -> Self {
        RoleBinding(binding, holder, None)
    }
}

/// A role binding.
#[Object]
impl RoleBinding {
    /// The binding's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// The role.
    async fn role(&self) -> Option<Role> {
        self.0.role.parse().ok()
    }

    /// Where it applies.
    async fn scope(&self) -> Option<crate::rbac::Scope> {
        self.0.role.parse::<Role>().ok().and_then(Role::scope)
    }

    /// The user holding it, if a user does (a member of the binding's object).
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.user_id else { return Ok(None) };
        let user = match self.1.user.as_ref().filter(|user| user.id == id) {
            Some(user) => user.clone(),
            None => match loader(ctx)?.load_one(UserById(id)).await? {
                Some(user) => user,
                None => return Ok(None),
            },
        };
        let member = Member { user, via: self.0.ancestry() };
        Ok(access(ctx)?.admit(member).await?.map(User::from))
    }

    /// The workspace it applies to, for workspace bindings (null unless the caller may read it).
    async fn workspace(&self, ctx: &Context<'_>) -> Result<Option<Workspace>> {
        let Some(id) = self.0.workspace_id else { return Ok(None) };
        let row = match &self.2 {
            // Loaded with the list this binding came in, for all its bindings.
            Some(found) => found.get(&WorkspaceById(id)).cloned(),
            None => loader(ctx)?.load_one(WorkspaceById(id)).await?,
        };
        let Some(row) = row else { return Ok(None) };
        Ok(access(ctx)?.admit(row).await?.map(Workspace::from))
    }

    /// The deployment it applies to, for deployment bindings (null unless the caller may read it).
    async fn deployment(&self, ctx: &Context<'_>) -> Result<Option<Deployment>> {
        let Some(id) = self.0.deployment_id else { return Ok(None) };
        let Some(row) = loader(ctx)?.load_one(DeploymentById(id)).await? else { return Ok(None) };
        Ok(access(ctx)?.admit(row).await?.map(Deployment::from))
    }

    /// The team holding it, if a team does (null unless the caller may read the team through the object
    /// the binding is on).
    async fn team(&self, ctx: &Context<'_>) -> Result<Option<Team>> {
        let Some(id) = self.0.team_id else { return Ok(None) };
        let Some(team) = loader(ctx)?.load_one(TeamById(id)).await? else { return Ok(None) };
        let reached = TeamReached { team, via: self.0.ancestry() };
        Ok(access(ctx)?.admit(reached).await?.map(Team::from))
    }

    /// The service account holding it, if one does (null unless the caller may read it).
    async fn service_account(&self, ctx: &Context<'_>) -> Result<Option<ServiceAccount>> {
        let Some(id) = self.0.service_account_id else { return Ok(None) };
        let row = match self.1.account.as_ref().filter(|account| account.id == id) {
            Some(account) => account.clone(),
            None => match loader(ctx)?.load_one(ServiceAccountById(id)).await? {
                Some(account) => account,
                None => return Ok(None),
            },
        };
        Ok(access(ctx)?.admit(row).await?.map(ServiceAccount::listed))
    }

    /// The custom role it holds, for a `WORKSPACE_CUSTOM` or `DEPLOYMENT_CUSTOM` binding (null unless the
    /// caller may read the organization's custom roles or holds this one).
    async fn custom_role(&self, ctx: &Context<'_>) -> Result<Option<crate::graphql::types::rbac::CustomRole>> {
        let Some(id) = self.0.custom_role_id else { return Ok(None) };
        let Some(role) = loader(ctx)?.load_one(crate::graphql::loaders::CustomRoleById(id)).await? else {
            return Ok(None);
        };
        Ok(access(ctx)?.admit(role).await?.map(crate::graphql::types::rbac::CustomRole::from))
    }

    /// When it was granted.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
