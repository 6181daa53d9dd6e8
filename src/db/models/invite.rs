//! `invites` and `mail_outbox`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{invites, mail_outbox};

/// An invite row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = invites, check_for_backend(diesel::pg::Pg))]
pub struct Invite {
    /// Primary key.
    pub id: Uuid,
    /// Invited address, lower-cased.
    pub email: String,
    /// `SYSTEM`, `ORGANIZATION` or `WORKSPACE`.
    pub scope: String,
    /// Organization of an organization invite.
    pub organization_id: Option<Uuid>,
    /// Workspace of a workspace invite.
    pub workspace_id: Option<Uuid>,
    /// Role granted on acceptance.
    pub role: Option<String>,
    /// Deployment roles granted with the workspace role.
    pub deployment_roles: serde_json::Value,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Inviter.
    pub invited_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Inviting API key (when a service account invited).
    pub invited_by_service_account_id: Option<Uuid>,
    /// The custom workspace role the invite grants (`role` is then `WORKSPACE_CUSTOM`).
    pub custom_role_id: Option<Uuid>,
}

/// Insert form of [`Invite`].
#[derive(Debug, Insertable)]
#[diesel(table_name = invites)]
pub struct NewInvite {
    /// Primary key.
    pub id: Uuid,
    /// Invited address.
    pub email: String,
    /// Scope name.
    pub scope: &'static str,
    /// Organization.
    pub organization_id: Option<Uuid>,
    /// Workspace.
    pub workspace_id: Option<Uuid>,
    /// Role.
    pub role: Option<String>,
    /// Deployment roles.
    pub deployment_roles: serde_json::Value,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Inviter.
    pub invited_by: Option<Uuid>,
    /// Inviting API key.
    pub invited_by_service_account_id: Option<Uuid>,
    /// The custom workspace role the invite grants (`role` is then `WORKSPACE_CUSTOM`).
    pub custom_role_id: Option<Uuid>,
}

/// Filter of invite lists; empty fields are ignored.
#[derive(Debug, Clone, Default)]
pub struct InviteFilter {
    /// Only this workspace's invites.
    pub workspace_id: Option<Uuid>,
    /// Only this invite.
    pub invite_id: Option<Uuid>,
    /// Only invites to this address.
    pub email: Option<String>,
}

impl Invite {
    /// Inserts an invite.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewInvite) -> QueryResult<Invite> {
        diesel::insert_into(invites::table).values(new).returning(Invite::as_returning()).get_result(conn).await
    }

    /// The invite with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Invite>> {
        invites::table.find(id).select(Invite::as_select()).first(conn).await.optional()
    }

    /// The invite with this token hash, locked.
    pub async fn find_by_token_for_update(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<Invite>> {
        invites::table
            .filter(invites::token_hash.eq(hash))
            .select(Invite::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Unexpired invites for `email`, locked.
    pub async fn pending_for_email(
        conn: &mut AsyncPgConnection,
        email: &str,
        now: DateTime<Utc>,
    ) -> QueryResult<Vec<Invite>> {
        invites::table
            .filter(invites::email.eq(email))
            .filter(invites::expires_at.gt(now))
            .select(Invite::as_select())
            .for_update()
            .load(conn)
            .await
    }

    /// Invites matching `filter`, newest first, at most `limit`.
    pub async fn list(conn: &mut AsyncPgConnection, filter: &InviteFilter, limit: i64) -> QueryResult<Vec<Invite>> {
        let mut query =
            invites::table.select(Invite::as_select()).order(invites::created_at.desc()).limit(limit).into_boxed();
        if let Some(id) = filter.workspace_id {
            query = query.filter(invites::workspace_id.eq(id));
        }
        if let Some(id) = filter.invite_id {
            query = query.filter(invites::id.eq(id));
        }
        if let Some(email) = &filter.email {
            query = query.filter(invites::email.eq(email.to_lowercase()));
        }
        query.load(conn).await
    }

    /// The invites of these workspaces.
    pub async fn for_workspaces(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Invite>> {
        invites::table
            .filter(invites::workspace_id.eq_any(ids))
            .order(invites::created_at.desc())
            .select(Invite::as_select())
            .load(conn)
            .await
    }

    /// Deletes an invite.
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(invites::table.find(id)).execute(conn).await
    }

    /// Whether a pending invite exists for `email` in workspace `workspace_id`.
    pub async fn pending_in_workspace(
        conn: &mut AsyncPgConnection,
        workspace_id: Uuid,
        email: &str,
        now: DateTime<Utc>,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            invites::table
                .filter(invites::workspace_id.eq(workspace_id))
                .filter(invites::email.eq(email))
                .filter(invites::expires_at.gt(now)),
        ))
        .get_result(conn)
        .await
    }
}

/// A message in the outbox.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = mail_outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxMessage {
    /// Primary key.
    pub id: Uuid,
    /// Recipient address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body_text: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// Next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
}

impl OutboxMessage {
    /// Queues a message (in the caller's transaction).
    pub async fn enqueue(conn: &mut AsyncPgConnection, recipient: &str, subject: &str, body: &str) -> QueryResult<()> {
        diesel::insert_into(mail_outbox::table)
            .values((
                mail_outbox::id.eq(Uuid::now_v7()),
                mail_outbox::recipient.eq(recipient),
                mail_outbox::subject.eq(subject),
                mail_outbox::body_text.eq(body),
            ))
            .execute(conn)
            .await
            .map(|_| ())
    }

    /// The newest messages, at most `limit`.
    pub async fn newest(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<OutboxMessage>> {
        mail_outbox::table
            .order(mail_outbox::created_at.desc())
            .limit(limit)
            .select(OutboxMessage::as_select())
            .load(conn)
            .await
    }
}
