// A deployment: overview (names, versions, deploy tags, Airflow URLs, live status), settings (the API's
// validation messages next to the fields) and deleting it, versions (request a runtime or Airflow
// upgrade from the catalogue, cancel a runtime upgrade), environment variables (secret values never
// shown, kept when left empty), Access (deployment roles) and API keys. What is offered comes from
// `deploymentCapabilities`.

import { dangerButton, field, h, notify, onSubmit, roleName, select, when } from "../dom.js";
import { tabs } from "./workspace.js";
import { rolesOf } from "./users.js";
import * as keys from "./keys.js";

const DEPLOYMENT = `query Deployment($id: String!) {
  deployment(where: { id: $id }) {
    id label description releaseName namespace version airflowVersion runtimeVersion runtimeAirflowVersion
    desiredRuntimeVersion desiredAirflowVersion executor schedulerSize schedulerReplicas workerMin workerMax workerConcurrency
    highAvailability enforceCicd dagDeployEnabled status clusterId airflowRole createdAt updatedAt
    urls { type url }
    deployInfo { current nextCli }
    workspace { id label organizationId }
    deploymentCapabilities {
      canUpdateDeployment canDeleteDeployment canDeploy canUpdateIAM canCreateServiceAccount
      canUpdateServiceAccount canDeleteServiceAccount canViewUsers canReadVariables canUseAirflowAdmin
    }
  }
}`;

const STATUS = `subscription Status($id: Uuid) { deploymentStatus(deploymentUuid: $id) { id status updatedAt } }`;

const TABS = [
  ["overview", "Overview"],
  ["settings", "Settings"],
  ["versions", "Versions"],
  ["variables", "Variables"],
  ["access", "Access"],
  ["keys", "API keys"],
];

function facts(pairs) {
  return h("dl", { className: "facts" }, pairs.filter(([, v]) => v !== null && v !== undefined).flatMap(([k, v, id]) => [h("dt", {}, k), h("dd", { id }, v)]));
}

function overview(ctx, d) {
  const status = h("span", { id: "deployment-status", className: "status", dataset: { status: d.status } }, d.status);
  ctx.subscribe(STATUS, { id: d.id }, {
    next(payload) {
      const now = payload.data?.deploymentStatus;
      if (!now) return;
      status.textContent = now.status;
      status.dataset.status = now.status;
      status.dataset.live = "true";
    },
    error() {
      status.dataset.live = "false";
    },
  });
  const link = (type) => {
    const url = d.urls.find((u) => u.type === type)?.url;
    return url ? h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, url) : null;
  };
  return h(
    "div",
    { className: "columns" },
    h(
      "div",
      { className: "card" },
      h("h2", {}, "Deployment"),
      facts([
        ["Status", status],
        ["Release name", h("code", {}, d.releaseName), "release-name"],
        ["Namespace", h("code", {}, d.namespace), "namespace"],
        ["Executor", d.executor ?? ""],
        ["Runtime version", d.runtimeVersion ?? "", "runtime-version"],
        ["Airflow version", d.runtimeAirflowVersion || d.airflowVersion],
        d.desiredRuntimeVersion ? ["Upgrade requested", d.desiredRuntimeVersion] : [null, null],
        ["Platform version", d.version],
        ["Created", when(d.createdAt)],
        ["Your Airflow role", d.airflowRole ?? "none"],
      ]),
    ),
    h(
      "div",
      { className: "card" },
      h("h2", {}, "Deploys"),
      facts([
        ["Current image", h("code", {}, d.deployInfo.current ?? "none yet"), "current-image"],
        ["Next deploy tag", h("code", {}, d.deployInfo.nextCli), "next-tag"],
        ["Airflow", link("airflow") ?? "—", "airflow-url"],
        ["Flower", link("flower") ?? "—", "flower-url"],
      ]),
      h("p", { className: "muted" }, `Deploy with: astro deploy ${d.releaseName}`),
    ),
  );
}

