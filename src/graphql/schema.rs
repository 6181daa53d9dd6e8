//! Building the schema, with its limits and policies, and exporting its SDL.
//!
//! Two request-level policies run around every operation, whatever its transport: the document limits
//! (`crate::graphql::limits`) before async-graphql parses or validates anything, and the error policy
//! (`crate::graphql::errors`) on every response. They run here, around the schema, rather than as
//! async-graphql extensions: a schema with any extension sends every field of every response through the
//! extension chain, which costs time on every field for hooks that only concern the request.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::{BatchRequest, BatchResponse, Request, Response, Schema, SchemaBuilder};

use crate::config::Config;
use crate::graphql::RequestMeta;
use crate::graphql::allowance::RequestAllowance;
use crate::graphql::authz::Access;
use crate::graphql::budget::{self, CostModel, ReplyBudget};
use crate::graphql::errors;
use crate::graphql::limits::{self, AdmittedDocuments, DocumentLimits};
use crate::graphql::mutation::Mutation;
use crate::graphql::order::{self, Shape};
use crate::graphql::query::Query;
use crate::graphql::subscription::Subscription;
use crate::state::AppState;

/// The capcom schema, as async-graphql builds it.
pub type CapcomSchema = Schema<Query, Mutation, Subscription>;

fn builder(config: &Config) -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .limit_recursive_depth(64)
}

/// The schema with the policies every operation goes through. Cheap to clone.
#[derive(Clone)]
pub struct GraphqlService {
    schema: CapcomSchema,
    limits: DocumentLimits,
    /// Sizes replies before execution (`crate::graphql::budget`).
    cost: Arc<CostModel>,
    /// `CAPCOM_MAX_REPLY_OBJECTS`.
    max_reply_objects: usize,
    /// `CAPCOM_MAX_REPLY_BYTES` (checked here for WebSocket messages; HTTP checks the body it writes).
    max_reply_bytes: usize,
    /// Documents admitted before, parsed (`crate::graphql::limits::AdmittedDocuments`).
    documents: Arc<AdmittedDocuments>,
}

/// The reply budget of the operation `request` carries (through its `Access`), if any.
fn budget_of(request: &Request) -> Option<Arc<ReplyBudget>> {
    request
        .data
        .get(&TypeId::of::<Access>())
        .and_then(|data| data.downcast_ref::<Access>())
        .map(|access| access.budget().clone())
}

/// A request error made of `error`, with no location.
fn request_error(error: crate::error::ApiError) -> async_graphql::ServerError {
    let mut error = async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default());
    error.locations.clear();
    error
}

fn request_id_of(request: &Request) -> String {
    request
        .data
        .get(&TypeId::of::<RequestMeta>())
        .and_then(|data| data.downcast_ref::<RequestMeta>())
        .map(|meta| meta.request_id.clone())
        .unwrap_or_default()
}

/// Completes an admitted request's variables (`order::complete_variables`) and returns the shape of its
/// reply (its document is parsed by then).
fn prepare(request: &mut Request) -> Result<Option<Shape>, async_graphql::ServerError> {
    // Borrowed out and back: the document is reached through `&mut self` only.
    let operation_name = request.operation_name.take();
    let mut variables = std::mem::take(&mut request.variables);
    let prepared = match request.parsed_query() {
        Ok(document) => order::complete_variables(document, operation_name.as_deref(), &mut variables)
            .map(|()| Shape::of_operation(document, operation_name.as_deref(), &variables))
            .map_err(|refused| {
                let mut error = async_graphql::Error::from(refused).into_server_error(async_graphql::Pos::default());
                error.locations.clear();
                error
            }),
        Err(error) => Err(error),
    };
    request.operation_name = operation_name;
    request.variables = variables;
    prepared
}

fn finish(mut response: Response, request_id: &str) -> Response {
    for error in &mut response.errors {
        errors::apply(error, request_id);
    }
    response
}

impl GraphqlService {
    /// Refuses an admitted, prepared request whose reply is estimated at more than
    /// `CAPCOM_MAX_REPLY_OBJECTS` objects, or whose introspection returns more than its allowance
    /// (`crate::graphql::introspection_cost`), before anything executes.
    fn estimate(&self, request: &mut Request) -> Result<(), async_graphql::ServerError> {
        let operation_name = request.operation_name.take();
        let variables = std::mem::take(&mut request.variables);
        let estimate = match request.parsed_query() {
            Ok(document) => self.cost.sizes(document, operation_name.as_deref(), &variables),
            Err(_) => budget::Estimate::default(),
        };
        request.operation_name = operation_name;
        request.variables = variables;
        let allowance = self.cost.introspection_allowance();
        if let Ok(max) = u64::try_from(self.max_reply_objects) {
            if estimate.objects > max {
                return Err(request_error(budget::estimate_exceeded(estimate.objects, self.max_reply_objects)));
            }
        }
        if estimate.introspection == 0 {
            return Ok(());
        }
        // Counted for the whole request: a batch shares one count (HTTP attaches it), anything else
        // (one WebSocket operation) has its own.
        let spent = RequestAllowance::of(request)
            .map_or(estimate.introspection, |allowance| allowance.introspection.add(estimate.introspection));
        if spent > allowance {
            return Err(request_error(budget::introspection_exceeded(spent, allowance)));
        }
        Ok(())
    }

