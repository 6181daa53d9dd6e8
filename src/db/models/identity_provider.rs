//! `identity_providers`, `oidc_flows`, `external_identities` and `sign_in_codes`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{external_identities, identity_providers, oidc_flows, sign_in_codes};

/// An OpenID Connect provider of an organization.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = identity_providers, check_for_backend(diesel::pg::Pg))]
pub struct IdentityProvider {
    /// Primary key.
    pub id: Uuid,
    /// The organization whose people sign in through it.
    pub organization_id: Uuid,
    /// Short name, unique in the installation (`/v1/oauth/start?provider=<name>`).
    pub name: String,
    /// Name a console shows.
    pub display_name: String,
    /// Issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// Space-separated scopes asked for (`openid` always included).
    pub scopes: String,
    /// ID-token claim holding the email address.
    pub email_claim: String,
    /// ID-token claim holding the display name.
    pub name_claim: String,
    /// ID-token claim holding group names (mapped to teams), if any.
    pub groups_claim: Option<String>,
    /// Whether sign-in through it is offered.
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert and update form of [`IdentityProvider`] (every configurable column).
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = identity_providers, treat_none_as_null = true)]
pub struct ProviderSettings {
    /// Short name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Issuer URL.
    pub issuer_url: String,
    /// Client id.
    pub client_id: String,
    /// Scopes.
    pub scopes: String,
    /// Email claim.
    pub email_claim: String,
    /// Name claim.
    pub name_claim: String,
    /// Groups claim.
    pub groups_claim: Option<String>,
    /// Enabled.
    pub enabled: bool,
}

impl IdentityProvider {
    /// Inserts a provider.
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        settings: &ProviderSettings,
    ) -> QueryResult<IdentityProvider> {
        diesel::insert_into(identity_providers::table)
            .values((
                identity_providers::id.eq(Uuid::now_v7()),
                identity_providers::organization_id.eq(organization_id),
                settings,
            ))
            .returning(IdentityProvider::as_returning())
            .get_result(conn)
            .await
    }

    /// Replaces a provider's settings.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        settings: &ProviderSettings,
        now: DateTime<Utc>,
    ) -> QueryResult<IdentityProvider> {
        diesel::update(identity_providers::table.find(id))
            .set((settings, identity_providers::updated_at.eq(now)))
            .returning(IdentityProvider::as_returning())
            .get_result(conn)
            .await
    }

    /// The provider with this id, locked.
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<IdentityProvider>> {
        identity_providers::table
            .find(id)
            .for_update()
            .select(IdentityProvider::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The provider with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<IdentityProvider>> {
        identity_providers::table.find(id).select(IdentityProvider::as_select()).first(conn).await.optional()
    }

    /// The provider with this name.
    pub async fn by_name(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<IdentityProvider>> {
        identity_providers::table
            .filter(identity_providers::name.eq(name))
            .select(IdentityProvider::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The providers of the given organizations (all when `None`), by name.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        organization_ids: Option<&[Uuid]>,
    ) -> QueryResult<Vec<IdentityProvider>> {
        let mut query = identity_providers::table.into_boxed();
        if let Some(ids) = organization_ids {
            query = query.filter(identity_providers::organization_id.eq_any(ids));
        }
        query.order(identity_providers::name).select(IdentityProvider::as_select()).load(conn).await
    }

    /// The enabled providers, by display name (what `authConfig` offers).
    pub async fn enabled(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<IdentityProvider>> {
        identity_providers::table
            .filter(identity_providers::enabled.eq(true))
            .order((identity_providers::display_name, identity_providers::name))
            .limit(limit)
            .select(IdentityProvider::as_select())
            .load(conn)
            .await
    }

    /// Deletes a provider (its flows and linked identities go with it).
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(identity_providers::table.find(id)).execute(conn).await
    }
}

/// A sign-in under way.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_flows, check_for_backend(diesel::pg::Pg))]
pub struct OidcFlow {
    /// SHA-256 of `state`.
    pub state_hash: Vec<u8>,
    /// The provider.
    pub provider_id: Uuid,
    /// SHA-256 of the browser cookie's value.
    pub browser_hash: Vec<u8>,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// Where the console waits.
    pub redirect_to: String,
    /// When the flow lapses.
    pub expires_at: DateTime<Utc>,
}

impl OidcFlow {
    /// Records a flow, and forgets lapsed ones (so the table stays small without a sweeper).
    pub async fn insert(conn: &mut AsyncPgConnection, flow: &OidcFlow, now: DateTime<Utc>) -> QueryResult<()> {
        diesel::delete(oidc_flows::table.filter(oidc_flows::expires_at.lt(now))).execute(conn).await?;
        diesel::insert_into(oidc_flows::table).values(flow).execute(conn).await.map(|_| ())
    }

    /// Takes the flow with this state hash: it is deleted, so a state works once.
    pub async fn take(conn: &mut AsyncPgConnection, state_hash: &[u8]) -> QueryResult<Option<OidcFlow>> {
        diesel::delete(oidc_flows::table.filter(oidc_flows::state_hash.eq(state_hash)))
            .returning(OidcFlow::as_returning())
            .get_result(conn)
            .await
            .optional()
    }
}

/// The user a provider's subject signs in as.
pub async fn linked_user(conn: &mut AsyncPgConnection, provider_id: Uuid, subject: &str) -> QueryResult<Option<Uuid>> {
    external_identities::table
        .filter(external_identities::provider_id.eq(provider_id))
        .filter(external_identities::subject.eq(subject))
        .select(external_identities::user_id)
        .first(conn)
        .await
        .optional()
}

/// Links a provider's subject to a user, or notes the sign-in of a linked one.
pub async fn link(
    conn: &mut AsyncPgConnection,
    provider_id: Uuid,
    subject: &str,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(external_identities::table)
        .values((
            external_identities::provider_id.eq(provider_id),
            external_identities::subject.eq(subject),
            external_identities::user_id.eq(user_id),
            external_identities::last_sign_in_at.eq(now),
        ))
        .on_conflict((external_identities::provider_id, external_identities::subject))
        .do_update()
        .set(external_identities::last_sign_in_at.eq(now))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Stores a one-time sign-in code (its hash).
pub async fn insert_code(
    conn: &mut AsyncPgConnection,
    code_hash: &[u8],
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::delete(sign_in_codes::table.filter(sign_in_codes::expires_at.lt(now))).execute(conn).await?;
    diesel::insert_into(sign_in_codes::table)
        .values((
            sign_in_codes::code_hash.eq(code_hash),
            sign_in_codes::user_id.eq(user_id),
            sign_in_codes::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Takes a code that has not lapsed: the user it names (the code is deleted either way).
pub async fn take_code(
    conn: &mut AsyncPgConnection,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<Uuid>> {
    let taken: Option<(Uuid, DateTime<Utc>)> =
        diesel::delete(sign_in_codes::table.filter(sign_in_codes::code_hash.eq(code_hash)))
            .returning((sign_in_codes::user_id, sign_in_codes::expires_at))
            .get_result(conn)
            .await
            .optional()?;
    Ok(taken.filter(|(_, expires_at)| *expires_at > now).map(|(user, _)| user))
}