async function settings(ctx, d) {
  const caps = d.deploymentCapabilities;
  const { deploymentConfig: config } = await ctx.gql("query Config { deploymentConfig { executors schedulerSizes workerMax workerConcurrency } }");
  const off = !caps.canUpdateDeployment;
  const number = (name, value, min, max) => h("input", { name, type: "number", value: String(value), min, max, disabled: off });
  const check = (name, label, value) => h("div", { className: "field check" }, h("label", { for: `s-${name}` }, label), h("input", { id: `s-${name}`, name, type: "checkbox", checked: value, disabled: off }));
  const form = h(
    "form",
    { id: "deployment-settings", className: "card", noValidate: true, "aria-labelledby": "settings-title" },
    h("h2", { id: "settings-title" }, "Settings"),
    h(
      "div",
      { className: "row" },
      field("Label", h("input", { name: "label", value: d.label, required: true, disabled: off })),
      field("Description", h("input", { name: "description", value: d.description, disabled: off })),
    ),
    h(
      "div",
      { className: "row" },
      field("Executor", Object.assign(select("executor", config.executors, d.executor), { disabled: off })),
      field("Scheduler size", Object.assign(select("schedulerSize", config.schedulerSizes, d.schedulerSize), { disabled: off })),
      field("Scheduler replicas", number("schedulerReplicas", d.schedulerReplicas, 1, 4)),
    ),
    h(
      "div",
      { className: "row" },
      field("Workers (minimum)", number("workerMin", d.workerMin, 0, config.workerMax)),
      field("Workers (maximum)", number("workerMax", d.workerMax, 0, config.workerMax), { hint: `At most ${config.workerMax}.` }),
      field("Tasks per worker", number("workerConcurrency", d.workerConcurrency, config.workerConcurrency[0], config.workerConcurrency[1])),
    ),
    check("highAvailability", "High availability", d.highAvailability),
    check("enforceCicd", "Only API keys may deploy (CI/CD)", d.enforceCicd),
    check("dagDeployEnabled", "DAG-only deploys", d.dagDeployEnabled),
    caps.canUpdateDeployment ? h("button", { type: "submit" }, "Save settings") : h("p", { className: "muted" }, "Your role lets you read these settings only."),
  );
  onSubmit(form, async (v) => {
    const int = (text) => (text === "" ? null : Number(text));
    await ctx.gql(
      `mutation UpdateDeployment($id: Uuid!, $payload: JSON, $settings: DeploymentSettingsInput) {
        updateDeployment(deploymentUuid: $id, payload: $payload, settings: $settings) { id }
      }`,
      {
        id: d.id,
        payload: { label: v.label, description: v.description },
        settings: {
          executor: v.executor,
          schedulerSize: v.schedulerSize,
          schedulerReplicas: int(v.schedulerReplicas),
          workerMin: int(v.workerMin),
          workerMax: int(v.workerMax),
          workerConcurrency: int(v.workerConcurrency),
          highAvailability: v.highAvailability,
          enforceCicd: v.enforceCicd,
          dagDeployEnabled: v.dagDeployEnabled,
        },
      },
    );
    ctx.navigate(`#/deployments/${d.id}/settings`, "Settings saved.");
  });
  const danger = caps.canDeleteDeployment
    ? h(
        "div",
        { className: "card danger-card", id: "delete-deployment" },
        h("h2", {}, "Delete this deployment"),
        h("p", {}, "It disappears from lists at once; its release name is never reused."),
        dangerButton("Delete deployment", async () => {
          await ctx.gql("mutation DeleteDeployment($id: Uuid!) { deleteDeployment(deploymentUuid: $id) { id } }", { id: d.id });
          ctx.navigate(`#/workspaces/${d.workspace?.id ?? ""}/deployments`, `Deployment ${d.label} deleted.`);
        }),
      )
    : null;
  return h("div", {}, form, danger);
}

/**
 * Runtime and Airflow versions: what runs, what was requested, and (for `canUpdateDeployment`) a request
 * for a later version of the catalogue (`updateDeploymentRuntime`, `updateDeploymentAirflow`) or the
 * withdrawal of a runtime request (`cancelRuntimeUpdate`). capcom decides what "later" means and says
 * so next to the field when a choice is refused.
 */
