// GraphQL over HTTP: every page calls capcom through `gql` and nothing else.
//
// POST /v1 on this origin, `Authorization: Bearer <token>`. A refusal or failure becomes an ApiError with
// capcom's message, its `extensions.code` (`extensions.field` for bad input) and the request id capcom
// put in the `x-request-id` header, so every error the console shows can be quoted to an operator.

const TOKEN_KEY = "capcom.console.token";

/** The signed-in session: the token lives in sessionStorage, so it ends with the tab. */
export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** A refusal or failure: `code` is capcom's `extensions.code`, or NETWORK / HTTP when it did not answer. */
export class ApiError extends Error {
  constructor(message, code, requestId, field) {
    super(message);
    this.code = code;
    this.requestId = requestId;
    this.field = field;
  }
}

/** Runs one GraphQL operation and returns its `data`; throws ApiError on the first error. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/v1", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new ApiError(`capcom could not be reached (${error.message})`, "NETWORK", null);
  }
  const requestId = response.headers.get("x-request-id");
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`capcom answered HTTP ${response.status}`, "HTTP", requestId);
  }
  if (body.errors && body.errors.length > 0) {
    const [first] = body.errors;
    const extensions = first.extensions ?? {};
    throw new ApiError(first.message, extensions.code ?? "ERROR", requestId, extensions.field);
  }
  return body.data;
}

/** The WebSocket address of this capcom (`/ws`). */
export function websocketUrl() {
  const url = new URL("/ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/**
 * GETs one of capcom's plain HTTP endpoints (`/v1/audit/export?…`) with the token and returns the body as
 * text; a refusal (capcom's JSON `errors`) becomes an ApiError like `gql`'s.
 */
export async function getText(path) {
  const headers = {};
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { headers });
  } catch (error) {
    throw new ApiError(`capcom could not be reached (${error.message})`, "NETWORK", null);
  }
  const requestId = response.headers.get("x-request-id");
  const text = await response.text();
  if (response.ok) return text;
  let first = null;
  try {
    first = JSON.parse(text).errors?.[0] ?? null;
  } catch {
    // Not capcom's JSON: fall through to the status.
  }
  if (!first) throw new ApiError(`capcom answered HTTP ${response.status}`, "HTTP", requestId);
  throw new ApiError(first.message, first.extensions?.code ?? "ERROR", requestId, first.extensions?.field);
}
