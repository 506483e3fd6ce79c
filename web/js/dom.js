/**
 * Building DOM without HTML strings: every piece of data becomes a text node or an attribute.
 *
 * Nothing in web/ may pass data to innerHTML; h() is how pages build markup instead.
 */

/**
 * Create an element.
 *
 * @param {string} tag  element name, e.g. "li".
 * @param {object} [props]  `class`, `text` (textContent), `dataset`, `on<Event>` listeners,
 *   `hidden`, `value`, `checked`, `disabled`; anything else becomes an attribute (null/false skip it).
 * @param {...(Node|string|number|null|false|Array)} children  strings become text nodes.
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

const PROPERTIES = new Set(["hidden", "value", "checked", "disabled", "open"]);

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children (same rules as h()'s children). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Say something to screen readers through a polite live region (created once per page). */
export function announce(message) {
  let region = document.getElementById("announcer");
  if (!region) {
    region = h("div", { id: "announcer", class: "visually-hidden", "aria-live": "polite", role: "status" });
    document.body.append(region);
  }
  // Clearing first makes a repeated message be announced again.
  region.textContent = "";
  setTimeout(() => { region.textContent = message; }, 50);
}
