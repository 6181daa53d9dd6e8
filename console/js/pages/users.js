// A workspace's people: members with their roles, pending invites, teams and their roles. Inviting,
// changing and removing are offered when `workspaceCapabilities.canUpdateIAM` (teams:
// `canManageTeams`) says so; the roles offered come from the API's `roles` list.

import { dangerButton, field, h, notify, onSubmit, roleName, select, when } from "../dom.js";

const PEOPLE = `query WorkspacePeople($id: Uuid!) {
  roles { role scope }
  workspace(workspaceUuid: $id) {
    id organizationId
    deployments { id label }
    users {
      id username fullName emails { address primary }
      roleBindings { role scope workspace { id } deployment { id label } }
    }
    teams { id name roleBindings { role scope workspace { id } deployment { id } } }
  }
  workspaceInvites(workspaceUuid: $id) { id email role expiresAt }
}`;

/** The roles of `scope` in the API's own role list, in the order it gives them. */
export function rolesOf(roles, scope) {
  return roles.filter((r) => r.scope === scope).map((r) => r.role);
}

const emailOf = (user) => user.emails.find((e) => e.primary)?.address ?? user.emails[0]?.address ?? user.username;

function memberRow(ctx, ws, user, workspaceRoles, canUpdate) {
  const binding = user.roleBindings.find((b) => b.scope === "WORKSPACE" && b.workspace?.id === ws.id);
  const deploymentRoles = user.roleBindings
    .filter((b) => b.scope === "DEPLOYMENT" && ws.deployments.some((d) => d.id === b.deployment?.id))
    .map((b) => `${b.deployment.label}: ${roleName(b.role)}`)
    .join(", ");
  const email = emailOf(user);
  let roleCell = h("td", { className: "role" }, roleName(binding?.role));
  if (canUpdate) {
    const choice = select("role", workspaceRoles.map((r) => [r, roleName(r)]), binding?.role);
    choice.setAttribute("aria-label", `Role of ${email}`);
    choice.onchange = async () => {
      try {
        await ctx.gql(
          "mutation ChangeRole($ws: Uuid!, $email: String!, $role: Role!) { workspaceUpdateUserRole(workspaceUuid: $ws, email: $email, role: $role) }",
          { ws: ws.id, email, role: choice.value },
        );
        notify(`${email} is now ${roleName(choice.value)}.`);
      } catch (error) {
        choice.value = binding?.role ?? "";
        notify(error);
      }
    };
    roleCell = h("td", { className: "role" }, choice);
  }
  return h(
    "tr",
    { dataset: { userId: user.id, email, role: binding?.role ?? "" } },
    h("td", {}, user.fullName || user.username, h("br"), h("span", { className: "muted" }, email)),
    roleCell,
    h("td", {}, deploymentRoles || h("span", { className: "muted" }, "—")),
    canUpdate
      ? h(
          "td",
          { className: "actions" },
          dangerButton("Remove", async () => {
            await ctx.gql(
              "mutation Remove($ws: Uuid!, $user: Uuid!) { workspaceRemoveUser(workspaceUuid: $ws, userUuid: $user) { id } }",
              { ws: ws.id, user: user.id },
            );
            ctx.navigate(`#/workspaces/${ws.id}/users`, `${email} was removed from the workspace.`);
          }, { className: "danger small remove" }),
        )
      : null,
  );
}

function inviteForm(ctx, ws, workspaceRoles, deploymentRoles) {
  const perDeployment = ws.deployments.map((d) =>
    field(
      `Role in ${d.label}`,
      select(`deployment:${d.id}`, [["", "None"], ...deploymentRoles.map((r) => [r, roleName(r)])], ""),
    ),
  );
  const form = h(
    "form",
    { id: "invite-user", className: "card", "aria-labelledby": "invite-title" },
    h("h2", { id: "invite-title" }, "Invite someone"),
    h(
      "div",
      { className: "row" },
      field("Email address", h("input", { name: "email", type: "email", required: true, maxLength: 320 })),
      field("Workspace role", select("role", workspaceRoles.map((r) => [r, roleName(r)]), "WORKSPACE_VIEWER")),
    ),
    perDeployment.length
      ? h("details", {}, h("summary", {}, "Deployment roles (optional)"), h("div", { className: "row" }, perDeployment))
      : null,
    h("p", { className: "muted" }, "People who are not yet in the organization get an invite by mail."),
    h("button", { type: "submit" }, "Invite"),
  );
  return onSubmit(form, async (values) => {
    const roles = Object.entries(values)
      .filter(([key, role]) => key.startsWith("deployment:") && role)
      .map(([key, role]) => ({ deploymentId: key.slice("deployment:".length), role }));
    await ctx.gql(
      `mutation Invite($ws: Uuid!, $email: String!, $role: Role!, $deploymentRoles: [DeploymentRoles!]) {
        workspaceAddUser(workspaceUuid: $ws, email: $email, role: $role, deploymentRoles: $deploymentRoles) { id }
      }`,
      { ws: ws.id, email: values.email, role: values.role, deploymentRoles: roles.length ? roles : null },
    );
    ctx.navigate(`#/workspaces/${ws.id}/users`, `${values.email} was invited.`);
  });
}

