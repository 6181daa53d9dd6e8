// The organization chosen in the header: its people and their roles (invite, change, remove), teams,
// clusters, audit log, API keys, sign-in (domains, identity providers) and settings (name; billing for
// billing admins). What is offered comes from `organizationCapabilities`, and, where it has no field,
// from the API's own `can(permission, scope)`.

import { getText } from "../api.js";
import { dangerButton, field, h, notify, onSubmit, roleName, select, values, when } from "../dom.js";
import { tabs } from "./workspace.js";
import { rolesOf } from "./users.js";
import * as keys from "./keys.js";

const ORGANIZATION = `query Organization($id: Uuid!) {
  roles { role scope }
  organization(organizationUuid: $id) {
    id name description billingEmail billingCompany billingPlan
    organizationCapabilities {
      canUpdateOrganization canUpdateBilling canInviteUser canUpdateIAM canManageTeams canCreateWorkspace
      canManageClusters canGetAuditLogs
    }
  }
  canReadKeys: can(permission: "organization.serviceAccounts.get", scopeId: $id)
  canCreateKeys: can(permission: "organization.serviceAccounts.create", scopeId: $id)
  canUpdateKeys: can(permission: "organization.serviceAccounts.update", scopeId: $id)
  canDeleteKeys: can(permission: "organization.serviceAccounts.delete", scopeId: $id)
}`;

const TABS = [
  ["people", "People"],
  ["teams", "Teams"],
  ["clusters", "Clusters"],
  ["audit", "Audit log"],
  ["keys", "API keys"],
  ["sign-in", "Sign-in"],
  ["settings", "Settings"],
];

const emailOf = (user) => user.emails.find((e) => e.primary)?.address ?? user.emails[0]?.address ?? user.username;

