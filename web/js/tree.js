/**
 * A local copy of a database location, kept current from the streaming protocol's events.
 *
 * The server sends `put` (replace the value at `path`) and `patch` (for each key of `data`,
 * which may itself be a deep path like "resolution/status", replace that child) with `path`
 * relative to the listened URL. Updates are immutable with structural sharing: an untouched
 * subtree keeps its identity, so a view can tell which children changed with `!==`.
 * As in the database, null and {} delete, and a parent left empty disappears.
 */

/** Split "/a/b" or "a/b/" into ["a", "b"]. */
export function segments(path) {
  return String(path || "").split("/").filter(Boolean);
}

/**
 * Apply one stream event to a value.
 *
 * @param {*} root  the current value (null when absent).
 * @param {"put"|"patch"} kind  the event name.
 * @param {{path: string, data: *}} event  the event's JSON.
 * @param {{owned?: boolean}} [options]  owned: `data` is nobody else's (just parsed), so it becomes part of
 *   the new value as it is, rather than copied (a stream may send megabytes at once).
 * @returns {*} the new value (null when absent).
 */
export function applyEvent(root, kind, { path, data }, { owned = false } = {}) {
  const base = segments(path);
  const clean = owned ? prune : normalize;
  if (kind === "put") return setIn(root, base, data, clean);
  if (kind === "patch") {
    let next = root;
    for (const [key, value] of Object.entries(data || {})) next = setIn(next, base.concat(segments(key)), value, clean);
    return next;
  }
  throw new Error(`Invalid event: "${kind}". Expected put or patch.`);
}

/**
 * `next`, where every subtree equal to the one at the same place in `previous` is that one (so identity
 * means "unchanged"), and `previous` itself when the two are equal. One walk of what differs in identity:
 * a subtree that applyEvent left untouched costs one comparison.
 *
 * @param {*} previous  an earlier value (never modified).
 * @param {*} next  a value made by applyEvent from any value (its new nodes are its own, so they are reused).
 * @returns {*}
 */
export function share(previous, next) {
  if (previous === next || !isContainer(next)) return next;
  if (!isContainer(previous) || Array.isArray(previous) !== Array.isArray(next)) return next;
  const keys = Object.keys(next);
  let same = keys.length === Object.keys(previous).length;
  for (const key of keys) {
    const before = own(previous, key);
    const child = share(before, next[key]);
    if (child !== next[key]) define(next, key, child); // a node of next's own, never one of previous's
    if (child !== before) same = false;
  }
  return same ? previous : next;
}

/** Whether two JSON values are equal (objects compared key by key, in any order). */
export function equal(a, b) {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && equal(a[key], b[key]));
}

/**
 * A list from a database value: arrays pass through, objects with numeric keys (what an array
 * becomes after a child is patched) are read in key order; nulls are dropped.
 */
export function asList(value) {
  if (Array.isArray(value)) return value.filter((item) => item !== null && item !== undefined);
  if (value && typeof value === "object") {
    return Object.keys(value).sort((a, b) => Number(a) - Number(b)).map((key) => value[key])
      .filter((item) => item !== null && item !== undefined);
  }
  return [];
}

function setIn(node, path, value, clean) {
  if (path.length === 0) return clean(value);
  const [key, ...rest] = path;
  const base = isContainer(node) ? node : {};
  const current = own(base, key);
  const child = setIn(current, rest, value, clean);
  if (child === current || (child === null && !Object.hasOwn(base, key))) return node;
  // Arrays become plain objects once a child changes: keys stay the database's keys.
  const copy = {};
  for (const name of Object.keys(base)) if (name !== key) define(copy, name, base[name]);
  if (child !== null) define(copy, key, child);
  return Object.keys(copy).length ? copy : null;
}

/** The value of an own property, or undefined (never one inherited from Object.prototype). */
export function own(object, key) {
  return isContainer(object) && Object.hasOwn(object, key) ? object[key] : undefined;
}

// Database keys may be "__proto__" or "constructor": define properties, never assign them.
function define(object, key, value) {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

function normalize(value) {
  if (value === undefined || value === null) return null;
  if (!isContainer(value)) return value;
  const out = Array.isArray(value) ? [] : {};
  let empty = true;
  for (const [key, child] of Object.entries(value)) {
    const kept = normalize(child);
    if (kept !== null) { define(out, key, kept); empty = false; }
  }
  return empty ? null : out;
}

/** normalize() in place, for a value no one else holds: only nulls and what they leave empty go. */
function prune(value) {
  if (value === undefined || value === null) return null;
  if (!isContainer(value)) return value;
  if (Array.isArray(value)) return normalize(value); // keeps an array's length as normalize() makes it
  let empty = true;
  for (const key of Object.keys(value)) {
    const child = value[key];
    const kept = prune(child);
    if (kept === null) delete value[key];
    else {
      if (kept !== child) define(value, key, kept);
      empty = false;
    }
  }
  return empty ? null : value;
}

function isContainer(value) {
  return value !== null && typeof value === "object";
}
