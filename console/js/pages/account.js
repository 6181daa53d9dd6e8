// The caller's own account: name and username (`updateSelf`), password (`changePassword`), addresses,
// and the roles it holds.

import { field, h, onSubmit, roleName } from "../dom.js";
import { changeForm } from "./password.js";

export async function render(ctx) {
  const { self } = await ctx.gql(`query Account {
    self { id username fullName emails { address verified primary } roleBindings { role scope } }
  }`);
  const form = onSubmit(
    h(
      "form",
      { id: "profile", className: "card narrow" },
      h("h2", {}, "Profile"),
      field("Full name", h("input", { name: "fullName", value: self.fullName ?? "", autocomplete: "name", maxLength: 255 })),
      field("Username", h("input", { name: "username", value: self.username, autocomplete: "username", maxLength: 255 })),
      h("button", { type: "submit" }, "Save"),
    ),
    async ({ fullName, username }) => {
      await ctx.gql("mutation UpdateSelf($payload: JSON!) { updateSelf(payload: $payload) { id } }", { payload: { fullName, username } });
      await ctx.refresh();
      ctx.navigate("#/account", "Profile saved.");
    },
  );
  const system = self.roleBindings.filter((b) => b.scope === "SYSTEM").map((b) => roleName(b.role));
  return h(
    "section",
    { dataset: { page: "account" } },
    h("h1", {}, "Your account"),
    h(
      "div",
      { className: "columns" },
      h("div", {}, form, changeForm(ctx)),
      h(
        "div",
        { className: "card" },
        h("h2", {}, "Addresses"),
        h("ul", {}, self.emails.map((e) => h("li", {}, e.address, e.verified ? " (verified)" : " (not verified)"))),
        system.length ? h("p", {}, `System roles: ${system.join(", ")}`) : null,
        h("p", { className: "muted" }, "“Sign out everywhere” at the top ends every session of this account, the CLI's included."),
      ),
    ),
  );
}
