// A workspace: its deployments with live status and creating one; its users and teams (users.js); its
// API keys (keys.js); its settings (rename, describe, delete). What is offered comes from
// `workspaceCapabilities`.

import { dangerButton, field, h, onSubmit, select, when } from "../dom.js";
import * as users from "./users.js";
import * as keys from "./keys.js";

const WORKSPACE = `query Workspace($id: Uuid!) {
  workspace(workspaceUuid: $id) {
    id label description organizationId
    workspaceCapabilities {
      canUpdateWorkspace canDeleteWorkspace canUpdateIAM canInviteUser canCreateDeployment
      canCreateServiceAccount canUpdateServiceAccount canDeleteServiceAccount canViewUsers canManageTeams
    }
    deployments { id label releaseName status executor runtimeVersion updatedAt }
  }
}`;

const STATUS = `subscription Status($id: Uuid) {
  deploymentStatus(deploymentUuid: $id) { id label status executor runtimeVersion updatedAt }
}`;

const TABS = [
  ["deployments", "Deployments"],
  ["users", "Users & teams"],
  ["keys", "API keys"],
  ["settings", "Settings"],
];

/** Tab links of a page; the current one is marked for assistive technology. */
export function tabs(base, list, current) {
  return h(
    "nav",
    { className: "tabs", "aria-label": "Sections" },
    list.map(([id, text]) => h("a", { href: `${base}/${id}`, "aria-current": id === current ? "page" : null, dataset: { tab: id } }, text)),
  );
}

function deploymentRow(ctx, d) {
  const status = h("td", { className: "status" }, d.status);
  const updated = h("td", {}, when(d.updatedAt));
  const row = h(
    "tr",
    { dataset: { deploymentId: d.id, status: d.status } },
    h("td", {}, h("a", { href: `#/deployments/${d.id}` }, d.label)),
    h("td", {}, h("code", {}, d.releaseName)),
    status,
    h("td", {}, d.executor ?? ""),
    h("td", {}, d.runtimeVersion ?? ""),
    updated,
  );
  ctx.subscribe(STATUS, { id: d.id }, {
    next(payload) {
      const now = payload.data?.deploymentStatus;
      if (!now) return;
      status.textContent = now.status;
      updated.textContent = when(now.updatedAt);
      row.dataset.status = now.status;
      row.dataset.live = "true";
      // How many states capcom pushed since the page opened (the first is the state at subscribing).
      row.dataset.pushes = String(Number(row.dataset.pushes ?? 0) + 1);
    },
    error(errors) {
      row.dataset.live = "false";
      status.title = errors?.[0]?.message ?? "";
    },
  });
  return row;
}

async function createDeploymentForm(ctx, ws) {
  const { deploymentConfig, clusters } = await ctx.gql(`query NewDeployment {
    deploymentConfig { executors runtimeReleases { version airflowVersion } defaultRuntimeVersion }
    clusters { id name organizationId }
  }`);
  const usable = clusters.filter((c) => !c.organizationId || c.organizationId === ws.organizationId);
  const releases = [...deploymentConfig.runtimeReleases].reverse();
  const form = h(
    "form",
    { id: "create-deployment", className: "card", "aria-labelledby": "create-deployment-title" },
    h("h2", { id: "create-deployment-title" }, "New deployment"),
    h(
      "div",
      { className: "row" },
      field("Label", h("input", { name: "label", required: true, maxLength: 255 })),
      field("Executor", select("executor", deploymentConfig.executors, deploymentConfig.executors[0])),
      usable.length
        ? field("Cluster", select("clusterUuid", usable.map((c) => [c.id, c.name]), usable[0].id))
        : null,
      field(
        "Runtime version",
        select("version", releases.map((r) => [r.version, `${r.version} (Airflow ${r.airflowVersion})`]), deploymentConfig.defaultRuntimeVersion),
      ),
    ),
    field("Description", h("input", { name: "description", maxLength: 4096 })),
    h("button", { type: "submit" }, "Create deployment"),
  );
  return onSubmit(form, async (v) => {
    const data = await ctx.gql(
      `mutation CreateDeployment($ws: Uuid!, $label: String!, $description: String, $executor: ExecutorType, $clusterUuid: Uuid, $version: String) {
        createDeployment(workspaceUuid: $ws, label: $label, description: $description, executor: $executor, clusterUuid: $clusterUuid, version: $version) { id label }
      }`,
      { ws: ws.id, label: v.label, description: v.description || null, executor: v.executor, clusterUuid: v.clusterUuid || null, version: v.version },
    );
    ctx.navigate(`#/workspaces/${ws.id}/deployments`, `Deployment ${data.createDeployment.label} created.`);
  });
}

