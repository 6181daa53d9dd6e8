//! `AppConfig` and `AuthConfig`: what clients ask before signing in.

use async_graphql::{Json, SimpleObject};

/// Installation facts clients adapt to. Never null.
#[derive(SimpleObject)]
pub struct AppConfig {
    /// API level (the `astro` CLI chooses the documents it sends from it).
    pub version: String,
    /// capcom's own release version.
    pub capcom_version: String,
    /// Base domain of deployment URLs.
    pub base_domain: String,
    /// Registry host for bring-your-own image updates, when configured.
    pub byo_update_registry_host: Option<String>,
    /// Whether outgoing mail is configured.
    pub smtp_configured: bool,
    /// Whether users may choose release names.
    pub manual_release_names: bool,
    /// Feature flags, booleans by name.
    pub feature_flags: Json<serde_json::Value>,
}

/// How users can sign in.
#[derive(SimpleObject)]
pub struct AuthConfig {
    /// Whether email/password sign-in is enabled.
    pub local_enabled: bool,
    /// Whether anyone may sign up without an invite.
    pub public_signup: bool,
    /// Whether nobody has signed up yet (the next user becomes the system admin).
    pub initial_signup: bool,
    /// The OpenID Connect providers people can sign in through (see `identityProviders`).
    pub providers: Vec<AuthProvider>,
}

/// An external identity provider.
#[derive(SimpleObject)]
pub struct AuthProvider {
    /// Identifier.
    pub name: String,
    /// Name shown to users.
    pub display_name: String,
    /// Where to start the sign-in: a path of this API, to which a console may add
    /// `&redirect=<its own address>` (an allowed origin) to get the one-time `signInCode` back.
    pub url: String,
}
