//! `Invite` and `MailMessage`.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::invites;
use crate::graphql::authz::{Readable, access};
use crate::graphql::context::loader;
use crate::graphql::loaders::WorkspaceById;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::workspace::Workspace;
use crate::rbac::Role;

/// A pending grant of a role to an email address. Only made from an invite the caller may read. Its token
/// is never part of it, not even for its creator: the token is delivered only by mail (SPEC §4.4), as it
/// is the proof that the address's owner accepted.
pub struct Invite {
    invite: Readable<invites::Invite>,
}

impl Invite {
    /// An invite, as listed or as just created.
    pub fn listed(invite: Readable<invites::Invite>) -> Self {
        Invite { invite }
    }
}

/// An invite.
#[Object]
impl Invite {
    /// The invite's id.
    async fn id(&self) -> Uuid {
        self.invite.id.into()
    }

    /// The invited address.
    async fn email(&self) -> &str {
        &self.invite.email
    }

    /// The role granted on acceptance (none for an invitation to sign up only).
    async fn role(&self) -> Option<Role> {
        self.invite.role.as_deref().and_then(|r| r.parse().ok())
    }

    /// The workspace of a workspace invite (null unless the caller may read it).
    async fn workspace(&self, ctx: &Context<'_>) -> Result<Option<Workspace>> {
        let Some(id) = self.invite.workspace_id else { return Ok(None) };
        let Some(row) = loader(ctx)?.load_one(WorkspaceById(id)).await? else { return Ok(None) };
        Ok(access(ctx)?.admit(row).await?.map(Workspace::from))
    }

    /// Expiry.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.invite.expires_at
    }

    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.invite.created_at
    }
}

/// A message in the mail outbox.
#[derive(SimpleObject)]
pub struct MailMessage {
    /// The message's id.
    pub id: Uuid,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it was sent, if it was.
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<invites::MailMessage> for MailMessage {
    fn from(message: invites::MailMessage) -> Self {
        MailMessage {
            id: message.id.into(),
            recipient: message.recipient,
            subject: message.subject,
            body: message.body_text,
            created_at: message.created_at,
            sent_at: message.sent_at,
        }
    }
}
