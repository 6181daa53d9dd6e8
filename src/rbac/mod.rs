//! Roles, scopes and (in `matrix`) what each role may do. Authorization decisions are made here and
//! nowhere else.

pub mod binding;
pub mod roles;

pub use binding::Binding;
pub use roles::{Role, Scope};
