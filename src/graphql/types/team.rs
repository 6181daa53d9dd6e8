//! `Team`.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use crate::graphql::authz::{Member, Readable, Scoped, TeamReached, access, charged};
use crate::graphql::context::loader;
use crate::graphql::loaders::{MembersOfTeam, RoleBindingsOfTeam};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::user::{RoleBinding, User};

/// A named group of an organization's users that holds roles for its members. Only made from a team the
/// caller may read (through its organization, or an object it holds a role on).
pub struct Team(Readable<TeamReached>);

impl From<Readable<TeamReached>> for Team {
    fn from(team: Readable<TeamReached>) -> Self {
        Team(team)
    }
}

impl Team {
    /// The team's id.
    pub fn uuid(&self) -> uuid::Uuid {
        self.0.team.id
    }
}

/// A team.
#[Object]
impl Team {
    /// The team's id.
    async fn id(&self) -> Uuid {
        self.0.team.id.into()
    }

    /// Name, unique in its organization.
    async fn name(&self) -> &str {
        &self.0.team.name
    }

    /// Description.
    async fn description(&self, ctx: &Context<'_>) -> Result<&str> {
        Ok(charged(ctx, &self.0.team.description)?)
    }

    /// The organization it belongs to.
    async fn organization_id(&self) -> Uuid {
        self.0.team.organization_id.into()
    }

    /// The roles the team holds, on the objects whose members the caller may read.
    async fn role_bindings(&self, ctx: &Context<'_>) -> Result<Vec<RoleBinding>> {
        let rows = loader(ctx)?.load_one(RoleBindingsOfTeam(self.0.team.id)).await?.unwrap_or_default();
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(RoleBinding::from).collect())
    }

    /// Its members (empty unless the caller may read the members of the object the team was reached
    /// through).
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let users = loader(ctx)?.load_one(MembersOfTeam(self.0.team.id)).await?.unwrap_or_default();
        let via = self.0.ancestry();
        let members = users.into_iter().map(|user| Member { user, via }).collect();
        User::list(ctx, access(ctx)?.admit_all(members).await?).await
    }

    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.team.created_at
    }

    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.team.updated_at
    }
}
