//! SCIM 2.0 (RFC 7643/7644) under `/scim/v2/`: an organization's identity provider provisions its people
//! (`Users`) and teams (`Groups`). Authenticated by an organization API key whose role holds
//! `organization.scim.provision`; the key's organization is the one provisioned. Rules are in
//! [`crate::domain::scim`]; this module holds the wire format: resources, list responses, filters,
//! PATCH operations and SCIM's error format (RFC 7644 §3.12).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tower_http::request_id::RequestId;
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::models::scim::{GroupMatch, UserMatch};
use crate::domain::scim::{self as rules, GroupChange, ScimGroup, ScimUser, UserInput};
use crate::domain::{Actor, Authority};
use crate::error::ApiError;
use crate::http::client::ClientAddress;
use crate::http::router::HttpState;
use crate::rbac::{Permission, ScopeRef};

/// The media type of every SCIM response.
pub const MEDIA_TYPE: &str = "application/scim+json";
/// Core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Most resources one list response holds (advertised as `filter.maxResults`).
pub const MAX_RESULTS: i64 = 100;

/// A SCIM error response.
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into() }
    }

    fn bad(scim_type: &'static str, detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    fn from_api(error: ApiError, request_id: &str) -> ScimError {
        match error {
            ApiError::NotSignedIn | ApiError::Unauthenticated(_) => {
                ScimError::new(StatusCode::UNAUTHORIZED, None, error.to_string())
            }
            ApiError::Forbidden | ApiError::ForbiddenBy(_) => {
                ScimError::new(StatusCode::FORBIDDEN, None, error.to_string())
            }
            ApiError::NotFound => ScimError::new(StatusCode::NOT_FOUND, None, error.to_string()),
            ApiError::BadUserInput { message, .. } => ScimError::bad("invalidValue", message),
            ApiError::Conflict(message) => ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), message),
            ApiError::NotSupported(message) => ScimError::new(StatusCode::NOT_IMPLEMENTED, None, message),
            ApiError::Unavailable(detail) => {
                tracing::warn!(request_id, %detail, "SCIM request could not be served");
                ScimError::new(StatusCode::SERVICE_UNAVAILABLE, None, crate::error::MSG_UNAVAILABLE)
            }
            ApiError::Internal(detail) => {
                tracing::error!(request_id, error = %detail, "SCIM request failed");
                ScimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    format!("Internal error (request {request_id})"),
                )
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body =
            json!({"schemas": [ERROR_SCHEMA], "status": self.status.as_u16().to_string(), "detail": self.detail});
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = (self.status, [(header::CONTENT_TYPE, MEDIA_TYPE)], body.to_string()).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A SCIM handler's outcome: the response, or the SCIM error it answers with.
pub type ScimResult<T> = Result<T, ScimError>;

fn respond(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, MEDIA_TYPE)], body.to_string()).into_response()
}

/// Who is provisioning: an organization API key allowed to.
pub struct Caller {
    state: HttpState,
    organization_id: Uuid,
    actor: Actor,
    authority: Authority,
    base: String,
    request_id: String,
}

impl Caller {
    fn fail(&self, error: ApiError) -> ScimError {
        ScimError::from_api(error, &self.request_id)
    }

    async fn conn(&self) -> ScimResult<crate::db::DbConn> {
        self.state.app.pool.get().await.map_err(|e| self.fail(ApiError::from(e)))
    }
}

/// The request's parts every handler needs.
struct Incoming {
    state: HttpState,
    headers: HeaderMap,
    request_id: String,
    client_address: Option<String>,
}

