// Passwords: "forgot your password?" (`requestPasswordReset`), the page a reset mail links to
// (`/console/#/reset-password?token=…`, `resetPassword`), and the signed-in person's password change
// (`changePassword`). Accounts an organization's identity provider or SCIM client manages have no capcom
// password: capcom says so, and the console shows its message.

import { gql, session } from "../api.js";
import { field, h, onSubmit } from "../dom.js";

/** The token of a reset link: the hash is `#/reset-password?token=…` (it never reaches a server). */
export function resetToken() {
  const query = location.hash.split("?")[1] ?? "";
  return new URLSearchParams(query).get("token");
}

/** A password and its repetition; a mismatch is refused here, before capcom is asked. */
function newPasswordFields(name, label) {
  return [
    field(label, h("input", { name, type: "password", autocomplete: "new-password", required: true, minLength: 8, maxLength: 1024 }), {
      hint: "At least 8 characters.",
    }),
    field("Repeat it", h("input", { name: "repeat", type: "password", autocomplete: "new-password", required: true })),
  ];
}

function sameTwice(first, repeat) {
  if (first !== repeat) {
    throw { message: "The two passwords differ", code: "BAD_USER_INPUT", field: "repeat" };
  }
}

/** Signed out: asks for a reset link. The answer is the same whether or not the address has an account. */
export function forgotView(ctx) {
  const form = onSubmit(
    h(
      "form",
      { id: "forgot-password", className: "card narrow", "aria-labelledby": "forgot-title" },
      h("h1", { id: "forgot-title" }, "Reset your password"),
      h("p", { className: "muted" }, "capcom mails a link to set a new password, valid for one hour."),
      field("Email address of your account", h("input", { name: "email", type: "email", autocomplete: "email", required: true, maxLength: 320 })),
      h("button", { type: "submit" }, "Mail me a link"),
      " ",
      h("a", { href: "#/" }, "Back to sign in"),
    ),
    async ({ email }) => {
      await gql("mutation Forgot($email: String!) { requestPasswordReset(email: $email) }", { email });
      const sent = `If ${email} belongs to an account here, a link to reset its password is on its way.`;
      // A tab that is signed in stays so: asking for a link changes nothing yet.
      if (session.token) ctx.navigate("#/", sent);
      else ctx.signOut(sent);
    },
  );
  return h("div", { className: "signed-out", dataset: { page: "forgot-password" } }, form);
}

/** The page a reset mail links to: sets a new password with the link's token, then asks to sign in. */
export function resetView(ctx) {
  const token = resetToken();
  if (!token) {
    return h(
      "div",
      { className: "signed-out", dataset: { page: "reset-password" } },
      h("p", { id: "no-token" }, "This address holds no reset token. ", h("a", { href: "#/forgot-password" }, "Ask for a new link.")),
    );
  }
  const form = onSubmit(
    h(
      "form",
      { id: "reset-password", className: "card narrow", "aria-labelledby": "reset-title" },
      h("h1", { id: "reset-title" }, "Choose a new password"),
      ...newPasswordFields("password", "New password"),
      h("button", { type: "submit", id: "reset-button" }, "Set the password"),
    ),
    async ({ password, repeat }) => {
      sameTwice(password, repeat);
      await gql("mutation Reset($token: String!, $password: String!) { resetPassword(token: $token, password: $password) }", { token, password });
      // Every token of the account stopped working, this tab's too if it was that account's.
      ctx.signOut("Your password is set: sign in with it.");
    },
  );
  return h(
    "div",
    { className: "signed-out", dataset: { page: "reset-password" } },
    form,
    h("p", {}, h("a", { href: "#/forgot-password" }, "Ask for a new link"), " (a link works once, for an hour)."),
  );
}

/** The signed-in person's password change; a fresh token replaces the one this tab held. */
export function changeForm(ctx) {
  return onSubmit(
    h(
      "form",
      { id: "change-password", className: "card narrow", "aria-labelledby": "change-password-title" },
      h("h2", { id: "change-password-title" }, "Password"),
      field("Current password", h("input", { name: "currentPassword", type: "password", autocomplete: "current-password", required: true })),
      ...newPasswordFields("newPassword", "New password"),
      h("p", { className: "muted" }, "Every other session of this account, the CLI's included, is signed out."),
      h("button", { type: "submit" }, "Change password"),
    ),
    async ({ currentPassword, newPassword, repeat }) => {
      sameTwice(newPassword, repeat);
      const data = await ctx.gql(
        "mutation ChangePassword($current: String!, $new: String!) { changePassword(currentPassword: $current, newPassword: $new) { token { value } } }",
        { current: currentPassword, new: newPassword },
      );
      ctx.replaceToken(data.changePassword.token.value);
      ctx.navigate("#/account", "Password changed; your other sessions are signed out.");
    },
  );
}
