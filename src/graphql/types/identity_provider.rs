//! `IdentityProvider`: an organization's OpenID Connect provider.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use crate::db::models::identity_provider::IdentityProvider as Row;
use crate::domain::identity_providers::{secret_env_name, secret_file_name, secret_source};
use crate::graphql::authz::Readable;
use crate::graphql::context::state;
use crate::graphql::identity_providers::secret_policy;
use crate::graphql::scalars::Uuid;

/// A provider. Only made from one the caller may read (`organization.config.get`). The client secret is
/// never part of it: only where it is read from.
pub struct IdentityProvider(pub Readable<Row>);

/// An OpenID Connect provider people of an organization sign in through.
#[Object]
impl IdentityProvider {
    /// The provider's id.
    async fn id(&self) -> Uuid {
        self.0.id.into()
    }

    /// The organization whose people sign in through it.
    async fn organization_id(&self) -> Uuid {
        self.0.organization_id.into()
    }

    /// Short name, unique in the installation (`/v1/oauth/start?provider=<name>`).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Name a console shows on its sign-in button.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Issuer URL.
    async fn issuer_url(&self) -> &str {
        &self.0.issuer_url
    }

    /// OAuth client id.
    async fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// Where the operator stored the client secret, under the provider's organization and name:
    /// `env:CAPCOM_OIDC_SECRET_<ORGANIZATION>_<NAME>`, `file:<organization-id>/<name>` (in
    /// `CAPCOM_OIDC_SECRETS_DIR`), or `none` (a public client). Never the secret.
    async fn client_secret_source(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(secret_source(self.0.organization_id, &self.0.name, &secret_policy(state(ctx)?)))
    }

    /// The environment variable the operator stores this provider's client secret in
    /// (`CAPCOM_OIDC_SECRET_<ORGANIZATION>_<NAME>`: the organization's id as 32 upper-case hex digits,
    /// the name upper-cased with `-` as `_`). Only this provider reads it (docs/sso.md).
    async fn client_secret_variable(&self) -> String {
        secret_env_name(self.0.organization_id, &self.0.name)
    }

    /// The file, inside `CAPCOM_OIDC_SECRETS_DIR`, that may hold this provider's client secret instead
    /// (`<organization-id>/<name>`).
    async fn client_secret_path(&self) -> String {
        secret_file_name(self.0.organization_id, &self.0.name)
    }

    /// Scopes asked for.
    async fn scopes(&self) -> Vec<String> {
        self.0.scopes.split_whitespace().map(str::to_owned).collect()
    }

    /// ID-token claim holding the email address.
    async fn email_claim(&self) -> &str {
        &self.0.email_claim
    }

    /// ID-token claim holding the display name.
    async fn name_claim(&self) -> &str {
        &self.0.name_claim
    }

    /// ID-token claim holding group names, mapped to teams of the same name.
    async fn groups_claim(&self) -> Option<&str> {
        self.0.groups_claim.as_deref()
    }

    /// Whether sign-in through it is offered.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