/// The base URL of SCIM resources: `CAPCOM_API_URL`, else `http://<Host>`.
pub fn api_base(state: &HttpState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.app.config.api_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

async fn authenticate(incoming: Incoming) -> ScimResult<Caller> {
    let Incoming { state, headers, request_id, client_address } = incoming;
    let credential = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let client = client_address.as_deref().and_then(|text| text.parse().ok());
    let principal = crate::http::graphql::principal_for(&state.app, credential, client)
        .await
        .map_err(|e| ScimError::from_api(e, &request_id))?;
    let (organization_id, actor) = match &principal {
        Principal::ServiceAccount(key) if key.account.workspace_id.is_none() && key.account.deployment_id.is_none() => {
            let Some(organization_id) = key.account.organization_id else {
                return Err(ScimError::new(StatusCode::FORBIDDEN, None, "SCIM needs an organization API key"));
            };
            let actor = Actor {
                user_id: None,
                service_account_id: Some(key.account.id),
                label: format!("service account {}", key.account.label),
                request_id: Some(request_id.clone()).filter(|id| !id.is_empty()),
                client_address,
            };
            (organization_id, actor)
        }
        Principal::Anonymous => {
            return Err(ScimError::new(StatusCode::UNAUTHORIZED, None, "SCIM needs an organization API key"));
        }
        Principal::Rejected => {
            return Err(ScimError::new(StatusCode::UNAUTHORIZED, None, crate::error::MSG_INVALID_TOKEN));
        }
        Principal::User(_) | Principal::ServiceAccount(_) => {
            return Err(ScimError::new(StatusCode::FORBIDDEN, None, "SCIM needs an organization API key"));
        }
    };
    let authority = Authority::new(Arc::new(principal), state.app.matrix.clone());
    {
        let mut conn = state.app.pool.get().await.map_err(|e| ScimError::from_api(ApiError::from(e), &request_id))?;
        authority
            .require(&mut conn, &[Permission::OrganizationScimProvision], ScopeRef::Organization(organization_id))
            .await
            .map_err(|e| ScimError::from_api(e, &request_id))?;
    }
    let base = api_base(&state, &headers);
    Ok(Caller { state, organization_id, actor, authority, base, request_id })
}

/// Every SCIM handler starts by authenticating its caller: as an extractor it runs before the handler's
/// other arguments are read, and a refusal is the SCIM error response.
impl FromRequestParts<HttpState> for Caller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> ScimResult<Caller> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok().map(str::to_owned))
            .unwrap_or_default();
        let client_address = parts.extensions.get::<ClientAddress>().map(|address| address.text());
        authenticate(Incoming { state: state.clone(), headers: parts.headers.clone(), request_id, client_address })
            .await
    }
}

fn parse_id(text: &str) -> ScimResult<Uuid> {
    text.parse().map_err(|_| ScimError::new(StatusCode::NOT_FOUND, None, crate::error::MSG_NOT_FOUND))
}

fn parse_body(body: &Bytes) -> ScimResult<Value> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ScimError::bad("invalidSyntax", "The body is not a JSON object"))?;
    if let Some(path) = crate::http::input::nul_in_json(&value) {
        return Err(ScimError::bad("invalidValue", format!("{path} must not contain a NUL character (\\u0000)")));
    }
    Ok(value)
}

// ---- Rendering -------------------------------------------------------------------------------------

fn user_json(user: &ScimUser, base: &str) -> Value {
    let location = format!("{base}/scim/v2/Users/{}", user.user.id);
    let mut body = json!({
        "schemas": [USER_SCHEMA],
        "id": user.user.id.to_string(),
        "userName": user.user.username,
        "active": user.user.status == "active",
        "emails": user.email.iter().map(|address| json!({"value": address, "primary": true, "type": "work"})).collect::<Vec<_>>(),
        "groups": user.groups.iter().map(|(id, name)| json!({"value": id.to_string(), "display": name, "$ref": format!("{base}/scim/v2/Groups/{id}"), "type": "direct"})).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "User",
            "created": user.user.created_at.to_rfc3339(),
            "lastModified": user.user.updated_at.to_rfc3339(),
            "location": location,
        },
    });
    if let Some(name) = &user.user.full_name {
        body["displayName"] = json!(name);
        body["name"] = json!({"formatted": name});
    }
    if let Some(external) = &user.external_id {
        body["externalId"] = json!(external);
    }
    body
}

fn group_json(group: &ScimGroup, base: &str) -> Value {
    let mut body = json!({
        "schemas": [GROUP_SCHEMA],
        "id": group.team.id.to_string(),
        "displayName": group.team.name,
        "members": group.members.iter().map(|(id, name)| json!({"value": id.to_string(), "display": name, "$ref": format!("{base}/scim/v2/Users/{id}"), "type": "User"})).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "created": group.team.created_at.to_rfc3339(),
            "lastModified": group.team.updated_at.to_rfc3339(),
            "location": format!("{base}/scim/v2/Groups/{}", group.team.id),
        },
    });
    if let Some(external) = &group.external_id {
        body["externalId"] = json!(external);
    }
    body
}