async function versions(ctx, d) {
  const caps = d.deploymentCapabilities;
  const { deploymentConfig: config } = await ctx.gql("query Catalogue { deploymentConfig { runtimeReleases { version airflowVersion airflowDatabaseMigrations } } }");
  const releases = config.runtimeReleases;
  const back = `#/deployments/${d.id}/versions`;
  // The catalogue is oldest first: offer what comes after the running version.
  const runtimeAt = releases.findIndex((r) => r.version === d.runtimeVersion);
  const laterRuntimes = releases.slice(runtimeAt + 1).filter((r) => r.version !== d.desiredRuntimeVersion);
  const airflow = d.runtimeAirflowVersion || d.airflowVersion;
  const airflows = [...new Set(releases.map((r) => r.airflowVersion))];
  const laterAirflows = airflows.slice(airflows.indexOf(airflow) + 1).filter((v) => v !== d.desiredAirflowVersion);

  let runtimeForm = null;
  if (caps.canUpdateDeployment && laterRuntimes.length) {
    const choices = laterRuntimes.map((r) => [r.version, `${r.version} (Airflow ${r.airflowVersion}${r.airflowDatabaseMigrations ? ", migrates the database" : ""})`]);
    runtimeForm = onSubmit(
      h(
        "form",
        { id: "runtime-upgrade", className: "row" },
        field("Upgrade the runtime to", select("desiredRuntimeVersion", choices, laterRuntimes[0].version)),
        h("div", { className: "field" }, h("button", { type: "submit" }, "Request upgrade")),
      ),
      async ({ desiredRuntimeVersion }) => {
        await ctx.gql(
          "mutation Upgrade($id: Uuid!, $v: String!) { updateDeploymentRuntime(deploymentUuid: $id, desiredRuntimeVersion: $v) { id } }",
          { id: d.id, v: desiredRuntimeVersion },
        );
        ctx.navigate(back, `Runtime ${desiredRuntimeVersion} requested.`);
      },
    );
  }
  const cancel =
    caps.canUpdateDeployment && d.desiredRuntimeVersion
      ? h(
          "span",
          { id: "cancel-runtime-upgrade" },
          dangerButton("Cancel the upgrade", async () => {
            await ctx.gql("mutation Cancel($id: Uuid!) { cancelRuntimeUpdate(deploymentUuid: $id) { id } }", { id: d.id });
            ctx.navigate(back, "The runtime upgrade was withdrawn.");
          }, { className: "danger small" }),
        )
      : null;

  let airflowForm = null;
  if (caps.canUpdateDeployment && laterAirflows.length) {
    airflowForm = onSubmit(
      h(
        "form",
        { id: "airflow-upgrade", className: "row" },
        field("Upgrade Airflow to", select("desiredAirflowVersion", laterAirflows, laterAirflows[0])),
        h("div", { className: "field" }, h("button", { type: "submit" }, "Request upgrade")),
      ),
      async ({ desiredAirflowVersion }) => {
        await ctx.gql(
          "mutation UpgradeAirflow($id: Uuid!, $v: String!) { updateDeploymentAirflow(deploymentUuid: $id, desiredAirflowVersion: $v) { id } }",
          { id: d.id, v: desiredAirflowVersion },
        );
        ctx.navigate(back, `Airflow ${desiredAirflowVersion} requested.`);
      },
    );
  }
  const latest = (what) => h("p", { className: "muted" }, `No later ${what} in the catalogue.`);
  return h(
    "div",
    { id: "versions", className: "columns", dataset: { desiredRuntime: d.desiredRuntimeVersion ?? "", desiredAirflow: d.desiredAirflowVersion ?? "" } },
    h(
      "div",
      { className: "card" },
      h("h2", {}, "Runtime"),
      facts([
        ["Running", d.runtimeVersion ?? "—", "running-runtime"],
        ["Requested", d.desiredRuntimeVersion ? h("span", {}, d.desiredRuntimeVersion, " ", cancel) : "no upgrade requested", "requested-runtime"],
      ]),
      caps.canUpdateDeployment ? (runtimeForm ?? latest("runtime")) : null,
    ),
    h(
      "div",
      { className: "card" },
      h("h2", {}, "Airflow"),
      facts([
        ["Running", airflow, "running-airflow"],
        ["Requested", d.desiredAirflowVersion ?? "no upgrade requested", "requested-airflow"],
      ]),
      caps.canUpdateDeployment ? (airflowForm ?? latest("Airflow version")) : null,
    ),
    caps.canUpdateDeployment ? null : h("p", { className: "muted", id: "versions-read-only" }, "Your role lets you read the versions only."),
  );
}

