// capcom's example console: plain JavaScript, no build step, no dependencies.
//
// It shows what a console on capcom needs and nothing more:
// - GraphQL over HTTP: POST <capcom>/v1 with `Authorization: Bearer <token>`. From another origin the
//   browser asks capcom first (CORS preflight); capcom answers only origins in CAPCOM_CORS_ORIGINS.
// - The token comes from `createToken` and is kept in sessionStorage: it lives as long as the tab and is
//   never sent anywhere but capcom, in a header (capcom uses no cookies).
// - Subscriptions over WebSocket (<capcom>/ws, the graphql-transport-ws protocol): the token goes in
//   `connection_init`; capcom checks the page's origin at the upgrade.
// - Buttons are enabled from `workspaceCapabilities` / `deploymentCapabilities`, which capcom derives from
//   the same permission table that decides the mutations, and a refusal (FORBIDDEN, "Access is Denied")
//   is shown as it comes.
// Everything from the server is put in the page as text (textContent), never as markup.

"use strict";

const TOKEN_KEY = "capcom.token";
const USER_KEY = "capcom.user";
const API_KEY = "capcom.api";

const CONSOLE_QUERY = `query Console {
  workspaces {
    id
    label
    description
    workspaceCapabilities { canCreateDeployment }
    deployments {
      id label releaseName status executor workerMin workerMax updatedAt
      deploymentCapabilities { canUpdateDeployment }
    }
  }
}`;

const DEPLOYMENT_FIELDS = "id label releaseName status executor workerMin workerMax updatedAt";

const state = {
  api: "",
  token: sessionStorage.getItem(TOKEN_KEY),
  username: sessionStorage.getItem(USER_KEY),
  workspaces: [],
  live: null,
  // deployment id -> function that ends its subscription
  watching: new Map(),
  // deployment id -> how many states capcom pushed since watching began
  pushes: new Map(),
};

const $ = (id) => document.getElementById(id);

/** Builds an element: el("td", {className: "x", dataset: {a: "b"}}, "text", child). */
function el(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else element[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}

// ---------------------------------------------------------------- which capcom

/**
 * The capcom to talk to: `?api=` in the page's address, else the one used last time, else this origin
 * when capcom itself serves the console (at /console/), else capcom's default address.
 */
function initialApi() {
  const fromQuery = new URLSearchParams(location.search).get("api");
  if (fromQuery) return fromQuery;
  const saved = localStorage.getItem(API_KEY);
  if (saved) return saved;
  if (location.pathname.startsWith("/console/")) return location.origin;
  return "http://127.0.0.1:8871";
}

function normalizeApi(text) {
  return text.trim().replace(/\/+$/, "");
}

function websocketUrl(api) {
  const url = new URL(api);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = "/ws";
  return url.toString();
}

// ---------------------------------------------------------------- GraphQL over HTTP

/** A refusal or failure, with capcom's `extensions.code` (or NETWORK when capcom was not reached). */
class ApiError extends Error {
  constructor(message, code, requestId) {
    super(message);
    this.code = code;
    this.requestId = requestId;
  }
}

async function graphql(query, variables = {}) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(`${state.api}/v1`, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    // The browser hides why (CORS refusals look like network failures to the page on purpose); its
    // developer console says which it was.
    throw new ApiError(
      `capcom at ${state.api} could not be reached from this page (${error.message}). ` +
        `Is it running, and is ${location.origin} in its CAPCOM_CORS_ORIGINS?`,
      "NETWORK",
      null,
    );
  }
  // Readable from another origin because capcom lists it in Access-Control-Expose-Headers.
  const requestId = response.headers.get("x-request-id");
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`capcom answered HTTP ${response.status}`, "HTTP", requestId);
  }
  if (body.errors && body.errors.length > 0) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code ?? "ERROR", requestId);
  }
  return body.data;
}

// ---------------------------------------------------------------- GraphQL over WebSocket

/**
 * One WebSocket speaking graphql-transport-ws, shared by every subscription of the page. It connects on
 * the first subscription, sends the token in `connection_init`, answers pings, and reconnects with
 * back-off (subscribing again) unless capcom refused the token (close 4403).
 */