async function deploymentsTab(ctx, ws) {
  const rows = ws.deployments.map((d) => deploymentRow(ctx, d));
  return h(
    "div",
    {},
    rows.length
      ? h(
          "div",
          { className: "table-wrap" },
          h(
            "table",
            { id: "deployments", className: "responsive" },
            h("caption", { className: "visually-hidden" }, "Deployments"),
            h("thead", {}, h("tr", {}, ["Label", "Release", "Status", "Executor", "Runtime", "Updated"].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, rows),
          ),
        )
      : h("p", { className: "muted", id: "no-deployments" }, "No deployment yet."),
    ws.workspaceCapabilities.canCreateDeployment ? await createDeploymentForm(ctx, ws) : null,
  );
}

function settingsTab(ctx, ws) {
  const caps = ws.workspaceCapabilities;
  const form = h(
    "form",
    { id: "workspace-settings", className: "card", "aria-labelledby": "ws-settings-title" },
    h("h2", { id: "ws-settings-title" }, "Name and description"),
    field("Name", h("input", { name: "label", value: ws.label, required: true, maxLength: 255, disabled: !caps.canUpdateWorkspace })),
    field("Description", h("textarea", { name: "description", value: ws.description, rows: 3, maxLength: 4096, disabled: !caps.canUpdateWorkspace })),
    caps.canUpdateWorkspace ? h("button", { type: "submit" }, "Save") : h("p", { className: "muted" }, "Your role lets you read these settings only."),
  );
  onSubmit(form, async ({ label, description }) => {
    await ctx.gql(
      "mutation UpdateWorkspace($id: Uuid!, $payload: JSON!) { updateWorkspace(workspaceUuid: $id, payload: $payload) { id } }",
      { id: ws.id, payload: { label, description } },
    );
    await ctx.refresh();
    ctx.navigate(`#/workspaces/${ws.id}/settings`, "Workspace saved.");
  });
  return h(
    "div",
    {},
    form,
    caps.canDeleteWorkspace
      ? h(
          "div",
          { className: "card danger-card", id: "delete-workspace" },
          h("h2", {}, "Delete this workspace"),
          h("p", {}, "A workspace can be deleted once it has no deployments."),
          dangerButton("Delete workspace", async () => {
            await ctx.gql("mutation DeleteWorkspace($id: Uuid!) { deleteWorkspace(workspaceUuid: $id) { id } }", { id: ws.id });
            await ctx.refresh();
            ctx.navigate("#/", `Workspace ${ws.label} deleted.`);
          }),
        )
      : null,
  );
}

export async function render(ctx, id, tab) {
  const { workspace: ws } = await ctx.gql(WORKSPACE, { id });
  if (ctx.organizations.some((org) => org.id === ws.organizationId)) ctx.setOrganization(ws.organizationId);
  const caps = ws.workspaceCapabilities;
  let body;
  if (tab === "deployments") body = await deploymentsTab(ctx, ws);
  else if (tab === "users") body = await users.workspaceTab(ctx, ws);
  else if (tab === "keys") body = await keys.panel(ctx, { scope: "workspace", id: ws.id, caps });
  else if (tab === "settings") body = settingsTab(ctx, ws);
  else body = h("p", {}, "There is no such section.");
  return h(
    "section",
    { dataset: { page: `workspace-${tab}`, workspaceId: ws.id, canCreateDeployment: String(caps.canCreateDeployment) } },
    h("p", { className: "crumbs" }, h("a", { href: "#/" }, ctx.organization?.name ?? "Home"), " / "),
    h("h1", {}, ws.label),
    ws.description ? h("p", { className: "muted" }, ws.description) : null,
    tabs(`#/workspaces/${ws.id}`, TABS, tab),
    body,
  );
}
