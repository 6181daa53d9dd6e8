//! Who is calling: token verification, password hashing, and the per-request principal.

pub mod api_key;
pub mod bindings;
pub mod jwt;
pub mod password;
pub mod principal;

pub use principal::{Principal, ServiceAccountPrincipal, UserPrincipal};