class LiveConnection {
  constructor(url, token, events) {
    this.url = url;
    this.token = token;
    this.events = events;
    this.socket = null;
    this.acknowledged = false;
    this.closedByUs = false;
    this.attempts = 0;
    this.nextId = 1;
    this.subscriptions = new Map();
  }

  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.subscriptions.set(id, { query, variables, sink });
    if (this.acknowledged) this.sendSubscribe(id);
    else this.open();
    return () => {
      if (this.subscriptions.delete(id) && this.acknowledged) this.send({ id, type: "complete" });
    };
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this.retry);
    if (this.socket) this.socket.close(1000, "signed out");
  }

  open() {
    if (this.socket || this.closedByUs) return;
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.send({ type: "connection_init", payload: { authorization: `Bearer ${this.token}` } });
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      this.socket = null;
      this.acknowledged = false;
      if (this.closedByUs) return;
      if (event.code === 4403) {
        this.events.sessionEnded();
        return;
      }
      // A socket that never opened was refused at the upgrade (for a page, usually its origin); the
      // browser does not tell the page the HTTP status.
      this.events.disconnected(opened ? `closed (${event.code})` : "refused at the upgrade");
      if (this.subscriptions.size > 0) {
        const delay = Math.min(30_000, 1000 * 2 ** this.attempts++);
        this.retry = setTimeout(() => this.open(), delay);
      }
    };
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  sendSubscribe(id) {
    const { query, variables } = this.subscriptions.get(id);
    this.send({ id, type: "subscribe", payload: { query, variables } });
  }

  receive(message) {
    const subscription = this.subscriptions.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempts = 0;
        this.events.connected();
        for (const id of this.subscriptions.keys()) this.sendSubscribe(id);
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        subscription?.sink.next(message.payload);
        break;
      case "error":
        this.subscriptions.delete(message.id);
        subscription?.sink.error(message.payload);
        break;
      case "complete":
        this.subscriptions.delete(message.id);
        subscription?.sink.complete();
        break;
    }
  }
}

function live() {
  if (!state.live) {
    state.live = new LiveConnection(websocketUrl(state.api), state.token, {
      connected: () => setLive("connected", true),
      disconnected: (why) => setLive(`disconnected: ${why}; retrying`, false),
      sessionEnded: () => signOut("Your session has ended: sign in again."),
    });
  }
  return state.live;
}

function setLive(text, connected) {
  const line = $("live");
  line.textContent = `Live updates: ${text}`;
  line.dataset.connected = String(connected);
}

// ---------------------------------------------------------------- notices

function showNotice(error) {
  const notice = $("notice");
  notice.className = "";
  notice.hidden = false;
  notice.dataset.code = error.code ?? "ERROR";
  let text = error.message;
  if (error.code === "FORBIDDEN") text += " — your role here does not allow this.";
  if (error.requestId) text += ` (request ${error.requestId})`;
  notice.textContent = text;
}

function showInfo(text) {
  const notice = $("notice");
  notice.className = "info";
  notice.hidden = false;
  notice.dataset.code = "OK";
  notice.textContent = text;
}

function clearNotice() {
  const notice = $("notice");
  notice.hidden = true;
  notice.textContent = "";
  delete notice.dataset.code;
}

/** Runs an action; shows what went wrong, and on a refusal reloads the capabilities (they changed). */
async function attempt(action) {
  try {
    await action();
  } catch (error) {
    if (error.code === "UNAUTHENTICATED") {
      signOut("Your session has ended: sign in again.");
      return;
    }
    showNotice(error);
    if (error.code === "FORBIDDEN") await loadWorkspaces().catch(() => {});
  }
}

// ---------------------------------------------------------------- views

function showSignIn() {
  $("invite").hidden = true;
  $("reset").hidden = true;
  $("sign-in").hidden = false;
  $("workspaces").hidden = true;
  $("session").hidden = true;
  $("api").value = state.api;
}

function showWorkspaces() {
  $("invite").hidden = true;
  $("reset").hidden = true;
  $("sign-in").hidden = true;
  $("workspaces").hidden = false;
  $("session").hidden = false;
  $("who").textContent = state.username ?? "";
}

async function signIn(event) {
  event.preventDefault();
  clearNotice();
  state.api = normalizeApi($("api").value);
  localStorage.setItem(API_KEY, state.api);
  await attempt(async () => {
    const data = await graphql(
      `mutation SignIn($identity: String, $password: String!) {
        createToken(identity: $identity, password: $password) { user { username } token { value } }
      }`,
      { identity: $("identity").value, password: $("password").value },
    );
    $("password").value = "";
    await signedIn(data.createToken);
  });
}

/** Keeps the token of an `AuthUser` answer and shows the workspaces. */
async function signedIn(auth) {
  state.token = auth.token.value;
  state.username = auth.user.username;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  sessionStorage.setItem(USER_KEY, state.username);
  showWorkspaces();
  await loadWorkspaces();
}

// ---------------------------------------------------------------- links from mails

// Invite mails link to <console>/#/invite?token=…, password-reset mails to #/reset-password?token=…. The
// token is in the fragment, which the browser sends to no server (nor in a Referer), so it reaches only
// this page and capcom's API.
function mailLink() {
  const match = /^#\/(invite|reset-password)\?(.*)$/.exec(location.hash);
  if (!match) return null;
  const token = new URLSearchParams(match[2]).get("token");
  return token ? { kind: match[1], token } : null;
}