fn list_json(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

// ---- Filters and paging ----------------------------------------------------------------------------

/// `attribute eq "value"` (RFC 7644 §3.4.2.2, the one operator identity providers use to look up): the
/// attribute (lower-cased) and the value. Anything else is `invalidFilter`.
fn parse_filter(filter: &str) -> ScimResult<(String, String)> {
    let invalid = || ScimError::bad("invalidFilter", "Only filters of the form attribute eq \"value\" are supported");
    let filter = filter.trim();
    let (attribute, rest) = filter.split_once(char::is_whitespace).ok_or_else(invalid)?;
    let (operator, value) = rest.trim_start().split_once(char::is_whitespace).ok_or_else(invalid)?;
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(invalid());
    }
    let value: String = serde_json::from_str(value.trim()).map_err(|_| invalid())?;
    Ok((attribute.to_ascii_lowercase(), value))
}

fn user_filter(parameters: &HashMap<String, String>) -> ScimResult<UserMatch> {
    let Some(filter) = parameters.get("filter").filter(|f| !f.trim().is_empty()) else { return Ok(UserMatch::All) };
    let (attribute, value) = parse_filter(filter)?;
    match attribute.as_str() {
        "username" => Ok(UserMatch::UserName(value)),
        "externalid" => Ok(UserMatch::ExternalId(value)),
        "emails" | "emails.value" => Ok(UserMatch::Email(value)),
        _ => Err(ScimError::bad("invalidFilter", format!("Users cannot be filtered by {attribute}"))),
    }
}

fn group_filter(parameters: &HashMap<String, String>) -> ScimResult<GroupMatch> {
    let Some(filter) = parameters.get("filter").filter(|f| !f.trim().is_empty()) else { return Ok(GroupMatch::All) };
    let (attribute, value) = parse_filter(filter)?;
    match attribute.as_str() {
        "displayname" => Ok(GroupMatch::DisplayName(value)),
        "externalid" => Ok(GroupMatch::ExternalId(value)),
        _ => Err(ScimError::bad("invalidFilter", format!("Groups cannot be filtered by {attribute}"))),
    }
}

/// `startIndex` (1-based, default 1) and `count` (default and at most [`MAX_RESULTS`]), as RFC 7644
/// §3.4.2.4 reads them: values below the range are taken as its lower end.
fn paging(parameters: &HashMap<String, String>) -> (i64, i64) {
    let number = |name: &str| parameters.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    let start = number("startIndex").unwrap_or(1).max(1);
    let count = number("count").unwrap_or(MAX_RESULTS).clamp(0, MAX_RESULTS);
    (start, count)
}

// ---- Reading resources from requests -------------------------------------------------------------

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// A boolean as providers send it: `false`, or (Azure AD) `"False"`.
fn boolean(value: &Value) -> ScimResult<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::bad("invalidValue", "active must be a boolean")),
    }
}

