//! Roles, permissions, THE matrix, and the decision procedure. Authorization decisions are made here
//! and nowhere else; GraphQL guards and domain services call [`check`].

pub mod binding;
pub mod check;
pub mod matrix;
pub mod operations;
pub mod permissions;
pub mod roles;

pub use binding::Binding;
pub use check::{Ancestry, ScopeRef};
pub use matrix::Matrix;
pub use permissions::Permission;
pub use roles::{Role, Scope};
