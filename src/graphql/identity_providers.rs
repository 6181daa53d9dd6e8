//! Identity providers (OpenID Connect) of organizations: configured by those who may decide how the
//! organization's people are identified (`organization.authentication.update`, owners only; SPEC §3.1).

use async_graphql::{Context, InputObject, Object, Result};

use crate::domain::identity_providers::{self, ProviderInput, SecretPolicy};
use crate::graphql::authz::{Op, access};
use crate::graphql::context::{actor, conn, state};
use crate::graphql::scalars::Uuid;
use crate::graphql::types::identity_provider::IdentityProvider;
use crate::state::AppState;

/// A provider's settings. The client secret is never sent here, and no setting says where it is: the
/// operator stores it under the provider's organization and name, as the provider's
/// `clientSecretVariable` (`CAPCOM_OIDC_SECRET_<ORGANIZATION>_<NAME>`) or the file `clientSecretPath`
/// (`<CAPCOM_OIDC_SECRETS_DIR>/<organization-id>/<name>`).
#[derive(InputObject)]
pub struct IdentityProviderInput {
    /// Short name, unique in the installation: 1 to 63 lower-case letters, digits and hyphens. With the
    /// organization's id it names the client secret the provider uses.
    pub name: String,
    /// Name a console shows (default: the name).
    pub display_name: Option<String>,
    /// Issuer URL (https; its `/.well-known/openid-configuration` is read).
    pub issuer_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// Scopes (default `openid email profile`; `openid` is always asked for).
    pub scopes: Option<Vec<String>>,
    /// ID-token claim holding the address (default `email`).
    pub email_claim: Option<String>,
    /// ID-token claim holding the display name (default `name`).
    pub name_claim: Option<String>,
    /// ID-token claim holding group names; with it, the user's teams follow the groups at each sign-in.
    pub groups_claim: Option<String>,
    /// Whether sign-in through it is offered (default true).
    pub enabled: Option<bool>,
}

impl From<IdentityProviderInput> for ProviderInput {
    fn from(input: IdentityProviderInput) -> Self {
        ProviderInput {
            name: input.name,
            display_name: input.display_name,
            issuer_url: input.issuer_url,
            client_id: input.client_id,
            scopes: input.scopes,
            email_claim: input.email_claim,
            name_claim: input.name_claim,
            groups_claim: input.groups_claim,
            enabled: input.enabled,
        }
    }
}

/// Where client secrets may come from, as configured.
pub fn secret_policy(state: &AppState) -> SecretPolicy {
    SecretPolicy { secrets_dir: state.config.oidc_secrets_dir.clone(), allow_http: state.config.oidc_allow_http }
}

/// Identity-provider queries.
#[derive(Default)]
pub struct IdentityProviderQuery;

#[Object(guard = "Op")]
impl IdentityProviderQuery {
    /// The organization's identity providers, by name.
    async fn identity_providers(&self, ctx: &Context<'_>, organization_uuid: Uuid) -> Result<Vec<IdentityProvider>> {
        let id = organization_uuid.required("organizationUuid")?;
        let rows = {
            let mut conn = conn(ctx).await?;
            crate::domain::organizations::get(&mut conn, id).await?;
            identity_providers::of_organizations(&mut conn, &[id]).await?
        };
        Ok(access(ctx)?.admit_all(rows).await?.into_iter().map(IdentityProvider).collect())
    }
}

/// Identity-provider mutations.
#[derive(Default)]
pub struct IdentityProviderMutation;

#[Object(guard = "Op")]
impl IdentityProviderMutation {
    /// Adds an OpenID Connect provider to the organization. Its people then sign in at
    /// `/v1/oauth/start?provider=<name>`; only addresses of the organization's verified domains are let in.
    async fn create_identity_provider(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        input: IdentityProviderInput,
    ) -> Result<IdentityProvider> {
        let id = organization_uuid.required("organizationUuid")?;
        let policy = secret_policy(state(ctx)?);
        let created = {
            let mut conn = conn(ctx).await?;
            identity_providers::create(&mut conn, id, &input.into(), &policy, &actor(ctx)).await?
        };
        Ok(IdentityProvider(access(ctx)?.admit_one(created).await?))
    }

    /// Replaces a provider's settings.
    async fn update_identity_provider(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        provider_uuid: Uuid,
        input: IdentityProviderInput,
    ) -> Result<IdentityProvider> {
        let id = organization_uuid.required("organizationUuid")?;
        let provider = provider_uuid.required("providerUuid")?;
        let state = state(ctx)?;
        let policy = secret_policy(state);
        let now = state.clock.now();
        let updated = {
            let mut conn = conn(ctx).await?;
            identity_providers::update(&mut conn, id, provider, &input.into(), &policy, now, &actor(ctx)).await?
        };
        Ok(IdentityProvider(access(ctx)?.admit_one(updated).await?))
    }

    /// Removes a provider; accounts that signed in through it stay. Returns it as it was.
    async fn delete_identity_provider(
        &self,
        ctx: &Context<'_>,
        organization_uuid: Uuid,
        provider_uuid: Uuid,
    ) -> Result<IdentityProvider> {
        let id = organization_uuid.required("organizationUuid")?;
        let provider = provider_uuid.required("providerUuid")?;
        let deleted = {
            let mut conn = conn(ctx).await?;
            identity_providers::delete(&mut conn, id, provider, &actor(ctx)).await?
        };
        Ok(IdentityProvider(access(ctx)?.admit_one(deleted).await?))
    }
}
