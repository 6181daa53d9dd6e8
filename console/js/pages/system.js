// The installation (system roles only): every user with their system roles (grant and take away), every
// workspace, the system API keys, and the mail outbox. Shown when the API's `can("system.users.get")`
// says so; changes are offered when `can("system.iam.update")` (and, for keys, `system.serviceAccounts.*`)
// does.

import { dangerButton, h, notify, roleName, select, when } from "../dom.js";
import { tabs } from "./workspace.js";
import { rolesOf } from "./users.js";
import * as keys from "./keys.js";

const TABS = [
  ["users", "Users"],
  ["workspaces", "Workspaces"],
  ["keys", "API keys"],
  ["mail", "Mail outbox"],
];


async function usersTab(ctx) {
  const { users, roles, canUpdate, canReset } = await ctx.gql(`query SystemUsers {
    roles { role scope }
    canUpdate: can(permission: "system.iam.update")
    canReset: can(permission: "system.user.delete")
    users { id username fullName status emails { address primary } roleBindings { role scope } }
  }`);
  const systemRoles = rolesOf(roles, "SYSTEM");
  const rows = users.map((user) => {
    const held = user.roleBindings.filter((b) => b.scope === "SYSTEM").map((b) => b.role);
    const email = user.emails.find((e) => e.primary)?.address ?? user.username;
    const cells = [
      h("td", {}, user.fullName || user.username, h("br"), h("span", { className: "muted" }, email)),
      h("td", {}, user.status),
      h(
        "td",
        { className: "actions" },
        held.length === 0 ? h("span", { className: "muted" }, "—") : null,
        held.map((role) =>
          canUpdate
            ? h("span", { className: "pill" }, roleName(role), " ", dangerButton("Remove", async () => {
                await ctx.gql("mutation Take($u: Uuid!, $r: Role!) { deleteSystemRoleBinding(userId: $u, role: $r) { role } }", { u: user.id, r: role });
                ctx.navigate("#/system/users", `${email} is no longer ${roleName(role)}.`);
              }, { className: "danger small" }))
            : h("span", { className: "pill" }, roleName(role)),
        ),
      ),
    ];
    if (canReset) {
      // Removes the password, ends every session and mails a reset link (capcom refuses, with its
      // message, for an account an identity provider manages).
      cells.push(
        h(
          "td",
          { className: "actions" },
          dangerButton("Reset password", async () => {
            await ctx.gql("mutation ForceReset($u: Uuid!) { forcePasswordReset(userUuid: $u) }", { u: user.id });
            ctx.navigate("#/system/users", `${email}'s password was removed; a reset link is on its way.`);
          }, { className: "danger small force-reset", "aria-label": `Reset the password of ${email}` }),
        ),
      );
    }
    if (canUpdate) {
      const choice = select("role", [["", "Grant a system role…"], ...systemRoles.filter((r) => !held.includes(r)).map((r) => [r, roleName(r)])], "");
      choice.setAttribute("aria-label", `Grant ${email} a system role`);
      choice.onchange = async () => {
        if (!choice.value) return;
        try {
          await ctx.gql("mutation Grant($u: Uuid!, $r: Role!) { createSystemRoleBinding(userId: $u, role: $r) { role } }", { u: user.id, r: choice.value });
          ctx.navigate("#/system/users", `${email} is now ${roleName(choice.value)}.`);
        } catch (error) {
          choice.value = "";
          notify(error);
        }
      };
      cells.push(h("td", {}, choice));
    }
    return h("tr", { dataset: { userId: user.id, email, systemRoles: held.join(" ") } }, cells);
  });
  return h(
    "div",
    { className: "table-wrap" },
    h(
      "table",
      { id: "system-users", className: "responsive" },
      h("thead", {}, h("tr", {}, ["Person", "Status", "System roles", canReset ? "Password" : null, canUpdate ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows),
    ),
  );
}

async function workspacesTab(ctx) {
  const { workspaces } = await ctx.gql("query All { workspaces(all: true) { id label organization { name } deployments { id } } }");
  return h(
    "table",
    { id: "system-workspaces" },
    h("thead", {}, h("tr", {}, ["Workspace", "Organization", "Deployments"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, workspaces.map((w) => h("tr", { dataset: { workspaceId: w.id } }, h("td", {}, h("a", { href: `#/workspaces/${w.id}` }, w.label)), h("td", {}, w.organization?.name ?? ""), h("td", {}, String(w.deployments.length))))),
  );
}

/** System API keys: listed for `system.serviceAccounts.get`; create, rotate and delete as `can` says. */
async function keysTab(ctx) {
  const can = await ctx.gql(`query SystemKeyRights {
    read: can(permission: "system.serviceAccounts.get")
    create: can(permission: "system.serviceAccounts.create")
    update: can(permission: "system.serviceAccounts.update")
    remove: can(permission: "system.serviceAccounts.delete")
  }`);
  if (!can.read) return h("p", { id: "keys-hidden" }, "Your role does not show the installation's API keys.");
  return keys.panel(ctx, {
    scope: "system",
    id: null,
    caps: { canCreateServiceAccount: can.create, canUpdateServiceAccount: can.update, canDeleteServiceAccount: can.remove },
  });
}

async function mailTab(ctx) {
  const { mailOutbox } = await ctx.gql("query Mail { mailOutbox { id recipient subject createdAt sentAt } }");
  if (!mailOutbox.length) return h("p", { className: "muted" }, "No mail.");
  return h(
    "table",
    { id: "mail-outbox" },
    h("thead", {}, h("tr", {}, ["To", "Subject", "Written", "Sent"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, mailOutbox.map((m) => h("tr", {}, h("td", {}, m.recipient), h("td", {}, m.subject), h("td", {}, when(m.createdAt)), h("td", {}, when(m.sentAt, "not yet"))))),
  );
}

export async function render(ctx, tab) {
  let body;
  if (tab === "users") body = await usersTab(ctx);
  else if (tab === "workspaces") body = await workspacesTab(ctx);
  else if (tab === "keys") body = await keysTab(ctx);
  else if (tab === "mail") body = await mailTab(ctx);
  else body = h("p", {}, "There is no such section.");
  return h("section", { dataset: { page: `system-${tab}` } }, h("h1", {}, "System"), tabs("#/system", TABS, tab), body);
}