fn full_name_of(body: &Value) -> Option<String> {
    let name = &body["name"];
    text(&name["formatted"]).filter(|n| !n.trim().is_empty()).or_else(|| text(&body["displayName"])).or_else(|| {
        let parts: Vec<String> = [text(&name["givenName"]), text(&name["familyName"])]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

fn user_input(body: &Value) -> ScimResult<UserInput> {
    let user_name = text(&body["userName"]).ok_or_else(|| ScimError::bad("invalidValue", "userName is required"))?;
    let emails = body["emails"].as_array().cloned().unwrap_or_default();
    let email =
        emails.iter().find(|e| e["primary"].as_bool() == Some(true)).or(emails.first()).and_then(|e| text(&e["value"]));
    let active = if body["active"].is_null() { true } else { boolean(&body["active"])? };
    Ok(UserInput { user_name, email, full_name: full_name_of(body), external_id: text(&body["externalId"]), active })
}

fn operations(body: &Value) -> ScimResult<Vec<(String, Option<String>, Value)>> {
    let list = body["Operations"]
        .as_array()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "A PATCH request needs Operations"))?;
    list.iter()
        .map(|operation| {
            let op = operation["op"]
                .as_str()
                .map(str::to_ascii_lowercase)
                .filter(|op| matches!(op.as_str(), "add" | "replace" | "remove"))
                .ok_or_else(|| ScimError::bad("invalidSyntax", "op must be add, replace or remove"))?;
            Ok((op, text(&operation["path"]), operation["value"].clone()))
        })
        .collect()
}

/// Applies one user attribute; attributes capcom does not keep (titles, phone numbers, given and family
/// names when a formatted name is kept) are accepted and ignored.
fn set_user_attribute(input: &mut UserInput, path: &str, value: &Value, remove: bool) -> ScimResult<()> {
    match path.to_ascii_lowercase().as_str() {
        "active" => input.active = if remove { true } else { boolean(value)? },
        "username" if !remove => {
            input.user_name = text(value).ok_or_else(|| ScimError::bad("invalidValue", "userName must be a string"))?;
        }
        "username" => return Err(ScimError::bad("mutability", "userName cannot be removed")),
        "externalid" => input.external_id = if remove { None } else { text(value) },
        "displayname" | "name.formatted" => input.full_name = if remove { None } else { text(value) },
        "name" if value.is_object() => input.full_name = full_name_of(&json!({"name": value})),
        _ => {}
    }
    Ok(())
}

fn patch_user(current: &ScimUser, body: &Value) -> ScimResult<UserInput> {
    let mut input = UserInput {
        user_name: current.user.username.clone(),
        email: current.email.clone(),
        full_name: current.user.full_name.clone(),
        external_id: current.external_id.clone(),
        active: current.user.status == "active",
    };
    for (op, path, value) in operations(body)? {
        let remove = op == "remove";
        match path {
            Some(path) => set_user_attribute(&mut input, &path, &value, remove)?,
            None => {
                let fields = value
                    .as_object()
                    .ok_or_else(|| ScimError::bad("invalidValue", "A value without a path must be an object"))?;
                for (key, value) in fields {
                    set_user_attribute(&mut input, key, value, remove)?;
                }
            }
        }
    }
    Ok(input)
}

fn member_ids(value: &Value) -> ScimResult<Vec<Uuid>> {
    let list = match value {
        Value::Array(list) => list.clone(),
        Value::Object(_) => vec![value.clone()],
        Value::Null => Vec::new(),
        _ => return Err(ScimError::bad("invalidValue", "members must be a list of {\"value\": id}")),
    };
    list.iter()
        .map(|member| {
            member["value"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| ScimError::bad("invalidValue", "Each member needs the value of a user id"))
        })
        .collect()
}

/// `members[value eq "id"]` → the id.
fn member_in_path(path: &str) -> ScimResult<Option<Uuid>> {
    let Some(inner) = path.strip_prefix("members[").and_then(|p| p.strip_suffix(']')) else { return Ok(None) };
    let (attribute, value) = parse_filter(inner)?;
    if attribute != "value" {
        return Err(ScimError::bad("invalidPath", "Members are selected by value"));
    }
    value.parse().map(Some).map_err(|_| ScimError::bad("invalidValue", "A member value is a user id"))
}

fn patch_group(body: &Value) -> ScimResult<GroupChange> {
    let mut change = GroupChange::default();
    for (op, path, value) in operations(body)? {
        let lowered = path.as_deref().map(str::to_ascii_lowercase);
        match (op.as_str(), lowered.as_deref()) {
            ("remove", Some(p)) if p.starts_with("members[") => {
                if let Some(id) = member_in_path(path.as_deref().unwrap_or_default())? {
                    change.remove.push(id);
                }
            }
            ("remove", Some("members")) if value.is_null() => change.members = Some(Vec::new()),
            ("remove", Some("members")) => change.remove.extend(member_ids(&value)?),
            ("add", Some("members")) => change.add.extend(member_ids(&value)?),
            ("replace", Some("members")) => change.members = Some(member_ids(&value)?),
            ("add" | "replace", Some("displayname")) => change.name = text(&value),
            ("add" | "replace", Some("externalid")) => change.external_id = Some(text(&value)),
            ("remove", Some("externalid")) => change.external_id = Some(None),
            ("add" | "replace", None) => {
                if let Some(name) = text(&value["displayName"]) {
                    change.name = Some(name);
                }
                if !value["externalId"].is_null() {
                    change.external_id = Some(text(&value["externalId"]));
                }
                if !value["members"].is_null() {
                    let ids = member_ids(&value["members"])?;
                    if op == "add" {
                        change.add.extend(ids);
                    } else {
                        change.members = Some(ids);
                    }
                }
            }
            (_, Some(other)) => {
                return Err(ScimError::bad("invalidPath", format!("Groups have no attribute {other} to {op}")));
            }
            ("remove", None) => {
                return Err(ScimError::new(StatusCode::BAD_REQUEST, Some("noTarget"), "remove needs a path"));
            }
            _ => return Err(ScimError::bad("invalidSyntax", "Unsupported operation")),
        }
    }
    Ok(change)
}

// ---- Handlers --------------------------------------------------------------------------------------

/// `GET /scim/v2/Users`.
pub async fn list_users(caller: Caller, Query(parameters): Query<HashMap<String, String>>) -> ScimResult<Response> {
    if let Some(name) = crate::http::input::nul_parameter(&parameters) {
        return Err(ScimError::bad("invalidFilter", format!("{name} must not contain a NUL character (\\u0000)")));
    }
    let filter = user_filter(&parameters)?;
    let (start, count) = paging(&parameters);
    let mut conn = caller.conn().await?;
    let (users, total) = rules::list_users(&mut conn, caller.organization_id, &filter, start - 1, count)
        .await
        .map_err(|e| caller.fail(e))?;
    let resources = users.iter().map(|u| user_json(u, &caller.base)).collect();
    Ok(respond(StatusCode::OK, list_json(resources, total, start)))
}

/// `POST /scim/v2/Users`.
pub async fn create_user(caller: Caller, body: Bytes) -> ScimResult<Response> {
    let input = user_input(&parse_body(&body)?)?;
    let mut conn = caller.conn().await?;
    let now = caller.state.app.clock.now();
    let user = rules::create_user(&mut conn, caller.organization_id, input, now, &caller.actor)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::CREATED, user_json(&user, &caller.base)))
}

