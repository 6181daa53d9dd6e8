// API keys (service accounts) of the installation (system keys), an organization, a workspace or a deployment: list with role, expiry and last use;
// create with a role and an expiry (the key is shown once, with a copy button); rotate; delete. Offered
// as `canCreateServiceAccount` / `canUpdateServiceAccount` / `canDeleteServiceAccount` of the scope's
// capabilities say.

import { dangerButton, field, h, notify, onSubmit, roleName, select, when } from "../dom.js";
import { rolesOf } from "./users.js";

const FIELDS = "id label category keyPrefix active expiresAt lastUsedAt createdAt roleBinding { role }";

const SCOPES = {
  organization: {
    roleScope: "ORGANIZATION",
    list: `query Keys($id: Uuid!) { roles { role scope } keys: organizationServiceAccounts(organizationUuid: $id) { ${FIELDS} } }`,
    create: `mutation CreateKey($id: Uuid!, $label: String!, $category: String, $role: Role!, $days: Int) {
      key: createOrganizationServiceAccount(organizationUuid: $id, label: $label, category: $category, role: $role, expiresInDays: $days) { label apiKey }
    }`,
    remove: "mutation DeleteKey($id: Uuid!, $key: Uuid!) { deleteOrganizationServiceAccount(organizationUuid: $id, serviceAccountUuid: $key) { id } }",
    back: () => "#/organization/keys",
  },
  system: {
    roleScope: "SYSTEM",
    list: `query Keys { roles { role scope } keys: systemServiceAccounts { ${FIELDS} } }`,
    create: `mutation CreateKey($label: String!, $category: String, $role: Role!, $days: Int) {
      key: createSystemServiceAccount(label: $label, category: $category, role: $role, expiresInDays: $days) { label apiKey }
    }`,
    remove: "mutation DeleteKey($key: Uuid!) { deleteSystemServiceAccount(serviceAccountUuid: $key) { id } }",
    back: () => "#/system/keys",
  },
  workspace: {
    roleScope: "WORKSPACE",
    list: `query Keys($id: Uuid!) { roles { role scope } keys: workspaceServiceAccounts(workspaceUuid: $id) { ${FIELDS} } }`,
    create: `mutation CreateKey($id: Uuid!, $label: String!, $category: String, $role: Role!, $days: Int) {
      key: createWorkspaceServiceAccount(workspaceUuid: $id, label: $label, category: $category, role: $role, expiresInDays: $days) { label apiKey }
    }`,
    remove: "mutation DeleteKey($id: Uuid!, $key: Uuid!) { deleteWorkspaceServiceAccount(workspaceUuid: $id, serviceAccountUuid: $key) { id } }",
    back: (id) => `#/workspaces/${id}/keys`,
  },
  deployment: {
    roleScope: "DEPLOYMENT",
    list: `query Keys($id: Uuid!) { roles { role scope } keys: deploymentServiceAccounts(deploymentUuid: $id) { ${FIELDS} } }`,
    create: `mutation CreateKey($id: Uuid!, $label: String!, $category: String, $role: Role!, $days: Int) {
      key: createDeploymentServiceAccount(deploymentUuid: $id, label: $label, category: $category, role: $role, expiresInDays: $days) { label apiKey }
    }`,
    remove: "mutation DeleteKey($id: Uuid!, $key: Uuid!) { deleteDeploymentServiceAccount(deploymentUuid: $id, serviceAccountUuid: $key) { id } }",
    back: (id) => `#/deployments/${id}/keys`,
  },
};

/** Copies `text`; falls back to selecting it where the clipboard API is not offered (plain http). */
async function copy(text, shown) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(shown);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    return document.execCommand("copy");
  }
}

/** The box showing a new key once. */
function revealKey(holder, label, apiKey) {
  const shown = h("code", { className: "key", id: "new-key" }, apiKey);
  const button = h("button", { type: "button", id: "copy-key", className: "secondary" }, "Copy key");
  const done = h("span", { role: "status", className: "muted" });
  button.onclick = async () => {
    done.textContent = (await copy(apiKey, shown)) ? "Copied." : "Select the key and copy it.";
  };
  holder.replaceChildren(
    h(
      "div",
      { className: "card", id: "key-once" },
      h("h2", {}, `The key of ${label}`),
      h("p", {}, "Copy it now: capcom keeps only a hash and will not show it again."),
      shown,
      h("p", {}, button, " ", done),
    ),
  );
  holder.scrollIntoView({ block: "nearest" });
}