/** Drops the token from the address once used, so that it is not bookmarked or reused. */
function forgetLink() {
  history.replaceState(null, "", location.pathname + location.search);
}

function showLinkForm(id) {
  $("sign-in").hidden = true;
  $("workspaces").hidden = true;
  $("invite").hidden = id !== "invite";
  $("reset").hidden = id !== "reset";
}

function showInvite(token) {
  showLinkForm("invite");
  $("invite-existing").hidden = !state.token;
  $("invite").onsubmit = (event) => {
    event.preventDefault();
    clearNotice();
    attempt(async () => {
      const data = await graphql(
        `mutation SignUpWithInvite($email: String!, $password: String!, $inviteToken: String) {
          createUser(email: $email, password: $password, inviteToken: $inviteToken) { user { username } token { value } }
        }`,
        { email: $("invite-email").value, password: $("invite-password").value, inviteToken: token },
      );
      $("invite-password").value = "";
      forgetLink();
      await signedIn(data.createUser);
    });
  };
  $("invite-accept").onclick = () => {
    clearNotice();
    attempt(async () => {
      await graphql("mutation AcceptInvite($token: String!) { acceptInvite(token: $token) { email } }", { token });
      forgetLink();
      showWorkspaces();
      showInfo("Invite accepted.");
      await loadWorkspaces();
    });
  };
}

function showReset(token) {
  showLinkForm("reset");
  $("reset").onsubmit = (event) => {
    event.preventDefault();
    clearNotice();
    attempt(async () => {
      await graphql("mutation ResetPassword($token: String!, $password: String!) { resetPassword(token: $token, password: $password) }", {
        token,
        password: $("reset-password").value,
      });
      $("reset-password").value = "";
      forgetLink();
      signOut();
      showInfo("Your password is set: sign in with it.");
    });
  };
}

function signOut(message) {
  state.live?.close();
  state.live = null;
  state.watching.clear();
  state.pushes.clear();
  state.token = null;
  state.username = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  state.workspaces = [];
  $("workspace-list").replaceChildren();
  setLive("not connected", false);
  showSignIn();
  if (message) showNotice(new ApiError(message, "UNAUTHENTICATED", null));
  else clearNotice();
}

async function loadWorkspaces() {
  const data = await graphql(CONSOLE_QUERY);
  state.workspaces = data.workspaces;
  renderWorkspaces();
}

function renderWorkspaces() {
  const list = $("workspace-list");
  if (state.workspaces.length === 0) {
    list.replaceChildren(el("p", { className: "muted" }, "You belong to no workspace yet."));
    return;
  }
  list.replaceChildren(...state.workspaces.map(renderWorkspace));
}

function renderWorkspace(workspace) {
  const canCreate = workspace.workspaceCapabilities.canCreateDeployment;
  const rows = workspace.deployments.map(renderDeployment);
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", { className: "empty", colSpan: 6 }, "No deployments yet.")));
  }
  const label = el("input", {
    name: "label",
    placeholder: "New deployment label",
    required: true,
    maxLength: 255,
    disabled: !canCreate,
  });
  const create = el("button", { type: "submit", className: "create", disabled: !canCreate }, "Create deployment");
  const form = el(
    "form",
    { className: "create-deployment" },
    label,
    create,
    canCreate ? null : el("span", { className: "why muted" }, "Your role here cannot create deployments."),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearNotice();
    attempt(async () => {
      create.disabled = true;
      try {
        const data = await graphql(
          `mutation Create($workspace: Uuid!, $label: String!) {
            createDeployment(workspaceUuid: $workspace, label: $label) { id label releaseName }
          }`,
          { workspace: workspace.id, label: label.value },
        );
        showInfo(`Deployment ${data.createDeployment.label} created (${data.createDeployment.releaseName}).`);
        await loadWorkspaces();
      } finally {
        create.disabled = false;
      }
    });
  });
  return el(
    "article",
    { className: "workspace", dataset: { workspaceId: workspace.id, canCreateDeployment: String(canCreate) } },
    el("h2", {}, workspace.label),
    workspace.description ? el("p", { className: "muted" }, workspace.description) : null,
    el(
      "table",
      {},
      el(
        "thead",
        {},
        el("tr", {}, ...["Deployment", "Release", "Status", "Executor", "Workers", ""].map((h) => el("th", {}, h))),
      ),
      el("tbody", {}, ...rows),
    ),
    form,
  );
}

