// The console's entry point: the session, the page frame (organization switcher, workspace list, user
// menu) and the router. Pages live in `pages/`; each exports functions that return the element to show.
//
// Addresses: `/`, `/console/` and `/invite?token=…` serve this page; which view shows is in the hash
// (`#/workspaces/<id>/users`), so a reload or a shared link opens the same view.

import { gql, session, websocketUrl } from "./api.js";
import { clearNotice, h, notify } from "./dom.js";
import { LiveConnection } from "./live.js";
import * as signin from "./pages/signin.js";
import * as dashboard from "./pages/dashboard.js";
import * as workspace from "./pages/workspace.js";
import * as deployment from "./pages/deployment.js";
import * as account from "./pages/account.js";
import * as organization from "./pages/organization.js";
import * as system from "./pages/system.js";
import * as password from "./pages/password.js";

const ORG_KEY = "capcom.console.organization";

const FRAME_QUERY = `query Frame {
  self { id username fullName emails { address primary } }
  systemPages: can(permission: "system.users.get")
  organizations {
    id name isDefault
    organizationCapabilities { canCreateWorkspace canUpdateOrganization canInviteUser }
  }
  workspaces { id label organizationId }
}`;

/** What every page may use: the signed-in user, the organization chosen, the live connection. */
const ctx = {
  gql,
  user: null,
  organizations: [],
  organization: null,
  workspaces: [],
  live: null,
  leaving: [],
  /** Runs `fn` when the current view is left (ends subscriptions). */
  onLeave(fn) {
    this.leaving.push(fn);
  },
  /** Shows the view at `hash`, then `message` (a success text) once it is shown. */
  navigate(hash, message) {
    pendingMessage = message ?? null;
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  /** Reloads the frame (workspace list, organizations); the view stays until the next `navigate`. */
  async refresh() {
    await loadFrame();
  },
  /** Makes `id` the organization shown (when the caller belongs to it); remembered for the next visit. */
  setOrganization(id) {
    if (this.organization && this.organization.id === id) return;
    if (id) localStorage.setItem(ORG_KEY, id);
    this.organization = this.organizations.find((org) => org.id === id) ?? this.organizations[0] ?? null;
  },
  signedIn,
  signOut,
  /** Ends the live connection (it holds the current token); the next subscription opens a new one. */
  endLive() {
    if (this.live) this.live.close();
    this.live = null;
  },
  /** Replaces this tab's token (a password change revoked the old one and issued `token`). */
  replaceToken(token) {
    this.endLive();
    session.token = token;
  },
  subscribe(query, variables, sink) {
    if (!this.live) {
      this.live = new LiveConnection(websocketUrl(), session.token, {
        connected: () => setLive(true),
        disconnected: () => setLive(false),
        sessionEnded: () => signOut("Your session has ended: sign in again."),
      });
    }
    const end = this.live.subscribe(query, variables, sink);
    this.onLeave(end);
    return end;
  },
};

function setLive(connected) {
  document.body.dataset.live = String(connected);
}

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- session

async function signedIn(token) {
  session.token = token;
  // Leave /invite and the sign-in code behind: they are spent.
  history.replaceState(null, "", "/console/#/");
  await start();
}

/** Forgets the token (this tab only). `everywhere`: asks capcom to revoke every token of the user first. */
async function signOut(message, everywhere = false) {
  if (everywhere) await gql("mutation SignOutEverywhere { logout }");
  session.token = null;
  leave();
  if (ctx.live) ctx.live.close();
  ctx.live = null;
  ctx.user = null;
  history.replaceState(null, "", "/console/");
  showSignedOut();
  if (message) notify(message);
}

/** Pages shown without signing in (a reset mail's link also opens in a tab that is signed in). */
const SIGNED_OUT_PAGES = [
  [/^#\/reset-password(?:\?|$)/, () => password.resetView(ctx)],
  [/^#\/forgot-password$/, () => password.forgotView(ctx)],
];

const signedOutPage = () => SIGNED_OUT_PAGES.find(([pattern]) => pattern.test(location.hash))?.[1];

function showSignedOut() {
  document.body.dataset.signedIn = "false";
  $("session").hidden = true;
  $("sidebar").hidden = true;
  $("org-switch").replaceChildren();
  const content = $("content");
  const view = (signedOutPage() ?? (() => signin.render(ctx)))();
  content.dataset.page = view.dataset.page;
  content.replaceChildren(view);
}

// ---------------------------------------------------------------- frame

async function loadFrame() {
  const data = await gql(FRAME_QUERY);
  ctx.user = data.self;
  ctx.organizations = data.organizations;
  ctx.workspaces = data.workspaces;
  ctx.systemPages = data.systemPages;
  ctx.organization = null;
  const remembered = localStorage.getItem(ORG_KEY);
  const known = ctx.organizations.some((o) => o.id === remembered);
  ctx.setOrganization(known ? remembered : (ctx.organizations.find((o) => o.isDefault) ?? ctx.organizations[0])?.id);
  renderFrame();
}

function renderFrame() {
  document.body.dataset.signedIn = "true";
  $("session").hidden = false;
  $("sidebar").hidden = false;
  const email = ctx.user.emails.find((e) => e.primary)?.address ?? ctx.user.emails[0]?.address;
  $("who").textContent = ctx.user.fullName || email || ctx.user.username;

  const switcher = $("org-switch");
  switcher.replaceChildren();
  if (ctx.organizations.length > 1) {
    const choice = h(
      "select",
      { id: "organization", name: "organization" },
      ctx.organizations.map((org) => h("option", { value: org.id, selected: org.id === ctx.organization?.id }, org.name)),
    );
    choice.onchange = () => {
      ctx.setOrganization(choice.value);
      renderFrame();
      ctx.navigate("#/");
    };
    switcher.append(h("label", { for: "organization", className: "visually-hidden" }, "Organization"), choice);
  } else if (ctx.organization) {
    switcher.append(h("span", { className: "org-name" }, ctx.organization.name));
  }
  if (ctx.organization) switcher.append(" ", h("a", { href: "#/organization", id: "organization-link" }, "Organization"));

  const mine = ctx.workspaces.filter((w) => w.organizationId === ctx.organization?.id);
  const current = location.hash.match(/^#\/workspaces\/([^/]+)/)?.[1];
  const list = h(
    "ul",
    { id: "workspace-list" },
    mine.map((w) =>
      h(
        "li",
        {},
        h(
          "a",
          { href: `#/workspaces/${w.id}`, dataset: { workspaceId: w.id }, "aria-current": w.id === current ? "page" : null },
          w.label,
        ),
      ),
    ),
  );
  $("sidebar").replaceChildren(
    ctx.systemPages ? h("p", {}, h("a", { href: "#/system", id: "system-link" }, "System")) : null,
    h("h2", {}, "Workspaces"),
    mine.length ? list : h("p", { className: "muted" }, "No workspace yet."),
    ctx.organization?.organizationCapabilities.canCreateWorkspace
      ? h("a", { href: "#/new-workspace", id: "new-workspace-link", className: "button secondary" }, "New workspace")
      : null,
  );
}

// ---------------------------------------------------------------- router

function leave() {
  for (const fn of ctx.leaving.splice(0)) {
    try {
      fn();
    } catch {
      // Ending a subscription that already ended.
    }
  }
}

const ROUTES = [
  [/^#?\/?$/, () => dashboard.render(ctx)],
  [/^#\/new-workspace$/, () => dashboard.render(ctx, { creating: true })],
  [/^#\/account$/, () => account.render(ctx)],
  [/^#\/organization(?:\/([a-z-]+))?(?:\/([0-9a-f-]{36}))?$/, (tab, id) => organization.render(ctx, tab ?? "people", id)],
  [/^#\/system(?:\/([a-z-]+))?$/, (tab) => system.render(ctx, tab ?? "users")],
  [/^#\/workspaces\/([^/]+)(?:\/([a-z-]+))?$/, (id, tab) => workspace.render(ctx, id, tab ?? "deployments")],
  [/^#\/deployments\/([^/]+)(?:\/([a-z-]+))?$/, (id, tab) => deployment.render(ctx, id, tab ?? "overview")],
];

let routing = 0;
let pendingMessage = null;

async function route() {
  if (!session.token || signedOutPage()) {
    leave();
    return showSignedOut();
  }
  if (!ctx.user) return start();
  leave();
  const turn = ++routing;
  const hash = location.hash || "#/";
  const content = $("content");
  content.setAttribute("aria-busy", "true");
  renderFrame();
  let view;
  try {
    const match = ROUTES.map(([pattern, page]) => [hash.match(pattern), page]).find(([m]) => m);
    view = match ? await match[1](...match[0].slice(1)) : h("p", {}, "There is no such page.");
  } catch (error) {
    if (error.code === "UNAUTHENTICATED") return signOut(`${error.message}`);
    view = h("div", { className: "page-error", dataset: { code: error.code ?? "ERROR" } }, h("h1", {}, "This page cannot be shown"));
    notify(error);
  }
  // A later navigation won the race.
  if (turn !== routing) return;
  content.removeAttribute("aria-busy");
  // The view may have switched the organization (a workspace of another one was opened).
  renderFrame();
  content.dataset.page = view.dataset?.page ?? "error";
  content.replaceChildren(view);
  if (pendingMessage) notify(pendingMessage);
  pendingMessage = null;
}

// ---------------------------------------------------------------- start

async function start() {
  try {
    await loadFrame();
  } catch (error) {
    if (error.code === "UNAUTHENTICATED") return signOut(error.message);
    notify(error);
    return;
  }
  await route();
}

function wireHeader() {
  // The skip link moves focus to the view; followed as a link it would change the hash, which routes.
  document.querySelector("a.skip").onclick = (event) => {
    event.preventDefault();
    $("content").focus();
  };
  $("sign-out").onclick = () => signOut("You are signed out in this tab.");
  $("sign-out-everywhere").onclick = async () => {
    try {
      await signOut("You are signed out everywhere: every token issued to you so far stops working.", true);
    } catch (error) {
      notify(error);
    }
  };
  window.addEventListener("hashchange", () => {
    clearNotice();
    route();
  });
}

async function boot() {
  wireHeader();
  const query = new URLSearchParams(location.search);
  // Back from an identity provider (`/v1/oauth/callback` redirects here).
  const code = query.get("signInCode");
  const refused = query.get("signInError");
  if (code) {
    history.replaceState(null, "", "/console/");
    try {
      const data = await gql("mutation Exchange($code: String!) { exchangeSignInCode(code: $code) { token { value } } }", { code });
      await signedIn(data.exchangeSignInCode.token.value);
    } catch (error) {
      showSignedOut();
      notify(error);
    }
  } else if (refused) {
    history.replaceState(null, "", "/console/");
    showSignedOut();
    notify({ message: refused, code: "SIGN_IN_ERROR" });
  } else if (session.token && location.pathname !== "/invite" && !signedOutPage()) {
    await start();
  } else {
    showSignedOut();
  }
  document.body.dataset.ready = "true";
}

boot();
