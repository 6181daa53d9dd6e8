// Signed out: sign in by password or through an identity provider; sign up (first user, public sign-up,
// or from an invite mail's link `/invite?token=…`); accept an invite with an existing account.

import { gql, session } from "../api.js";
import { field, h, notify, onSubmit } from "../dom.js";

const AUTH_USER = "user { id username } token { value }";

function passwordForm(ctx, inviteToken) {
  const form = h(
    "form",
    { id: "sign-in", className: "card narrow", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, inviteToken ? "Sign in to accept the invite" : "Sign in"),
    field("Email or username", h("input", { id: "identity", name: "identity", autocomplete: "username", required: true })),
    field("Password", h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit", id: "sign-in-button" }, "Sign in"),
    " ",
    h("a", { href: "#/forgot-password", id: "forgot-link" }, "Forgot your password?"),
  );
  return onSubmit(form, async ({ identity, password }) => {
    const data = await gql(
      `mutation SignIn($identity: String, $password: String!) { createToken(identity: $identity, password: $password) { ${AUTH_USER} } }`,
      { identity, password },
    );
    session.token = data.createToken.token.value;
    if (inviteToken) await accept(inviteToken);
    await ctx.signedIn(data.createToken.token.value);
  });
}

async function accept(token) {
  await gql("mutation Accept($token: String!) { acceptInvite(token: $token) { id } }", { token });
}

function signUpForm(ctx, inviteToken, title) {
  const form = h(
    "form",
    { id: "sign-up", className: "card narrow", "aria-labelledby": "sign-up-title" },
    h("h1", { id: "sign-up-title" }, title),
    inviteToken
      ? h("p", { className: "muted" }, "Use the address the invite was sent to.")
      : null,
    field("Email", h("input", { id: "signup-email", name: "email", type: "email", autocomplete: "email", required: true })),
    field("Username (optional)", h("input", { id: "signup-username", name: "username", autocomplete: "username" })),
    field(
      "Password",
      h("input", { id: "signup-password", name: "password", type: "password", autocomplete: "new-password", required: true, minLength: 8 }),
      { hint: "At least 8 characters." },
    ),
    h("button", { type: "submit", id: "sign-up-button" }, "Create account"),
  );
  return onSubmit(form, async ({ email, username, password }) => {
    const data = await gql(
      `mutation SignUp($email: String!, $password: String!, $username: String, $inviteToken: String) {
        createUser(email: $email, password: $password, username: $username, inviteToken: $inviteToken) { ${AUTH_USER} }
      }`,
      { email, password, username: username || null, inviteToken: inviteToken || null },
    );
    await ctx.signedIn(data.createUser.token.value);
  });
}

/** The sign-in view: which forms show depends on `authConfig` and on the address (an invite link). */
export function render(ctx) {
  const inviteToken = location.pathname === "/invite" ? new URLSearchParams(location.search).get("token") : null;
  const view = h("div", { className: "signed-out", dataset: { page: "sign-in" } });
  const providers = h("div", { id: "providers", className: "providers" });

  if (inviteToken) {
    view.append(
      h("p", { className: "lead" }, "You were invited to capcom. Create your account, or sign in if you already have one."),
      h("div", { className: "columns" }, signUpForm(ctx, inviteToken, "Create your account"), passwordForm(ctx, inviteToken)),
    );
    if (session.token) {
      // Already signed in in this tab: accept with that account.
      const button = h("button", { type: "button", id: "accept-invite" }, "Accept with the account signed in here");
      button.onclick = async () => {
        try {
          await accept(inviteToken);
          await ctx.signedIn(session.token);
        } catch (error) {
          notify(error);
        }
      };
      view.prepend(button);
    }
  } else {
    view.append(h("div", { className: "columns" }, h("div", {}, passwordForm(ctx, null), providers)));
  }

  gql("query Auth { authConfig { publicSignup initialSignup providers { name displayName url } } }")
    .then(({ authConfig }) => {
      // An identity provider sends the person back to this console with a one-time `signInCode`.
      const back = encodeURIComponent(`${location.origin}/console/`);
      for (const provider of authConfig.providers) {
        providers.append(
          h("a", { className: "button secondary provider", href: `${provider.url}&redirect=${back}`, dataset: { provider: provider.name } }, `Sign in with ${provider.displayName}`),
        );
      }
      if (!inviteToken && (authConfig.publicSignup || authConfig.initialSignup)) {
        const title = authConfig.initialSignup ? "Create the first account (system admin)" : "Create an account";
        view.querySelector(".columns").append(signUpForm(ctx, null, title));
      }
      view.dataset.authLoaded = "true";
    })
    .catch(notify);
  return view;
}