function renderDeployment(deployment) {
  const canUpdate = deployment.deploymentCapabilities.canUpdateDeployment;
  const watching = state.watching.has(deployment.id);
  const watch = el("button", { type: "button", className: "watch secondary" }, watching ? "Stop watching" : "Watch");
  watch.addEventListener("click", () => toggleWatch(deployment.id));
  const workerMax = el("input", {
    type: "number",
    className: "worker-max",
    min: 0,
    value: deployment.workerMax,
    disabled: !canUpdate,
    title: "Maximum workers",
  });
  const scale = el("button", { type: "button", className: "scale secondary", disabled: !canUpdate }, "Set max");
  if (!canUpdate) scale.title = "Your role here cannot change this deployment.";
  scale.addEventListener("click", () => {
    clearNotice();
    attempt(async () => {
      const data = await graphql(
        `mutation Scale($id: Uuid!, $max: Int!) {
          updateDeployment(deploymentUuid: $id, settings: { workerMax: $max }) { ${DEPLOYMENT_FIELDS} }
        }`,
        { id: deployment.id, max: Number(workerMax.value) },
      );
      updateDeployment(data.updateDeployment);
    });
  });
  const row = el(
    "tr",
    { dataset: { deploymentId: deployment.id } },
    el("td", { className: "label" }, deployment.label),
    el("td", { className: "release" }, el("code", {}, deployment.releaseName)),
    el("td", { className: "status" }),
    el("td", { className: "executor" }),
    el("td", { className: "workers" }),
    el("td", { className: "actions" }, watch, " ", workerMax, " ", scale),
  );
  fillDeployment(row, deployment);
  return row;
}

function fillDeployment(row, deployment) {
  row.dataset.status = deployment.status;
  row.dataset.workerMax = String(deployment.workerMax);
  const watching = state.watching.has(deployment.id);
  row.dataset.watching = String(watching);
  row.dataset.pushes = String(state.pushes.get(deployment.id) ?? 0);
  const status = row.querySelector(".status");
  status.replaceChildren(deployment.status);
  if (watching) status.append(" ", el("span", { className: "live-dot", title: "Updated live by capcom" }, "● live"));
  row.querySelector(".executor").textContent = deployment.executor ?? "";
  const workerMax = row.querySelector(".worker-max");
  if (document.activeElement !== workerMax) workerMax.value = deployment.workerMax;
  row.querySelector(".workers").textContent = `${deployment.workerMin}–${deployment.workerMax}`;
}

/** Applies a deployment pushed by capcom (or returned by a mutation) to the list and its row. */
function updateDeployment(deployment) {
  for (const workspace of state.workspaces) {
    const index = workspace.deployments.findIndex((d) => d.id === deployment.id);
    if (index >= 0) workspace.deployments[index] = { ...workspace.deployments[index], ...deployment };
  }
  const row = document.querySelector(`tr[data-deployment-id="${CSS.escape(deployment.id)}"]`);
  if (!row) return;
  fillDeployment(row, deployment);
  row.classList.remove("flash");
  void row.offsetWidth; // restart the highlight
  row.classList.add("flash");
}

function toggleWatch(id) {
  const stop = state.watching.get(id);
  if (stop) {
    stop();
    state.watching.delete(id);
    renderWorkspaces();
    return;
  }
  clearNotice();
  state.pushes.delete(id);
  const end = () => {
    state.watching.delete(id);
    renderWorkspaces();
  };
  const unsubscribe = live().subscribe(
    `subscription Watch($id: Uuid) { deploymentStatus(deploymentUuid: $id) { ${DEPLOYMENT_FIELDS} } }`,
    { id },
    {
      next(payload) {
        if (payload.errors && payload.errors.length > 0) {
          const [first] = payload.errors;
          showNotice(new ApiError(first.message, first.extensions?.code ?? "ERROR", null));
          unsubscribe();
          end();
          return;
        }
        state.pushes.set(id, (state.pushes.get(id) ?? 0) + 1);
        updateDeployment(payload.data.deploymentStatus);
      },
      error(errors) {
        const [first] = errors;
        showNotice(new ApiError(first?.message ?? "The subscription failed", first?.extensions?.code, null));
        end();
      },
      complete() {
        // capcom ends the stream when the deployment is deleted.
        end();
        attempt(loadWorkspaces);
      },
    },
  );
  state.watching.set(id, unsubscribe);
  renderWorkspaces();
}

// ---------------------------------------------------------------- start

function start() {
  state.api = initialApi();
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("refresh").addEventListener("click", () => {
    clearNotice();
    attempt(loadWorkspaces);
  });
  const link = mailLink();
  if (link?.kind === "invite") {
    showInvite(link.token);
  } else if (link?.kind === "reset-password") {
    showReset(link.token);
  } else if (state.token) {
    showWorkspaces();
    attempt(loadWorkspaces);
  } else {
    showSignIn();
  }
  document.body.dataset.ready = "true";
}

start();