/// `GET /scim/v2/Users/{id}`.
pub async fn get_user(caller: Caller, Path(user): Path<String>) -> ScimResult<Response> {
    let user = parse_id(&user)?;
    let mut conn = caller.conn().await?;
    let user = rules::get_user(&mut conn, caller.organization_id, user).await.map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::OK, user_json(&user, &caller.base)))
}

/// `PUT /scim/v2/Users/{id}`.
pub async fn replace_user(caller: Caller, Path(user): Path<String>, body: Bytes) -> ScimResult<Response> {
    let user = parse_id(&user)?;
    let input = user_input(&parse_body(&body)?)?;
    let now = caller.state.app.clock.now();
    let mut conn = caller.conn().await?;
    let user = rules::replace_user(&mut conn, caller.organization_id, user, input, now, &caller.actor)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::OK, user_json(&user, &caller.base)))
}

/// `PATCH /scim/v2/Users/{id}`.
pub async fn patch_user_handler(caller: Caller, Path(user): Path<String>, body: Bytes) -> ScimResult<Response> {
    let user = parse_id(&user)?;
    let body = parse_body(&body)?;
    let now = caller.state.app.clock.now();
    let mut conn = caller.conn().await?;
    let current = rules::get_user(&mut conn, caller.organization_id, user).await.map_err(|e| caller.fail(e))?;
    let input = patch_user(&current, &body)?;
    let user = rules::replace_user(&mut conn, caller.organization_id, user, input, now, &caller.actor)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::OK, user_json(&user, &caller.base)))
}

