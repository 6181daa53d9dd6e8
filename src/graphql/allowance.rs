//! What one request may spend at most once, whatever number of aliases or batched operations ask for it
//! (SPEC §7: no request, however built, costs unbounded CPU or memory).
//!
//! A request is an HTTP request (a batch as a whole) or one operation sent on a WebSocket. Its
//! [`RequestAllowance`] is put in the request data once, before execution, and shared by every operation
//! of the request: HTTP attaches one per request, [`crate::graphql::GraphqlService`] gives any operation
//! that arrives without one (a WebSocket operation, a batch built elsewhere) a fresh one of its own.

use std::sync::Arc;

use async_graphql::Request;

use crate::auth::password::HashPermit;
use crate::domain::deployment_files::FilePermit;
use crate::graphql::budget::IntrospectionSpent;

/// The per-request allowances, shared by all operations of one request.
#[derive(Debug, Default)]
pub struct RequestAllowance {
    /// One password check and one password hash (`crate::auth::password`).
    pub password: Arc<HashPermit>,
    /// One deployment file applied (`crate::domain::deployment_files::MAX_FILE_BYTES` each).
    pub file: FilePermit,
    /// The introspection objects the request's operations have been allowed so far
    /// (`crate::graphql::introspection_cost::DESCRIPTIONS_ALLOWED` descriptions of the schema).
    pub introspection: IntrospectionSpent,
}

impl RequestAllowance {
    /// A fresh allowance, to be shared by every operation of one request.
    pub fn new() -> Arc<RequestAllowance> {
        Arc::new(RequestAllowance::default())
    }

    /// The allowance `request` holds, if any.
    pub fn of(request: &Request) -> Option<&RequestAllowance> {
        request
            .data
            .get(&std::any::TypeId::of::<Arc<RequestAllowance>>())
            .and_then(|data| data.downcast_ref::<Arc<RequestAllowance>>())
            .map(Arc::as_ref)
    }

    /// `request`, holding `allowance` unless it holds one already.
    pub fn attach(request: Request, allowance: &Arc<RequestAllowance>) -> Request {
        if RequestAllowance::of(&request).is_some() { request } else { request.data(allowance.clone()) }
    }
}