function variableRow(variable, editable) {
  const secret = variable.isSecret;
  const key = h("input", { name: "key", value: variable.key, disabled: !editable, "aria-label": "Key", className: "var-key" });
  const value = h("input", {
    name: "value",
    type: secret ? "password" : "text",
    value: secret ? "" : variable.value,
    placeholder: secret && variable.stored ? "secret: leave empty to keep" : "",
    disabled: !editable,
    "aria-label": `Value of ${variable.key || "new variable"}`,
    className: "var-value",
    autocomplete: "off",
  });
  const isSecret = h("input", { type: "checkbox", name: "isSecret", checked: secret, disabled: !editable, "aria-label": `${variable.key || "New variable"} is secret` });
  isSecret.onchange = () => {
    value.type = isSecret.checked ? "password" : "text";
  };
  const row = h(
    "tr",
    { className: "variable", dataset: { key: variable.key } },
    h("td", {}, key),
    h("td", {}, value),
    h("td", {}, isSecret),
    editable ? h("td", {}, h("button", { type: "button", className: "secondary small", onclick: () => row.remove() }, "Remove")) : null,
  );
  return row;
}

async function variables(ctx, d) {
  const caps = d.deploymentCapabilities;
  if (!caps.canReadVariables) return h("p", { id: "variables-hidden" }, "Your role does not show this deployment's variables.");
  const { deploymentVariables } = await ctx.gql("query Variables($id: Uuid) { deploymentVariables(deploymentUuid: $id) { key value isSecret } }", { id: d.id });
  const editable = caps.canUpdateDeployment;
  const body = h("tbody", {}, deploymentVariables.map((v) => variableRow({ ...v, stored: true }, editable)));
  const form = h(
    "form",
    { id: "variables-form", className: "card", noValidate: true },
    h("h2", {}, "Environment variables"),
    h("p", { className: "muted" }, "Secret values are never shown; leave a secret empty to keep its value."),
    h(
      "div",
      { className: "table-wrap" },
      h("table", { id: "variables" }, h("thead", {}, h("tr", {}, ["Key", "Value", "Secret", editable ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))), body),
    ),
    editable
      ? h(
          "p",
          {},
          h("button", { type: "button", id: "add-variable", className: "secondary", onclick: () => body.append(variableRow({ key: "", value: "", isSecret: false }, true)) }, "Add variable"),
          " ",
          h("button", { type: "submit" }, "Save variables"),
        )
      : null,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const list = [...body.querySelectorAll("tr.variable")].map((row) => ({
      key: row.querySelector(".var-key").value.trim(),
      value: row.querySelector(".var-value").value,
      isSecret: row.querySelector("[name=isSecret]").checked,
    }));
    try {
      await ctx.gql(
        "mutation SaveVariables($id: Uuid!, $vars: [InputEnvironmentVariable!]!) { updateDeploymentVariables(deploymentUuid: $id, environmentVariables: $vars) { key } }",
        { id: d.id, vars: list },
      );
      ctx.navigate(`#/deployments/${d.id}/variables`, "Variables saved.");
    } catch (error) {
      notify(error);
    }
  });
  return form;
}

