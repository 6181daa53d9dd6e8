// Small DOM helpers. Everything from the server goes into the page as text (textContent, attributes set
// as properties), never as markup, so nothing capcom stores can run as script.

/** Builds an element: h("td", {className: "x", dataset: {id: "1"}, onclick: f}, "text", child). */
export function h(tag, properties = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(properties ?? {})) {
    if (value === undefined || value === null) continue;
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("aria-") || key === "role" || key === "for") element.setAttribute(key, value);
    else element[key] = value;
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child);
  }
}

let nextId = 1;

/**
 * A labelled form control: `field("Label", input, {hint})`. The control gets an id the label points to;
 * an API error naming the control's `name` (extensions.field) is shown under it (see `showFieldError`).
 */
export function field(label, control, options = {}) {
  if (!control.id) control.id = `f${nextId++}`;
  const error = h("span", { className: "field-error", id: `${control.id}-error`, role: "status" });
  control.setAttribute("aria-describedby", error.id);
  return h(
    "div",
    { className: "field", dataset: { field: control.name ?? "" } },
    h("label", { for: control.id }, label),
    control,
    options.hint ? h("span", { className: "hint" }, options.hint) : null,
    error,
  );
}

/** A `<select>` of `choices` (strings or [value, text] pairs). */
export function select(name, choices, selected) {
  return h(
    "select",
    { name },
    choices.map((choice) => {
      const [value, text] = Array.isArray(choice) ? choice : [choice, choice];
      return h("option", { value, selected: value === selected }, text);
    }),
  );
}

/** Shows `error` (an ApiError) or a success text in the page's notice area. */
export function notify(what) {
  const notice = document.getElementById("notice");
  notice.hidden = false;
  notice.replaceChildren();
  if (typeof what === "string") {
    notice.className = "notice ok";
    notice.dataset.code = "OK";
    notice.append(what);
  } else {
    notice.className = "notice bad";
    notice.dataset.code = what.code ?? "ERROR";
    notice.append(h("strong", {}, what.message));
    if (what.code === "FORBIDDEN") notice.append(" — your role here does not allow this.");
    if (what.requestId) notice.append(" ", h("span", { className: "request-id" }, `(request ${what.requestId})`));
  }
  notice.append(" ", h("button", { type: "button", className: "link", onclick: clearNotice, "aria-label": "Dismiss" }, "×"));
}

export function clearNotice() {
  const notice = document.getElementById("notice");
  notice.hidden = true;
  notice.replaceChildren();
  delete notice.dataset.code;
}

/** Puts a BAD_USER_INPUT message next to the control its `field` names, if the form has one. */
export function showFieldError(form, error) {
  for (const old of form.querySelectorAll(".field-error")) old.textContent = "";
  for (const old of form.querySelectorAll("[aria-invalid]")) old.removeAttribute("aria-invalid");
  if (!error || !error.field) return false;
  const name = String(error.field).split(".").pop();
  const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!control) return false;
  control.setAttribute("aria-invalid", "true");
  document.getElementById(`${control.id}-error`).textContent = error.message;
  return true;
}

/**
 * Handles a form's submit: `action(values)` runs with the form's named values; while it runs the submit
 * button is disabled; an error is shown next to its field and in the notice area.
 */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector("[type=submit]");
    if (submit) submit.disabled = true;
    showFieldError(form, null);
    try {
      await action(values(form));
    } catch (error) {
      showFieldError(form, error);
      notify(error);
    } finally {
      if (submit && submit.isConnected) submit.disabled = false;
    }
  });
  return form;
}

/** The named values of a form: checkboxes as booleans, the rest as trimmed text. */
export function values(form) {
  const result = {};
  for (const control of form.elements) {
    if (!control.name) continue;
    result[control.name] = control.type === "checkbox" ? control.checked : control.value.trim();
  }
  return result;
}

/**
 * A button that asks once more before doing something that cannot be undone: the first press shows
 * "Confirm"/"Cancel" next to it.
 */
export function dangerButton(text, action, properties = {}) {
  const wrapper = h("span", { className: "danger-zone" });
  const first = h("button", { type: "button", className: "danger", ...properties }, text);
  const confirm = h("button", { type: "button", className: "danger confirm", hidden: true }, `Yes, ${text.toLowerCase()}`);
  const cancel = h("button", { type: "button", className: "secondary cancel", hidden: true }, "Cancel");
  const toggle = (asking) => {
    first.hidden = asking;
    confirm.hidden = !asking;
    cancel.hidden = !asking;
    (asking ? cancel : first).focus();
  };
  first.onclick = () => toggle(true);
  cancel.onclick = () => toggle(false);
  confirm.onclick = async () => {
    confirm.disabled = true;
    try {
      await action();
    } catch (error) {
      notify(error);
    } finally {
      confirm.disabled = false;
      if (wrapper.isConnected) toggle(false);
    }
  };
  wrapper.append(first, confirm, cancel);
  return wrapper;
}

/** A date for people: local date and time, or "never". */
export function when(value, never = "never") {
  if (!value) return never;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

/** "WORKSPACE_ADMIN" → "Workspace admin". */
export function roleName(role) {
  if (!role) return "";
  const text = role.toLowerCase().replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