/// `DELETE /scim/v2/Users/{id}`.
pub async fn delete_user(caller: Caller, Path(user): Path<String>) -> ScimResult<Response> {
    let user = parse_id(&user)?;
    let mut conn = caller.conn().await?;
    rules::delete_user(&mut conn, caller.organization_id, user, &caller.authority, &caller.actor)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /scim/v2/Groups`.
pub async fn list_groups(caller: Caller, Query(parameters): Query<HashMap<String, String>>) -> ScimResult<Response> {
    if let Some(name) = crate::http::input::nul_parameter(&parameters) {
        return Err(ScimError::bad("invalidFilter", format!("{name} must not contain a NUL character (\\u0000)")));
    }
    let filter = group_filter(&parameters)?;
    let (start, count) = paging(&parameters);
    let mut conn = caller.conn().await?;
    let (groups, total) = rules::list_groups(&mut conn, caller.organization_id, &filter, start - 1, count)
        .await
        .map_err(|e| caller.fail(e))?;
    let resources = groups.iter().map(|g| group_json(g, &caller.base)).collect();
    Ok(respond(StatusCode::OK, list_json(resources, total, start)))
}

/// `POST /scim/v2/Groups`.
pub async fn create_group(caller: Caller, body: Bytes) -> ScimResult<Response> {
    let body = parse_body(&body)?;
    let name = text(&body["displayName"]).ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))?;
    let members = member_ids(&body["members"])?;
    let mut conn = caller.conn().await?;
    let group = rules::create_group(
        &mut conn,
        caller.organization_id,
        &name,
        body["externalId"].as_str(),
        &members,
        &caller.authority,
        &caller.actor,
    )
    .await
    .map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::CREATED, group_json(&group, &caller.base)))
}

/// `GET /scim/v2/Groups/{id}`.
pub async fn get_group(caller: Caller, Path(group): Path<String>) -> ScimResult<Response> {
    let group = parse_id(&group)?;
    let mut conn = caller.conn().await?;
    let group = rules::get_group(&mut conn, caller.organization_id, group).await.map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::OK, group_json(&group, &caller.base)))
}

/// `PUT /scim/v2/Groups/{id}`.
pub async fn replace_group(caller: Caller, Path(group): Path<String>, body: Bytes) -> ScimResult<Response> {
    let group = parse_id(&group)?;
    let body = parse_body(&body)?;
    let name = text(&body["displayName"]).ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))?;
    let change = GroupChange {
        name: Some(name),
        external_id: Some(text(&body["externalId"])),
        members: Some(member_ids(&body["members"])?),
        ..GroupChange::default()
    };
    let now = caller.state.app.clock.now();
    let mut conn = caller.conn().await?;
    let group =
        rules::update_group(&mut conn, caller.organization_id, group, change, now, &caller.authority, &caller.actor)
            .await
            .map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::OK, group_json(&group, &caller.base)))
}

/// `PATCH /scim/v2/Groups/{id}`.
pub async fn patch_group_handler(caller: Caller, Path(group): Path<String>, body: Bytes) -> ScimResult<Response> {
    let group = parse_id(&group)?;
    let change = patch_group(&parse_body(&body)?)?;
    let now = caller.state.app.clock.now();
    let mut conn = caller.conn().await?;
    let group =
        rules::update_group(&mut conn, caller.organization_id, group, change, now, &caller.authority, &caller.actor)
            .await
            .map_err(|e| caller.fail(e))?;
    Ok(respond(StatusCode::OK, group_json(&group, &caller.base)))
}

/// `DELETE /scim/v2/Groups/{id}`.
pub async fn delete_group(caller: Caller, Path(group): Path<String>) -> ScimResult<Response> {
    let group = parse_id(&group)?;
    let mut conn = caller.conn().await?;
    rules::delete_group(&mut conn, caller.organization_id, group, &caller.authority, &caller.actor)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- Discovery (RFC 7644 §4) -----------------------------------------------------------------------

/// `GET /scim/v2/ServiceProviderConfig`.
pub async fn service_provider_config(caller: Caller) -> Response {
    respond(
        StatusCode::OK,
        json!({
            "schemas": [SPC_SCHEMA],
            "documentationUri": "https://github.com/capcom/capcom/blob/main/docs/sso.md",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Organization API key",
                "description": "An organization API key whose role holds organization.scim.provision, sent as a bearer token",
                "primary": true,
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{}/scim/v2/ServiceProviderConfig", caller.base)},
        }),
    )
}

fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A person of the organization", "schema": USER_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/scim/v2/ResourceTypes/User")},
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A team of the organization", "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/scim/v2/ResourceTypes/Group")},
        }),
    ]
}

fn attribute(name: &str, kind: &str, required: bool, mutability: &str, uniqueness: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "required": required, "caseExact": false,
        "mutability": mutability, "returned": "default", "uniqueness": uniqueness,
    })
}

fn complex(name: &str, multi: bool, mutability: &str, sub: Vec<Value>) -> Value {
    json!({
        "name": name, "type": "complex", "multiValued": multi, "required": false,
        "mutability": mutability, "returned": "default", "subAttributes": sub,
    })
}

fn schemas(base: &str) -> Vec<Value> {
    let user = json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA, "name": "User", "description": "User Account",
        "attributes": [
            attribute("userName", "string", true, "readWrite", "server"),
            complex("name", false, "readWrite", vec![
                attribute("formatted", "string", false, "readWrite", "none"),
                attribute("givenName", "string", false, "writeOnly", "none"),
                attribute("familyName", "string", false, "writeOnly", "none"),
            ]),
            attribute("displayName", "string", false, "readWrite", "none"),
            attribute("active", "boolean", false, "readWrite", "none"),
            complex("emails", true, "immutable", vec![
                attribute("value", "string", false, "immutable", "server"),
                attribute("type", "string", false, "readOnly", "none"),
                attribute("primary", "boolean", false, "readOnly", "none"),
            ]),
            complex("groups", true, "readOnly", vec![
                attribute("value", "string", false, "readOnly", "none"),
                attribute("$ref", "reference", false, "readOnly", "none"),
                attribute("display", "string", false, "readOnly", "none"),
                attribute("type", "string", false, "readOnly", "none"),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/scim/v2/Schemas/{USER_SCHEMA}")},
    });
    let group = json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": GROUP_SCHEMA, "name": "Group", "description": "Group (a team of the organization)",
        "attributes": [
            attribute("displayName", "string", true, "readWrite", "server"),
            complex("members", true, "readWrite", vec![
                attribute("value", "string", false, "immutable", "none"),
                attribute("$ref", "reference", false, "immutable", "none"),
                attribute("display", "string", false, "readOnly", "none"),
                attribute("type", "string", false, "immutable", "none"),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/scim/v2/Schemas/{GROUP_SCHEMA}")},
    });
    vec![user, group]
}

/// `GET /scim/v2/ResourceTypes`.
pub async fn list_resource_types(caller: Caller) -> Response {
    let all = resource_types(&caller.base);
    let total = i64::try_from(all.len()).unwrap_or(0);
    respond(StatusCode::OK, list_json(all, total, 1))
}

/// `GET /scim/v2/ResourceTypes/{id}`.
pub async fn get_resource_type(caller: Caller, Path(name): Path<String>) -> Response {
    match resource_types(&caller.base).into_iter().find(|r| r["id"] == name.as_str()) {
        Some(found) => respond(StatusCode::OK, found),
        None => ScimError::new(StatusCode::NOT_FOUND, None, crate::error::MSG_NOT_FOUND).into_response(),
    }
}

/// `GET /scim/v2/Schemas`.
pub async fn list_schemas(caller: Caller) -> Response {
    let all = schemas(&caller.base);
    let total = i64::try_from(all.len()).unwrap_or(0);
    respond(StatusCode::OK, list_json(all, total, 1))
}

/// `GET /scim/v2/Schemas/{id}`.
pub async fn get_schema(caller: Caller, Path(name): Path<String>) -> Response {
    match schemas(&caller.base).into_iter().find(|s| s["id"] == name.as_str()) {
        Some(found) => respond(StatusCode::OK, found),
        None => ScimError::new(StatusCode::NOT_FOUND, None, crate::error::MSG_NOT_FOUND).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_eq_only() {
        assert_eq!(parse_filter("userName eq \"a@b.test\"").ok(), Some(("username".into(), "a@b.test".into())));
        assert_eq!(parse_filter("  externalId   EQ   \"x y\"").ok(), Some(("externalid".into(), "x y".into())));
        for bad in ["userName co \"a\"", "userName eq a", "userName", "", "userName eq \"a\" and active eq true"] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn group_patches_read_the_shapes_providers_send() {
        let id = Uuid::now_v7();
        let change = patch_group(&json!({"Operations": [
            {"op": "add", "path": "members", "value": [{"value": id.to_string()}]},
            {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
            {"op": "Replace", "value": {"displayName": "Renamed"}},
        ]}))
        .unwrap_or_default();
        assert_eq!(change.add, vec![id]);
        assert_eq!(change.remove, vec![id]);
        assert_eq!(change.name.as_deref(), Some("Renamed"));
        assert!(patch_group(&json!({"Operations": [{"op": "remove"}]})).is_err());
        assert!(patch_group(&json!({"Operations": [{"op": "move", "path": "members"}]})).is_err());
    }
}