    /// Replaces a reply holding more than `CAPCOM_MAX_REPLY_OBJECTS` objects (or whose execution passed
    /// the budget of objects, or the request's of bytes) by a request error naming the cap; the reply
    /// built so far is dropped.
    fn bound_objects(&self, response: &mut Response, budget: Option<&ReplyBudget>) {
        if let Some(bytes) = budget.map(ReplyBudget::bytes).filter(|bytes| bytes.exceeded()) {
            *response = Response::from_errors(vec![request_error(budget::bytes_exceeded(bytes.max()))]);
            return;
        }
        let exceeded = budget.is_some_and(ReplyBudget::exceeded)
            || budget::count_objects(&response.data, self.max_reply_objects) > self.max_reply_objects;
        if exceeded {
            *response = Response::from_errors(vec![request_error(budget::objects_exceeded(self.max_reply_objects))]);
        }
    }

    /// Replaces a reply larger than `CAPCOM_MAX_REPLY_BYTES` once serialized by a request error naming the
    /// cap (for WebSocket messages; HTTP bounds the body as it writes it).
    fn bound_bytes(&self, response: &mut Response) {
        let mut sink = budget::LimitedWriter::new(std::io::sink(), self.max_reply_bytes);
        if serde_json::to_writer(&mut sink, &*response).is_err() && sink.exceeded {
            *response = Response::from_errors(vec![request_error(budget::bytes_exceeded(self.max_reply_bytes))]);
        }
    }

    /// Executes one operation (a request of its own: it gets its own [`RequestAllowance`] unless it
    /// already holds one).
    pub async fn execute(&self, request: Request) -> Response {
        let request_id = request_id_of(&request);
        let request = RequestAllowance::attach(request, &RequestAllowance::new());
        // The document's limits are checked first; it is then parsed once and the parsed form executed.
        let response = match limits::admit(request, self.limits, &self.documents) {
            Ok(mut request) => {
                match prepare(&mut request).and_then(|shape| self.estimate(&mut request).map(|()| shape)) {
                    Ok(shape) => {
                        let budget = budget_of(&request);
                        let mut response = self.schema.execute(request).await;
                        self.bound_objects(&mut response, budget.as_deref());
                        if let Some(shape) = shape {
                            shape.apply(&mut response.data);
                        }
                        response
                    }
                    Err(refused) => Response::from_errors(vec![refused]),
                }
            }
            Err(refused) => Response::from_errors(vec![refused]),
        };
        finish(response, &request_id)
    }

    /// Executes a batch, each operation as [`GraphqlService::execute`] would.
    pub async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match batch {
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request).await),
            BatchRequest::Batch(requests) => {
                // The batch is one request: one allowance for all its operations, whichever asks first.
                let allowance = RequestAllowance::new();
                let requests = requests.into_iter().map(|request| RequestAllowance::attach(request, &allowance));
                BatchResponse::Batch(
                    async_graphql::futures_util::future::join_all(requests.map(|r| self.execute(r))).await,
                )
            }
        }
    }

    /// Executes a subscription (or any operation sent on a WebSocket) as a stream of responses.
    pub fn execute_stream(&self, request: Request) -> BoxStream<'static, Response> {
        let request_id = request_id_of(&request);
        let request = RequestAllowance::attach(request, &RequestAllowance::new());
        match limits::admit(request, self.limits, &self.documents) {
            Ok(mut request) => {
                let shape = match prepare(&mut request).and_then(|shape| self.estimate(&mut request).map(|()| shape)) {
                    Ok(shape) => shape,
                    Err(refused) => {
                        let refused = Response::from_errors(vec![refused]);
                        return async_graphql::futures_util::stream::once(async move { finish(refused, &request_id) })
                            .boxed();
                    }
                };
                let budget = budget_of(&request);
                let service = self.clone();
                self.schema
                    .execute_stream(request)
                    .map(move |mut response| {
                        // Each event is a reply of its own: bounded on its own, then the count starts again.
                        service.bound_objects(&mut response, budget.as_deref());
                        service.bound_bytes(&mut response);
                        if let Some(budget) = &budget {
                            budget.reset();
                        }
                        if let Some(shape) = &shape {
                            shape.apply(&mut response.data);
                        }
                        finish(response, &request_id)
                    })
                    .boxed()
            }
            Err(refused) => {
                let refused = Response::from_errors(vec![refused]);
                async_graphql::futures_util::stream::once(async move { finish(refused, &request_id) }).boxed()
            }
        }
    }
}

/// The schema serving requests, holding the application state.
pub fn build_schema(state: AppState) -> GraphqlService {
    let config = state.config.clone();
    let schema = builder(&config).data(state).finish();
    let cost = Arc::new(CostModel::from_sdl(&schema.sdl(), config.list_cap));
    GraphqlService {
        schema,
        limits: DocumentLimits::from_config(&config),
        cost,
        max_reply_objects: config.max_reply_objects,
        max_reply_bytes: config.max_reply_bytes,
        documents: Arc::new(AdmittedDocuments::new(config.document_cache_entries)),
    }
}

/// The schema's SDL (what `schema.graphql` holds and `capcom export-schema` prints).
pub fn sdl() -> String {
    // Limits and policies do not change the SDL.
    Schema::build(Query::default(), Mutation::default(), Subscription).finish().sdl()
}
