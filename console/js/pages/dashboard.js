// The dashboard: the chosen organization's workspaces the caller can see, and creating one (offered when
// the organization's capabilities allow it).

import { field, h, onSubmit } from "../dom.js";

const WORKSPACES = `query Dashboard {
  workspaces { id label description organizationId deployments { id status } }
}`;

function createForm(ctx) {
  const form = h(
    "form",
    { id: "create-workspace", className: "card", "aria-labelledby": "create-workspace-title" },
    h("h2", { id: "create-workspace-title" }, "New workspace"),
    field("Name", h("input", { name: "label", required: true, maxLength: 255 })),
    field("Description", h("textarea", { name: "description", rows: 2, maxLength: 4096 })),
    h("button", { type: "submit" }, "Create workspace"),
  );
  return onSubmit(form, async ({ label, description }) => {
    const data = await ctx.gql(
      `mutation CreateWorkspace($label: String!, $description: String, $org: Uuid) {
        createWorkspace(label: $label, description: $description, organizationUuid: $org) { id }
      }`,
      { label, description: description || null, org: ctx.organization?.id ?? null },
    );
    await ctx.refresh();
    ctx.navigate(`#/workspaces/${data.createWorkspace.id}`);
  });
}

export async function render(ctx, options = {}) {
  const { workspaces } = await ctx.gql(WORKSPACES);
  const mine = workspaces.filter((w) => w.organizationId === ctx.organization?.id);
  const canCreate = ctx.organization?.organizationCapabilities.canCreateWorkspace;
  const cards = mine.map((w) =>
    h(
      "li",
      { className: "card workspace-card", dataset: { workspaceId: w.id } },
      h("h2", {}, h("a", { href: `#/workspaces/${w.id}` }, w.label)),
      w.description ? h("p", {}, w.description) : null,
      h("p", { className: "muted" }, `${w.deployments.length} deployment${w.deployments.length === 1 ? "" : "s"}`),
    ),
  );
  const view = h(
    "section",
    { dataset: { page: "dashboard", creating: String(Boolean(options.creating)) } },
    h("h1", {}, ctx.organization ? ctx.organization.name : "Workspaces"),
    cards.length ? h("ul", { className: "cards" }, cards) : h("p", { className: "muted" }, "You are in no workspace of this organization yet."),
    canCreate ? createForm(ctx) : null,
  );
  if (options.creating && canCreate) queueMicrotask(() => view.querySelector("#create-workspace input")?.focus());
  return view;
}