async function access(ctx, d) {
  const caps = d.deploymentCapabilities;
  if (!caps.canViewUsers) return h("p", { id: "access-hidden" }, "Your role does not show who has access to this deployment.");
  const { roles, deploymentUsers } = await ctx.gql(
    `query Access($id: Id!) {
      roles { role scope }
      deploymentUsers(deploymentId: $id) { id username emails { address primary } roleBindings { role scope deployment { id } } }
    }`,
    { id: d.id },
  );
  const deploymentRoles = rolesOf(roles, "DEPLOYMENT");
  const emailOf = (u) => u.emails.find((e) => e.primary)?.address ?? u.emails[0]?.address ?? u.username;
  const rows = deploymentUsers.map((user) => {
    const binding = user.roleBindings.find((b) => b.scope === "DEPLOYMENT" && b.deployment?.id === d.id);
    const email = emailOf(user);
    return h(
      "tr",
      { dataset: { userId: user.id, email, role: binding?.role ?? "" } },
      h("td", {}, email),
      h("td", {}, roleName(binding?.role)),
      caps.canUpdateIAM
        ? h(
            "td",
            { className: "actions" },
            dangerButton("Remove role", async () => {
              await ctx.gql("mutation RemoveRole($email: String!, $id: Id!) { deploymentRemoveUserRole(email: $email, deploymentId: $id) { id } }", { email, id: d.id });
              ctx.navigate(`#/deployments/${d.id}/access`, `${email} no longer holds a role on ${d.label}.`);
            }, { className: "danger small remove" }),
          )
        : null,
    );
  });
  let form = null;
  if (caps.canUpdateIAM) {
    form = onSubmit(
      h(
        "form",
        { id: "set-deployment-role", className: "card" },
        h("h2", {}, "Give someone a role here"),
        h("p", { className: "muted" }, "They must already be a member of the workspace."),
        h(
          "div",
          { className: "row" },
          field("Email address", h("input", { name: "email", type: "email", required: true })),
          field("Role", select("role", deploymentRoles.map((r) => [r, roleName(r)]), "DEPLOYMENT_VIEWER")),
        ),
        h("button", { type: "submit" }, "Set role"),
      ),
      async ({ email, role }) => {
        const holder = deploymentUsers.some((u) => u.emails.some((e) => e.address.toLowerCase() === email.toLowerCase()));
        const mutation = holder
          ? "mutation SetRole($email: String!, $id: Id!, $role: Role!) { deploymentUpdateUserRole(email: $email, deploymentId: $id, role: $role) { id } }"
          : "mutation SetRole($email: String!, $id: Id!, $role: Role!) { deploymentAddUserRole(email: $email, deploymentId: $id, role: $role) { id } }";
        await ctx.gql(mutation, { email, id: d.id, role });
        ctx.navigate(`#/deployments/${d.id}/access`, `${email} is now ${roleName(role)} of ${d.label}.`);
      },
    );
  }
  return h(
    "div",
    {},
    h(
      "div",
      { className: "card" },
      h("h2", {}, "People with a role on this deployment"),
      h("p", { className: "muted" }, "Workspace roles also apply to every deployment of the workspace."),
      rows.length
        ? h("table", { id: "deployment-users" }, h("thead", {}, h("tr", {}, ["Person", "Role", caps.canUpdateIAM ? "" : null].filter((t) => t !== null).map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows))
        : h("p", { className: "muted" }, "Nobody holds a role on this deployment directly."),
    ),
    form,
  );
}

export async function render(ctx, id, tab) {
  const { deployment: d } = await ctx.gql(DEPLOYMENT, { id });
  if (d.workspace && ctx.organizations.some((org) => org.id === d.workspace.organizationId)) ctx.setOrganization(d.workspace.organizationId);
  const caps = d.deploymentCapabilities;
  let body;
  if (tab === "overview") body = overview(ctx, d);
  else if (tab === "settings") body = await settings(ctx, d);
  else if (tab === "versions") body = await versions(ctx, d);
  else if (tab === "variables") body = await variables(ctx, d);
  else if (tab === "access") body = await access(ctx, d);
  else if (tab === "keys") body = await keys.panel(ctx, { scope: "deployment", id: d.id, caps });
  else body = h("p", {}, "There is no such section.");
  return h(
    "section",
    { dataset: { page: `deployment-${tab}`, deploymentId: d.id, canUpdate: String(caps.canUpdateDeployment) } },
    h(
      "p",
      { className: "crumbs" },
      h("a", { href: "#/" }, ctx.organization?.name ?? "Home"),
      " / ",
      d.workspace ? h("a", { href: `#/workspaces/${d.workspace.id}` }, d.workspace.label) : null,
    ),
    h("h1", {}, d.label),
    d.description ? h("p", { className: "muted" }, d.description) : null,
    tabs(`#/deployments/${d.id}`, TABS, tab),
    body,
  );
}