function invitesTable(ctx, ws, invites, canUpdate) {
  if (!invites.length) return h("p", { className: "muted", id: "no-invites" }, "No pending invite.");
  return h(
    "div",
    { className: "table-wrap" },
    h(
      "table",
      { id: "invites", className: "responsive" },
      h("caption", { className: "visually-hidden" }, "Pending invites"),
      h("thead", {}, h("tr", {}, ["Email", "Role", "Expires", canUpdate ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        invites.map((invite) =>
          h(
            "tr",
            { dataset: { inviteId: invite.id, email: invite.email } },
            h("td", {}, invite.email),
            h("td", {}, roleName(invite.role)),
            h("td", {}, when(invite.expiresAt)),
            canUpdate
              ? h(
                  "td",
                  { className: "actions" },
                  dangerButton("Revoke", async () => {
                    await ctx.gql(
                      "mutation Revoke($invite: Uuid!, $ws: Uuid) { deleteInviteToken(inviteUuid: $invite, workspaceUuid: $ws) { id } }",
                      { invite: invite.id, ws: ws.id },
                    );
                    ctx.navigate(`#/workspaces/${ws.id}/users`, `The invite to ${invite.email} was revoked.`);
                  }, { className: "danger small revoke" }),
                )
              : null,
          ),
        ),
      ),
    ),
  );
}

async function teamsSection(ctx, ws, workspaceRoles, canManage) {
  const rows = ws.teams.map((team) => {
    const binding = team.roleBindings.find((b) => b.scope === "WORKSPACE" && b.workspace?.id === ws.id);
    let roleCell = h("td", {}, roleName(binding?.role));
    if (canManage) {
      const choice = select("role", workspaceRoles.map((r) => [r, roleName(r)]), binding?.role);
      choice.setAttribute("aria-label", `Role of team ${team.name}`);
      choice.onchange = async () => {
        try {
          await ctx.gql(
            "mutation TeamRole($ws: Uuid!, $team: Uuid!, $role: Role!) { workspaceUpdateTeamRole(workspaceUuid: $ws, teamUuid: $team, role: $role) }",
            { ws: ws.id, team: team.id, role: choice.value },
          );
          notify(`Team ${team.name} is now ${roleName(choice.value)}.`);
        } catch (error) {
          choice.value = binding?.role ?? "";
          notify(error);
        }
      };
      roleCell = h("td", {}, choice);
    }
    return h(
      "tr",
      { dataset: { teamId: team.id } },
      h("td", {}, team.name),
      roleCell,
      canManage
        ? h(
            "td",
            { className: "actions" },
            dangerButton("Remove", async () => {
              await ctx.gql(
                "mutation RemoveTeam($ws: Uuid!, $team: Uuid!) { workspaceRemoveTeam(workspaceUuid: $ws, teamUuid: $team) { id } }",
                { ws: ws.id, team: team.id },
              );
              ctx.navigate(`#/workspaces/${ws.id}/users`);
            }, { className: "danger small" }),
          )
        : null,
    );
  });
  let addForm = null;
  if (canManage) {
    // The organization's teams not yet in the workspace (readable by its members).
    const { teams } = await ctx.gql("query OrgTeams($org: Uuid) { teams(organizationUuid: $org, first: 100) { nodes { id name } } }", { org: ws.organizationId });
    const candidates = teams.nodes.filter((t) => !ws.teams.some((w) => w.id === t.id));
    if (candidates.length) {
      addForm = onSubmit(
        h(
          "form",
          { id: "add-team", className: "row" },
          field("Team", select("team", candidates.map((t) => [t.id, t.name]), candidates[0].id)),
          field("Role", select("role", workspaceRoles.map((r) => [r, roleName(r)]), "WORKSPACE_VIEWER")),
          h("div", { className: "field" }, h("button", { type: "submit" }, "Add team")),
        ),
        async ({ team, role }) => {
          await ctx.gql(
            "mutation AddTeam($ws: Uuid!, $team: Uuid!, $role: Role!) { workspaceAddTeam(workspaceUuid: $ws, teamUuid: $team, role: $role) { id } }",
            { ws: ws.id, team, role },
          );
          ctx.navigate(`#/workspaces/${ws.id}/users`);
        },
      );
    }
  }
  return h(
    "div",
    { className: "card", id: "teams" },
    h("h2", {}, "Teams"),
    rows.length
      ? h("table", {}, h("thead", {}, h("tr", {}, ["Team", "Role", canManage ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows))
      : h("p", { className: "muted" }, "No team holds a role here."),
    addForm,
  );
}

/** The "Users & teams" tab of a workspace. */
export async function workspaceTab(ctx, workspace) {
  const caps = workspace.workspaceCapabilities;
  if (!caps.canViewUsers) return h("p", { id: "users-hidden" }, "Your role does not show this workspace's members.");
  const { roles, workspace: ws, workspaceInvites } = await ctx.gql(PEOPLE, { id: workspace.id });
  const workspaceRoles = rolesOf(roles, "WORKSPACE");
  const deploymentRoles = rolesOf(roles, "DEPLOYMENT");
  const canUpdate = caps.canUpdateIAM;
  return h(
    "div",
    { dataset: { canUpdateIam: String(canUpdate) } },
    h(
      "div",
      { className: "table-wrap" },
      h(
        "table",
        { id: "members", className: "responsive" },
        h("caption", { className: "visually-hidden" }, "Members"),
        h("thead", {}, h("tr", {}, ["Person", "Workspace role", "Deployment roles", canUpdate ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ws.users.map((user) => memberRow(ctx, ws, user, workspaceRoles, canUpdate))),
      ),
    ),
    canUpdate ? inviteForm(ctx, ws, workspaceRoles, deploymentRoles) : null,
    h("h2", {}, "Pending invites"),
    invitesTable(ctx, ws, workspaceInvites, canUpdate),
    await teamsSection(ctx, ws, workspaceRoles, caps.canManageTeams),
  );
}