export async function panel(ctx, { scope, id, caps }) {
  const kind = SCOPES[scope];
  const scoped = (variables) => (id ? { id, ...variables } : variables);
  const { roles, keys } = await ctx.gql(kind.list, scoped({}));
  const scopeRoles = rolesOf(roles, kind.roleScope);
  const reveal = h("div", { id: "key-reveal", "aria-live": "polite" });

  const rows = keys.map((key) =>
    h(
      "tr",
      { dataset: { keyId: key.id, label: key.label } },
      h("td", {}, key.label, key.category ? h("span", { className: "muted" }, ` (${key.category})`) : null),
      h("td", {}, roleName(key.roleBinding?.role)),
      h("td", {}, h("code", {}, `${key.keyPrefix}…`)),
      h("td", {}, when(key.expiresAt, "never")),
      h("td", { className: "last-used" }, when(key.lastUsedAt, "never")),
      h(
        "td",
        { className: "actions" },
        caps.canUpdateServiceAccount
          ? h("button", {
              type: "button",
              className: "secondary small rotate",
              onclick: async () => {
                try {
                  const data = await ctx.gql("mutation Rotate($key: Uuid!) { rotateServiceAccountKey(serviceAccountUuid: $key) { label apiKey } }", { key: key.id });
                  revealKey(reveal, data.rotateServiceAccountKey.label, data.rotateServiceAccountKey.apiKey);
                  notify(`A new key was issued for ${key.label}; the old one stopped working.`);
                } catch (error) {
                  notify(error);
                }
              },
            }, "Rotate")
          : null,
        caps.canDeleteServiceAccount
          ? dangerButton("Delete", async () => {
              await ctx.gql(kind.remove, scoped({ key: key.id }));
              ctx.navigate(kind.back(id), `API key ${key.label} deleted.`);
            }, { className: "danger small delete" })
          : null,
      ),
    ),
  );

  let form = null;
  if (caps.canCreateServiceAccount) {
    form = onSubmit(
      h(
        "form",
        { id: "create-key", className: "card", "aria-labelledby": "create-key-title" },
        h("h2", { id: "create-key-title" }, "New API key"),
        h(
          "div",
          { className: "row" },
          field("Label", h("input", { name: "label", required: true, maxLength: 255 })),
          field("Category (optional)", h("input", { name: "category", maxLength: 255 })),
          field("Role", select("role", scopeRoles.map((r) => [r, roleName(r)]), scopeRoles[scopeRoles.length - 1])),
          field("Expires after (days)", h("input", { name: "expiresInDays", type: "number", min: 1, max: 3650, placeholder: "never" }), { hint: "Empty: never (unless the operator requires an expiry)." }),
        ),
        h("button", { type: "submit" }, "Create key"),
      ),
      async (v) => {
        const data = await ctx.gql(kind.create, scoped({
          label: v.label,
          category: v.category || null,
          role: v.role,
          days: v.expiresInDays ? Number(v.expiresInDays) : null,
        }));
        // Show the key, then the list with the new account; the key box stays above it.
        const fresh = await panel(ctx, { scope, id, caps });
        revealKey(fresh.querySelector("#key-reveal"), data.key.label, data.key.apiKey);
        holder.replaceWith(fresh);
        notify(`API key ${data.key.label} created.`);
      },
    );
  }

  const holder = h(
    "div",
    { id: "keys-panel", dataset: { canCreate: String(caps.canCreateServiceAccount) } },
    reveal,
    rows.length
      ? h(
          "div",
          { className: "table-wrap" },
          h(
            "table",
            { id: "keys", className: "responsive" },
            h("caption", { className: "visually-hidden" }, "API keys"),
            h("thead", {}, h("tr", {}, ["Label", "Role", "Key", "Expires", "Last used", ""].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, rows),
          ),
        )
      : h("p", { className: "muted", id: "no-keys" }, "No API key yet."),
    form,
  );
  return holder;
}