async function people(ctx, org, roles) {
  const caps = org.organizationCapabilities;
  const { organizationUsers } = await ctx.gql(
    `query People($id: Uuid!) { organizationUsers(organizationUuid: $id, first: 100) {
      totalCount nodes { role user { id username fullName emails { address primary } } } } }`,
    { id: org.id },
  );
  const orgRoles = rolesOf(roles, "ORGANIZATION");
  const rows = organizationUsers.nodes.map(({ role, user }) => {
    const email = emailOf(user);
    let roleCell = h("td", {}, roleName(role));
    if (caps.canUpdateIAM) {
      const choice = select("role", orgRoles.map((r) => [r, roleName(r)]), role);
      choice.setAttribute("aria-label", `Role of ${email}`);
      choice.onchange = async () => {
        try {
          await ctx.gql(
            "mutation OrgRole($o: Uuid!, $u: Uuid!, $r: Role!) { organizationUpdateUserRole(organizationUuid: $o, userUuid: $u, role: $r) }",
            { o: org.id, u: user.id, r: choice.value },
          );
          notify(`${email} is now ${roleName(choice.value)}.`);
        } catch (error) {
          choice.value = role;
          notify(error);
        }
      };
      roleCell = h("td", {}, choice);
    }
    return h(
      "tr",
      { dataset: { userId: user.id, email, role } },
      h("td", {}, user.fullName || user.username, h("br"), h("span", { className: "muted" }, email)),
      roleCell,
      caps.canUpdateIAM
        ? h(
            "td",
            { className: "actions" },
            dangerButton("Remove", async () => {
              await ctx.gql("mutation OrgRemove($o: Uuid!, $u: Uuid!) { organizationRemoveUser(organizationUuid: $o, userUuid: $u) }", { o: org.id, u: user.id });
              ctx.navigate("#/organization/people", `${email} was removed from ${org.name}.`);
            }, { className: "danger small remove" }),
          )
        : null,
    );
  });
  const invite = caps.canInviteUser
    ? onSubmit(
        h(
          "form",
          { id: "org-invite", className: "card" },
          h("h2", {}, "Add someone"),
          h(
            "div",
            { className: "row" },
            field("Email address", h("input", { name: "email", type: "email", required: true, maxLength: 320 })),
            field("Role", select("role", orgRoles.map((r) => [r, roleName(r)]), "ORGANIZATION_MEMBER")),
          ),
          h("p", { className: "muted" }, "People without an account here get an invite by mail."),
          h("button", { type: "submit" }, "Add"),
        ),
        async ({ email, role }) => {
          await ctx.gql(
            "mutation OrgInvite($o: Uuid!, $e: String!, $r: Role!) { organizationInviteUser(organizationUuid: $o, email: $e, role: $r) { role } }",
            { o: org.id, e: email, r: role },
          );
          ctx.navigate("#/organization/people", `${email} was invited.`);
        },
      )
    : null;
  return h(
    "div",
    {},
    h(
      "div",
      { className: "table-wrap" },
      h(
        "table",
        { id: "org-people", className: "responsive" },
        h("caption", { className: "visually-hidden" }, "People"),
        h("thead", {}, h("tr", {}, ["Person", "Role", caps.canUpdateIAM ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
      ),
    ),
    organizationUsers.totalCount > rows.length ? h("p", { className: "muted" }, `Showing ${rows.length} of ${organizationUsers.totalCount}.`) : null,
    invite,
  );
}

async function teams(ctx, org) {
  const caps = org.organizationCapabilities;
  const { teams: list } = await ctx.gql(
    "query Teams($o: Uuid) { teams(organizationUuid: $o, first: 100) { nodes { id name description users { id } roleBindings { role scope } } } }",
    { o: org.id },
  );
  const rows = list.nodes.map((team) =>
    h(
      "tr",
      { dataset: { teamId: team.id } },
      h("td", {}, h("a", { href: `#/organization/teams/${team.id}`, className: "team-link" }, team.name), team.description ? h("span", { className: "muted" }, ` — ${team.description}`) : null),
      h("td", {}, String(team.users.length)),
      h("td", {}, team.roleBindings.map((b) => roleName(b.role)).join(", ") || "—"),
      caps.canManageTeams
        ? h(
            "td",
            { className: "actions" },
            dangerButton("Delete", async () => {
              await ctx.gql("mutation DeleteTeam($t: Uuid!) { deleteTeam(teamUuid: $t) { id } }", { t: team.id });
              ctx.navigate("#/organization/teams", `Team ${team.name} deleted.`);
            }, { className: "danger small" }),
          )
        : null,
    ),
  );
  const create = caps.canManageTeams
    ? onSubmit(
        h(
          "form",
          { id: "create-team", className: "card" },
          h("h2", {}, "New team"),
          h("div", { className: "row" }, field("Name", h("input", { name: "name", required: true, maxLength: 255 })), field("Description", h("input", { name: "description", maxLength: 4096 }))),
          h("button", { type: "submit" }, "Create team"),
        ),
        async ({ name, description }) => {
          await ctx.gql("mutation CreateTeam($o: Uuid, $n: String!, $d: String) { createTeam(organizationUuid: $o, name: $n, description: $d) { id } }", { o: org.id, n: name, d: description || null });
          ctx.navigate("#/organization/teams", `Team ${name} created.`);
        },
      )
    : null;
  return h(
    "div",
    {},
    rows.length
      ? h("table", { id: "org-teams" }, h("thead", {}, h("tr", {}, ["Team", "Members", "Roles", caps.canManageTeams ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows))
      : h("p", { className: "muted" }, "No team yet."),
    create,
  );
}

/** Where a team's role applies, for people. */
function bindingPlace(binding) {
  if (binding.deployment) return h("a", { href: `#/deployments/${binding.deployment.id}` }, binding.deployment.label);
  if (binding.workspace) return h("a", { href: `#/workspaces/${binding.workspace.id}/users` }, binding.workspace.label);
  return binding.scope === "SYSTEM" ? "the installation" : "the organization";
}

/**
 * One team: name and description, members (add from the organization's people, remove), its
 * organization role, and where else it holds roles (changed on those workspaces' and deployments'
 * pages). Changes are offered as `canManageTeams` (members, name) and `canUpdateIAM` (the role) say.
 */
async function team(ctx, org, roles, teamId) {
  const caps = org.organizationCapabilities;
  const { team: t, teamUsers, canSystem } = await ctx.gql(
    `query Team($t: Uuid!) {
      team(teamUuid: $t) { id name description organizationId
        roleBindings { role scope workspace { id label } deployment { id label } } }
      teamUsers(teamUuid: $t) { id username fullName emails { address primary } }
      canSystem: can(permission: "system.iam.update")
    }`,
    { t: teamId },
  );
  const back = `#/organization/teams/${t.id}`;
  const details = onSubmit(
    h(
      "form",
      { id: "team-details", className: "card", noValidate: true },
      h("h2", {}, "Team"),
      h(
        "div",
        { className: "row" },
        field("Name", h("input", { name: "name", value: t.name, required: true, maxLength: 255, disabled: !caps.canManageTeams })),
        field("Description", h("input", { name: "description", value: t.description ?? "", maxLength: 4096, disabled: !caps.canManageTeams })),
      ),
      caps.canManageTeams ? h("button", { type: "submit" }, "Save") : null,
    ),
    async ({ name, description }) => {
      await ctx.gql("mutation UpdateTeam($t: Uuid!, $n: String, $d: String) { updateTeam(teamUuid: $t, name: $n, description: $d) { id } }", { t: t.id, n: name, d: description });
      ctx.navigate(back, `Team ${name} saved.`);
    },
  );

  const memberIds = new Set(teamUsers.map((u) => u.id));
  const rows = teamUsers.map((user) => {
    const email = emailOf(user);
    return h(
      "tr",
      { dataset: { userId: user.id, email } },
      h("td", {}, user.fullName || user.username, h("br"), h("span", { className: "muted" }, email)),
      caps.canManageTeams
        ? h(
            "td",
            { className: "actions" },
            dangerButton("Remove", async () => {
              await ctx.gql("mutation TeamRemove($t: Uuid!, $u: Uuid!) { teamRemoveUser(teamUuid: $t, userUuid: $u) { id } }", { t: t.id, u: user.id });
              ctx.navigate(back, `${email} left ${t.name}.`);
            }, { className: "danger small remove", "aria-label": `Remove ${email} from ${t.name}` }),
          )
        : null,
    );
  });

  let add = null;
  if (caps.canManageTeams) {
    const { organizationUsers } = await ctx.gql(
      `query People($id: Uuid!) { organizationUsers(organizationUuid: $id, first: 100) {
        nodes { user { id username fullName emails { address primary } } } } }`,
      { id: org.id },
    );
    const candidates = organizationUsers.nodes.map((n) => n.user).filter((u) => !memberIds.has(u.id));
    add = candidates.length
      ? onSubmit(
          h(
            "form",
            { id: "team-add-member", className: "row" },
            field("Add a member of the organization", select("userId", candidates.map((u) => [u.id, emailOf(u)]), candidates[0].id)),
            h("div", { className: "field" }, h("button", { type: "submit" }, "Add to team")),
          ),
          async ({ userId }) => {
            await ctx.gql("mutation TeamAdd($t: Uuid!, $u: Uuid!) { teamAddUser(teamUuid: $t, userUuid: $u) { id } }", { t: t.id, u: userId });
            const who = candidates.find((u) => u.id === userId);
            ctx.navigate(back, `${who ? emailOf(who) : "The person"} joined ${t.name}.`);
          },
        )
      : h("p", { className: "muted", id: "no-candidates" }, "Everyone in the organization is in this team.");
  }

  const orgBinding = t.roleBindings.find((b) => b.scope === "ORGANIZATION");
  const orgRoles = rolesOf(roles, "ORGANIZATION");
  let orgRole = h("p", { id: "team-org-role" }, orgBinding ? roleName(orgBinding.role) : "No organization role.");
  if (caps.canUpdateIAM) {
    const choices = orgRoles.map((r) => [r, roleName(r)]);
    const choice = select("role", orgBinding ? choices : [["", "No organization role"], ...choices], orgBinding?.role ?? "");
    choice.id = "team-org-role";
    choice.onchange = async () => {
      if (!choice.value) return;
      try {
        await ctx.gql(
          "mutation TeamOrgRole($o: Uuid!, $t: Uuid!, $r: Role!) { organizationUpdateTeamRole(organizationUuid: $o, teamUuid: $t, role: $r) { role } }",
          { o: org.id, t: t.id, r: choice.value },
        );
        ctx.navigate(back, `${t.name} is now ${roleName(choice.value)} of ${org.name}.`);
      } catch (error) {
        choice.value = orgBinding?.role ?? "";
        notify(error);
      }
    };
    orgRole = field("Organization role of its members", choice);
  }
  const elsewhere = t.roleBindings.filter((b) => b.scope === "WORKSPACE" || b.scope === "DEPLOYMENT" || (b.scope === "SYSTEM" && !canSystem));

  // A system role for the team's members: offered to those who may change system roles.
  let systemRole = null;
  if (canSystem) {
    const held = t.roleBindings.find((b) => b.scope === "SYSTEM")?.role ?? "";
    const choice = select("systemRole", [["", "No system role"], ...rolesOf(roles, "SYSTEM").map((r) => [r, roleName(r)])], held);
    choice.id = "team-system-role";
    choice.onchange = async () => {
      try {
        if (choice.value) {
          await ctx.gql("mutation TeamSystemRole($t: Uuid!, $r: Role!) { createTeamSystemRoleBinding(teamUuid: $t, role: $r) { role } }", { t: t.id, r: choice.value });
        } else {
          await ctx.gql("mutation TeamNoSystemRole($t: Uuid!, $r: Role!) { deleteTeamSystemRoleBinding(teamUuid: $t, role: $r) { role } }", { t: t.id, r: held });
        }
        ctx.navigate(back, choice.value ? `${t.name} is now ${roleName(choice.value)}.` : `${t.name} holds no system role.`);
      } catch (error) {
        choice.value = held;
        notify(error);
      }
    };
    systemRole = field("System role of its members", choice);
  }

  return h(
    "div",
    { id: "team", dataset: { teamId: t.id, canManage: String(caps.canManageTeams) } },
    h("p", {}, h("a", { href: "#/organization/teams" }, "← All teams")),
    details,
    h(
      "div",
      { className: "card" },
      h("h2", {}, `Members (${rows.length})`),
      rows.length
        ? h(
            "div",
            { className: "table-wrap" },
            h("table", { id: "team-members", className: "responsive" }, h("caption", { className: "visually-hidden" }, "Members"), h("tbody", {}, rows)),
          )
        : h("p", { className: "muted", id: "no-members" }, "No member yet."),
      add,
    ),
    h(
      "div",
      { className: "card" },
      h("h2", {}, "Roles"),
      orgRole,
      systemRole,
      elsewhere.length
        ? h("ul", { id: "team-roles" }, elsewhere.map((b) => h("li", {}, roleName(b.role), " on ", bindingPlace(b))))
        : h("p", { className: "muted" }, "No workspace or deployment role: give it one on a workspace's Users & teams page."),
    ),
  );
}

/**
 * Clusters the organization can use: its dedicated ones and the shared (standard) ones. Owners
 * (`canManageClusters`) create dedicated clusters, edit and delete them; shared clusters are changed by
 * those the API's `can("system.clusters.update")` allows. capcom refuses deleting a cluster deployments
 * still run on, with its reason.
 */
async function clusters(ctx, org) {
  const { clusters: list, canSystem } = await ctx.gql(`query Clusters {
    clusters { id name kind provider region organizationId baseDomain namespaces }
    canSystem: can(permission: "system.clusters.update")
  }`);
  const mine = list.filter((c) => !c.organizationId || c.organizationId === org.id);
  const mayChange = (c) => (c.kind === "DEDICATED" ? org.organizationCapabilities.canManageClusters : canSystem);
  const back = "#/organization/clusters";
  const clusterFields = (c = {}) => [
    field("Provider", h("input", { name: "provider", value: c.provider ?? "", maxLength: 255, placeholder: "aws" })),
    field("Region", h("input", { name: "region", value: c.region ?? "", maxLength: 255, placeholder: "eu-west-1" })),
    field("Base domain", h("input", { name: "baseDomain", value: c.baseDomain ?? "", maxLength: 255, placeholder: "airflow.example.com" })),
    field("Namespace pool", h("input", { name: "namespaces", value: (c.namespaces ?? []).join(", "), placeholder: "airflow-1, airflow-2" }), {
      hint: "Pre-created Kubernetes namespaces, comma-separated; empty: capcom names one per deployment.",
    }),
  ];
  const pool = (text) => text.split(",").map((n) => n.trim()).filter(Boolean);
  const rows = mine.map((c) => {
    const editable = mayChange(c);
    const edit = editable
      ? onSubmit(
          h(
            "form",
            { className: "edit-cluster", noValidate: true },
            h("div", { className: "row" }, field("Name", h("input", { name: "name", value: c.name, required: true, maxLength: 255 })), ...clusterFields(c)),
            h("button", { type: "submit", className: "secondary small" }, "Save"),
          ),
          async (v) => {
            await ctx.gql(
              `mutation UpdateCluster($c: Uuid!, $n: String, $p: String, $r: String, $b: String, $ns: [String!]) {
                updateCluster(clusterUuid: $c, name: $n, provider: $p, region: $r, baseDomain: $b, namespaces: $ns) { id }
              }`,
              { c: c.id, n: v.name, p: v.provider, r: v.region, b: v.baseDomain || null, ns: pool(v.namespaces) },
            );
            ctx.navigate(back, `Cluster ${v.name} saved.`);
          },
        )
      : null;
    return h(
      "tr",
      { dataset: { clusterId: c.id, name: c.name, kind: c.kind } },
      h("td", {}, c.name, edit ? h("details", {}, h("summary", {}, `Edit ${c.name}`), edit) : null),
      h("td", {}, c.kind === "DEDICATED" ? "Dedicated" : "Shared"),
      h("td", {}, c.provider),
      h("td", {}, c.region),
      h("td", {}, c.baseDomain),
      h("td", {}, c.namespaces.length ? c.namespaces.join(", ") : "—"),
      h(
        "td",
        { className: "actions" },
        editable
          ? dangerButton("Delete", async () => {
              await ctx.gql("mutation DeleteCluster($c: Uuid!) { deleteCluster(clusterUuid: $c) { id } }", { c: c.id });
              ctx.navigate(back, `Cluster ${c.name} deleted.`);
            }, { className: "danger small delete", "aria-label": `Delete cluster ${c.name}` })
          : null,
      ),
    );
  });
  const create = org.organizationCapabilities.canManageClusters
    ? onSubmit(
        h(
          "form",
          { id: "create-cluster", className: "card", noValidate: true },
          h("h2", {}, "New dedicated cluster"),
          h("p", { className: "muted" }, `Only ${org.name}'s workspaces deploy to it.`),
          h("div", { className: "row" }, field("Name", h("input", { name: "name", required: true, maxLength: 255 })), ...clusterFields()),
          h("button", { type: "submit" }, "Create cluster"),
        ),
        async (v) => {
          await ctx.gql(
            `mutation CreateCluster($o: Uuid, $n: String!, $p: String, $r: String, $b: String, $ns: [String!]) {
              createCluster(type: DEDICATED, organizationUuid: $o, name: $n, provider: $p, region: $r, baseDomain: $b, namespaces: $ns) { id }
            }`,
            { o: org.id, n: v.name, p: v.provider || null, r: v.region || null, b: v.baseDomain || null, ns: pool(v.namespaces) },
          );
          ctx.navigate(back, `Cluster ${v.name} created.`);
        },
      )
    : null;
  return h(
    "div",
    { id: "clusters-panel", dataset: { canCreate: String(org.organizationCapabilities.canManageClusters) } },
    rows.length
      ? h(
          "div",
          { className: "table-wrap" },
          h(
            "table",
            { id: "org-clusters", className: "responsive" },
            h("caption", { className: "visually-hidden" }, "Clusters"),
            h("thead", {}, h("tr", {}, ["Cluster", "Kind", "Provider", "Region", "Base domain", "Namespaces", ""].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, rows),
          ),
        )
      : h("p", { className: "muted", id: "no-clusters" }, "No cluster yet."),
    create,
  );
}

const AUDIT_PAGE = 25;

/** The filter form's values as `AuditEventFilter` (and `/v1/audit/export`'s parameters). */
function auditFilter(org, v) {
  const filter = { organizationUuid: org.id };
  if (v.workspaceUuid) filter.workspaceUuid = v.workspaceUuid;
  if (v.action) filter.action = v.action;
  // `datetime-local` is the browser's local time; capcom wants RFC 3339.
  if (v.from) filter.from = new Date(v.from).toISOString();
  if (v.to) filter.to = new Date(v.to).toISOString();
  return filter;
}

/**
 * The organization's audit log (`canGetAuditLogs`): filter by workspace, action and time, page through it
 * newest first (the connection's keyset cursor), and export what the filter selects as NDJSON
 * (`GET /v1/audit/export`, the same rule as `auditEvents`).
 */
async function audit(ctx, org) {
  if (!org.organizationCapabilities.canGetAuditLogs) return h("p", { id: "audit-hidden" }, "Your role does not show the audit log.");
  const workspaces = ctx.workspaces.filter((w) => w.organizationId === org.id);
  const form = h(
    "form",
    { id: "audit-filter", className: "card", noValidate: true },
    h("h2", {}, "Filter"),
    h(
      "div",
      { className: "row" },
      field("Workspace", select("workspaceUuid", [["", "Any"], ...workspaces.map((w) => [w.id, w.label])], "")),
      field("Action starts with", h("input", { name: "action", placeholder: "deployment." })),
      field("From", h("input", { name: "from", type: "datetime-local" })),
      field("Until", h("input", { name: "to", type: "datetime-local" })),
    ),
    h("button", { type: "submit" }, "Show"),
    " ",
    h("button", { type: "button", className: "secondary", id: "audit-export" }, "Export (NDJSON)"),
    " ",
    h("span", { role: "status", className: "muted", id: "audit-export-status" }),
  );
  const results = h("div", { id: "audit-results", "aria-live": "polite" });
  // Cursors of the pages shown before the current one, for "Newer".
  let filter = auditFilter(org, {});
  let cursors = [];

  async function show(after) {
    const { auditEvents } = await ctx.gql(
      `query Audit($f: AuditEventFilter, $after: String, $first: Int) { auditEvents(filter: $f, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id occurredAt action targetType actor { label } requestId } } }`,
      { f: filter, after: after ?? null, first: AUDIT_PAGE },
    );
    const shownFrom = cursors.length * AUDIT_PAGE;
    const older = h("button", { type: "button", className: "secondary small", id: "audit-older", disabled: !auditEvents.pageInfo.hasNextPage }, "Older");
    const newer = h("button", { type: "button", className: "secondary small", id: "audit-newer", disabled: cursors.length === 0 }, "Newer");
    older.onclick = () => {
      cursors.push(after ?? null);
      show(auditEvents.pageInfo.endCursor).catch(notify);
    };
    newer.onclick = () => show(cursors.pop()).catch(notify);
    results.replaceChildren(
      auditEvents.nodes.length
        ? h(
            "div",
            { className: "table-wrap" },
            h(
              "table",
              { id: "audit", className: "responsive", dataset: { total: String(auditEvents.totalCount), page: String(cursors.length + 1) } },
              h("caption", {}, `Events ${shownFrom + 1}–${shownFrom + auditEvents.nodes.length} of ${auditEvents.totalCount}, newest first`),
              h("thead", {}, h("tr", {}, ["When", "Who", "What", "Object", "Request"].map((t) => h("th", { scope: "col" }, t)))),
              h(
                "tbody",
                {},
                auditEvents.nodes.map((e) =>
                  h("tr", { dataset: { action: e.action } }, h("td", {}, when(e.occurredAt)), h("td", {}, e.actor.label), h("td", {}, h("code", {}, e.action)), h("td", {}, e.targetType), h("td", {}, h("code", {}, e.requestId ?? ""))),
                ),
              ),
            ),
          )
        : h("p", { className: "muted", id: "no-events" }, "No event matches."),
      h("p", { className: "pager" }, newer, " ", older),
    );
  }

  onSubmit(form, async (v) => {
    filter = auditFilter(org, v);
    cursors = [];
    await show(null);
  });
  form.querySelector("#audit-export").onclick = async () => {
    const status = form.querySelector("#audit-export-status");
    const parameters = new URLSearchParams(auditFilter(org, values(form)));
    try {
      const text = await getText(`/v1/audit/export?${parameters}`);
      const lines = text.split("\n").filter(Boolean).length;
      const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
      h("a", { href: url, download: `audit-${org.name}.ndjson` }).click();
      // Long enough for the browser to have saved it.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      status.textContent = `${lines} events exported.`;
      status.dataset.lines = String(lines);
    } catch (error) {
      notify(error);
    }
  };
  await show(null);
  return h("div", {}, form, results);
}

/** Managed domains and identity providers (the API decides them with the organization's config permission). */
async function signIn(ctx, org) {
  const { organizationDomains: domains, identityProviders: providers } = await ctx.gql(
    `query SignIn($o: Uuid!) {
      organizationDomains(organizationUuid: $o) { id domain verified verifiedAt recordName recordValue }
      identityProviders(organizationUuid: $o) {
        id name displayName issuerUrl clientId clientSecretSource enabled scopes emailClaim nameClaim groupsClaim
      }
    }`,
    { o: org.id },
  );
  const domainRows = domains.map((d) =>
    h(
      "tr",
      { dataset: { domain: d.domain, verified: String(d.verified) } },
      h("td", {}, d.domain),
      h("td", {}, d.verified ? `verified ${when(d.verifiedAt)}` : h("span", {}, "publish TXT ", h("code", {}, d.recordName), " = ", h("code", {}, d.recordValue))),
      h(
        "td",
        { className: "actions" },
        d.verified
          ? null
          : h("button", {
              type: "button",
              className: "secondary small verify",
              onclick: async () => {
                try {
                  await ctx.gql("mutation Verify($o: Uuid!, $d: Uuid!) { verifyOrganizationDomain(organizationUuid: $o, domainUuid: $d) { verified } }", { o: org.id, d: d.id });
                  ctx.navigate("#/organization/sign-in", `${d.domain} is verified.`);
                } catch (error) {
                  notify(error);
                }
              },
            }, "Verify"),
        dangerButton("Delete", async () => {
          await ctx.gql("mutation DeleteDomain($o: Uuid!, $d: Uuid!) { deleteOrganizationDomain(organizationUuid: $o, domainUuid: $d) { id } }", { o: org.id, d: d.id });
          ctx.navigate("#/organization/sign-in", `${d.domain} deleted.`);
        }, { className: "danger small" }),
      ),
    ),
  );
  const claim = onSubmit(
    h("form", { id: "claim-domain", className: "row" }, field("Domain", h("input", { name: "domain", required: true, placeholder: "example.com" })), h("div", { className: "field" }, h("button", { type: "submit" }, "Claim"))),
    async ({ domain }) => {
      await ctx.gql("mutation Claim($o: Uuid!, $d: String!) { claimOrganizationDomain(organizationUuid: $o, domain: $d) { id } }", { o: org.id, d: domain });
      ctx.navigate("#/organization/sign-in", `${domain} claimed: publish its TXT record, then verify.`);
    },
  );
  const providerRows = providers.map((p) =>
    h(
      "tr",
      { dataset: { provider: p.name, enabled: String(p.enabled) } },
      h("td", {}, p.displayName, h("br"), h("code", { className: "muted" }, p.name)),
      h("td", {}, p.issuerUrl),
      h("td", {}, p.clientId),
      h("td", {}, p.clientSecretSource),
      h("td", {}, p.enabled ? "on" : "off"),
      h(
        "td",
        { className: "actions" },
        h("button", {
          type: "button",
          className: "secondary small toggle",
          onclick: async () => {
            // The update replaces the provider's settings: send them back as they are, but `enabled`.
            const input = {
              name: p.name, displayName: p.displayName, issuerUrl: p.issuerUrl, clientId: p.clientId, scopes: p.scopes,
              emailClaim: p.emailClaim, nameClaim: p.nameClaim, groupsClaim: p.groupsClaim, enabled: !p.enabled,
            };
            try {
              await ctx.gql(
                "mutation ToggleProvider($o: Uuid!, $p: Uuid!, $i: IdentityProviderInput!) { updateIdentityProvider(organizationUuid: $o, providerUuid: $p, input: $i) { id } }",
                { o: org.id, p: p.id, i: input },
              );
              ctx.navigate("#/organization/sign-in", `${p.displayName} is ${p.enabled ? "switched off: people no longer sign in through it" : "switched on"}.`);
            } catch (error) {
              notify(error);
            }
          },
        }, p.enabled ? "Switch off" : "Switch on"),
        " ",
        dangerButton("Delete", async () => {
          await ctx.gql("mutation DeleteProvider($o: Uuid!, $p: Uuid!) { deleteIdentityProvider(organizationUuid: $o, providerUuid: $p) { id } }", { o: org.id, p: p.id });
          ctx.navigate("#/organization/sign-in", `${p.displayName} deleted.`);
        }, { className: "danger small" }),
      ),
    ),
  );
  const addProvider = onSubmit(
    h(
      "form",
      { id: "add-provider", className: "card", noValidate: true },
      h("h2", {}, "Add an OpenID Connect provider"),
      h(
        "div",
        { className: "row" },
        field("Name", h("input", { name: "name", required: true, placeholder: "acme" }), { hint: "The operator stores its client secret under the variable shown once it is created (clientSecretVariable)." }),
        field("Shown as", h("input", { name: "displayName" })),
        field("Issuer URL", h("input", { name: "issuerUrl", type: "url", required: true })),
        field("Client id", h("input", { name: "clientId", required: true })),
        field("Groups claim (optional)", h("input", { name: "groupsClaim" })),
      ),
      h("button", { type: "submit" }, "Add provider"),
    ),
    async (v) => {
      const input = { name: v.name, issuerUrl: v.issuerUrl, clientId: v.clientId };
      for (const key of ["displayName", "groupsClaim"]) if (v[key]) input[key] = v[key];
      await ctx.gql("mutation AddProvider($o: Uuid!, $i: IdentityProviderInput!) { createIdentityProvider(organizationUuid: $o, input: $i) { id } }", { o: org.id, i: input });
      ctx.navigate("#/organization/sign-in", `${v.displayName || v.name} added.`);
    },
  );
  return h(
    "div",
    {},
    h(
      "div",
      { className: "card", id: "domains" },
      h("h2", {}, "Managed domains"),
      h("p", { className: "muted" }, "The organization's identity providers act only on addresses of its verified domains."),
      domainRows.length ? h("div", { className: "table-wrap" }, h("table", {}, h("tbody", {}, domainRows))) : h("p", { className: "muted" }, "No domain yet."),
      claim,
    ),
    h(
      "div",
      { className: "card", id: "providers-list" },
      h("h2", {}, "Identity providers"),
      providerRows.length
        ? h("div", { className: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["Provider", "Issuer", "Client id", "Secret from", "Enabled", ""].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, providerRows)))
        : h("p", { className: "muted" }, "No provider yet: people sign in by password."),
    ),
    addProvider,
  );
}

function settings(ctx, org) {
  const caps = org.organizationCapabilities;
  const text = (name, value, disabled, type = "text") => h("input", { name, type, value: value ?? "", disabled, maxLength: name === "description" ? 4096 : 255 });
  const form = h(
    "form",
    { id: "org-settings", className: "card", noValidate: true },
    h("h2", {}, "Organization"),
    field("Name", text("name", org.name, !caps.canUpdateOrganization)),
    field("Description", text("description", org.description, !caps.canUpdateOrganization)),
    h("h2", {}, "Billing"),
    h(
      "div",
      { className: "row" },
      field("Billing email", text("billingEmail", org.billingEmail, !caps.canUpdateBilling, "email")),
      field("Company", text("billingCompany", org.billingCompany, !caps.canUpdateBilling)),
      field("Plan", text("billingPlan", org.billingPlan, !caps.canUpdateBilling)),
    ),
    caps.canUpdateOrganization || caps.canUpdateBilling
      ? h("button", { type: "submit" }, "Save")
      : h("p", { className: "muted" }, "Your role lets you read these settings only."),
  );
  return onSubmit(form, async (v) => {
    const payload = {};
    if (caps.canUpdateOrganization) Object.assign(payload, { name: v.name, description: v.description });
    if (caps.canUpdateBilling) Object.assign(payload, { billingEmail: v.billingEmail || null, billingCompany: v.billingCompany || null, billingPlan: v.billingPlan || null });
    await ctx.gql("mutation UpdateOrg($o: Uuid!, $p: OrganizationInput!) { updateOrganization(organizationUuid: $o, payload: $p) { id } }", { o: org.id, p: payload });
    await ctx.refresh();
    ctx.navigate("#/organization/settings", "Organization saved.");
  });
}

export async function render(ctx, tab, id) {
  if (!ctx.organization) return h("p", { dataset: { page: "organization" } }, "You belong to no organization.");
  const data = await ctx.gql(ORGANIZATION, { id: ctx.organization.id });
  const org = data.organization;
  let body;
  if (tab === "people") body = await people(ctx, org, data.roles);
  else if (tab === "teams") body = id ? await team(ctx, org, data.roles, id) : await teams(ctx, org);
  else if (tab === "clusters") body = await clusters(ctx, org);
  else if (tab === "audit") body = await audit(ctx, org);
  else if (tab === "keys")
    body = data.canReadKeys
      ? await keys.panel(ctx, { scope: "organization", id: org.id, caps: { canCreateServiceAccount: data.canCreateKeys, canUpdateServiceAccount: data.canUpdateKeys, canDeleteServiceAccount: data.canDeleteKeys } })
      : h("p", { id: "keys-hidden" }, "Your role does not show the organization's API keys.");
  else if (tab === "sign-in") body = org.organizationCapabilities.canUpdateOrganization
        ? await signIn(ctx, org)
        : h("p", { id: "sign-in-hidden" }, "Your role does not manage how people sign in.");
  else if (tab === "settings") body = settings(ctx, org);
  else body = h("p", {}, "There is no such section.");
  return h(
    "section",
    { dataset: { page: id ? `organization-${tab}-one` : `organization-${tab}`, organizationId: org.id } },
    h("h1", {}, org.name),
    org.description ? h("p", { className: "muted" }, org.description) : null,
    tabs("#/organization", TABS, tab),
    body,
  );
}
