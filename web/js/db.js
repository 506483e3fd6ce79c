/**
 * The one door to the Realtime Database: configuration, URLs, REST writes, live streams.
 *
 * Where the database is: pages read /__/firebase/init.json, which Firebase Hosting serves in
 * production and the emulator's hosting serves locally, so the same files work in both.
 * Who is asking: connect() starts Firebase Auth (auth.js) with the same configuration, and every
 * REST and EventSource URL built by dbUrl() carries the signed-in user's ID token as `?auth=`.
 * Streams reconnect with each renewed token; REST calls renew it first when it is about to expire.
 */

import { idToken, onTokenChange, signedIn, startAuth } from "./auth.js";
import { applyEvent, segments, share } from "./tree.js";

const CONFIG_URL = "/__/firebase/init.json";
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30000;

/** A database request that failed: `kind` is "refused" (the database said no) or "unreachable". */
export class DbError extends Error {
  constructor(kind, message, status = null) {
    super(message);
    this.name = "DbError";
    this.kind = kind;
    this.status = status;
  }
}

let session = null;

/**
 * Load the configuration and start signing in; call once per page before anything else here.
 *
 * Customers are signed in anonymously (a failure is reported again by the first write); an agent's
 * earlier session in this browser is restored, otherwise the page asks them to sign in (auth.js).
 *
 * @param {{role?: "customer"|"agent"}} [options]
 * @returns {Promise<{projectId: string, databaseURL: string, apiKey: string, authEmulatorUrl?: string}>}
 * @throws {DbError} when the configuration cannot be loaded or is invalid.
 */
export async function connect({ role = "customer" } = {}) {
  let config;
  try {
    const response = await fetch(CONFIG_URL, { cache: "no-cache" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    config = await response.json();
  } catch (error) {
    throw new DbError("unreachable",
      `Could not load the site configuration from ${CONFIG_URL} (${error.message}). Reload the page to try again.`);
  }
  if (typeof config?.databaseURL !== "string" || !isUrl(config.databaseURL)) {
    throw new DbError("refused", `Invalid site configuration: databaseURL is "${config?.databaseURL}". ` +
      "It must be the database's URL, e.g. https://<project>-default-rtdb.firebaseio.com.");
  }
  if (typeof config.apiKey !== "string" || !config.apiKey) {
    throw new DbError("refused", `Invalid site configuration: apiKey is "${config.apiKey}". ` +
      "It must be the project's Web API key (Firebase console, Project settings).");
  }
  const emulator = config.authEmulatorUrl;
  if (emulator !== undefined && (typeof emulator !== "string" || !isUrl(emulator))) {
    throw new DbError("refused", `Invalid site configuration: authEmulatorUrl is "${config.authEmulatorUrl}". ` +
      "It must be the Auth emulator's URL, e.g. http://127.0.0.1:9000, or absent in production.");
  }
  session = { config };
  await startAuth(config, role);
  return config;
}

/**
 * The URL of a database location, with the namespace and the session's auth token.
 *
 * @param {string} path  e.g. "tickets" or "tickets/-Nabc"; "" is the root.
 * @param {Object<string, string>} [params]  extra query parameters.
 */
export function dbUrl(path, params = {}) {
  const { config } = requireSession();
  const base = new URL(config.databaseURL);
  const clean = String(path).split("/").filter(Boolean).map(encodeURIComponent).join("/");
  const url = new URL(`/${clean}.json`, base.origin);
  for (const [key, value] of base.searchParams) url.searchParams.set(key, value);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  const token = idToken();
  if (token) url.searchParams.set("auth", token);
  return url.toString();
}

/** The database's origin, for messages. */
export function dbOrigin() {
  return new URL(requireSession().config.databaseURL).origin;
}

/**
 * Create the value at `path` (whose key the caller made, e.g. a push id), safe to send again.
 *
 * A REST PUT. The rules allow a client only to create (`.write` requires `!data.exists()`), so this never
 * overwrites: when a first attempt was written but its answer was lost, sending it again is refused, and
 * the value is then read back as the same user. Who may read it decides whether it is theirs.
 *
 * @param {string} path  e.g. "tickets/-Nabc...".
 * @param {*} value
 * @returns {Promise<{created: boolean, value: *}>}  created: written now; otherwise `value` is what was
 *   already stored there (an earlier attempt's write), as this user reads it.
 * @throws {DbError} refused (the database's own text) when nothing readable is stored there, or unreachable.
 */
export async function create(path, value) {
  try {
    await request("PUT", path, value, { print: "silent" });
    return { created: true, value: null };
  } catch (error) {
    // 401: the rules refused (among other reasons, because the location exists); 412 if they ever let a
    // conditional create through to its ETag check.
    if (!(error instanceof DbError) || error.kind !== "refused" || ![401, 412].includes(error.status)) throw error;
    let stored;
    try {
      stored = await request("GET", path);
    } catch (readError) {
      if (readError instanceof DbError && readError.kind === "unreachable") throw readError;
      throw error; // unreadable, so not this user's: the write's own refusal says why
    }
    if (stored === null || stored === undefined) throw error;
    return { created: false, value: stored };
  }
}

/**
 * Read a location once (REST GET).
 *
 * @param {string} path
 * @param {Object<string, string>} [params]  query parameters, e.g. {orderBy: '"done_at"', limitToLast: "50"}.
 */
export async function get(path, params = {}) {
  return request("GET", path, undefined, params);
}

/**
 * Follow a location, or a query on it, live over the streaming protocol.
 *
 * Children that did not change keep their identity from one value to the next, also when the database
 * sends the whole value again (on every reconnect, and for a query when its result changes), so a view
 * can find what changed with `!==` and redraw only that.
 *
 * @param {string} path
 * @param {object} handlers
 * @param {(value: *, previous: *) => void} handlers.onValue  after every change, with the whole value.
 * @param {(state: "connecting"|"live"|"reconnecting"|"denied", detail?: string) => void} [handlers.onState]
 * @param {Object<string, string>} [handlers.params]  a query, e.g. {orderBy: '"status"', equalTo: '"new"'}.
 * @returns {{close: () => void}}
 */
export function listen(path, { onValue, onState = () => {}, params = {} }) {
  let value = null;
  let source = null;
  let closed = false;
  let retryMs = RECONNECT_MIN_MS;
  let timer = null;
  let attempt = 0; // the latest open(); an older one still waiting for a token gives way

  const update = (kind, event) => {
    let payload;
    try {
      payload = JSON.parse(event.data);
    } catch {
      return; // a malformed event: ignore it rather than tear down the stream
    }
    const previous = value;
    value = share(previous, applyEvent(value, kind, payload, { owned: true }));
    retryMs = RECONNECT_MIN_MS;
    if (value !== previous || (kind === "put" && segments(payload.path).length === 0)) onValue(value, previous);
  };

  const open = async ({ renew = false } = {}) => {
    if (closed) return;
    const mine = ++attempt;
    onState(source ? "reconnecting" : "connecting");
    try {
      await signedIn({ renew });
    } catch {
      // Offline, or the session ended: the stream then fails or is denied, and says so.
    }
    if (closed || mine !== attempt) return;
    source?.close();
    // A fresh URL each time: it carries the current token.
    const current = new EventSource(dbUrl(path, params));
    source = current;
    current.addEventListener("open", () => onState("live"));
    current.addEventListener("put", (event) => update("put", event));
    current.addEventListener("patch", (event) => update("patch", event));
    current.addEventListener("cancel", () => {
      current.close();
      onState("denied", "The database stopped this stream: you are no longer allowed to read it.");
    });
    // The database says the token expired: renew it, then reconnect.
    current.addEventListener("auth_revoked", () => { current.close(); clearTimeout(timer); open({ renew: true }); });
    current.addEventListener("error", () => {
      // CONNECTING: the browser retries by itself. CLOSED: it gave up (an HTTP error), so we retry.
      if (current.readyState === EventSource.CLOSED) reconnect(retryMs);
      else onState("reconnecting");
    });
  };

  const reconnect = (delay) => {
    onState("reconnecting");
    clearTimeout(timer);
    timer = setTimeout(open, delay);
    retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
  };

  // A renewed token: follow on with it before the database revokes the old one.
  const stopFollowingTokens = onTokenChange(() => {
    if (source && source.readyState !== EventSource.CLOSED) { clearTimeout(timer); open(); }
  });
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      stopFollowingTokens();
      source?.close();
    },
  };
}

// ---- private machinery -------------------------------------------------------------------

async function request(method, path, value, params = {}) {
  await signedIn(); // renews the ID token first if it is about to expire
  let response;
  try {
    response = await fetch(dbUrl(path, params), {
      method,
      headers: value === undefined ? {} : { "Content-Type": "application/json" },
      body: value === undefined ? undefined : JSON.stringify(value),
    });
  } catch {
    throw new DbError("unreachable", `Could not reach the ticket database at ${dbOrigin()}. Check your connection and try again.`);
  }
  let body = null;
  const text = await response.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const reason = typeof body?.error === "string" && body.error ? body.error : `HTTP ${response.status} ${response.statusText}`.trim();
    throw new DbError("refused", reason, response.status);
  }
  return body;
}

function isUrl(text) {
  try {
    return Boolean(new URL(text));
  } catch {
    return false;
  }
}

function requireSession() {
  if (!session) throw new Error("db.connect() must be awaited before using the database.");
  return session;
}
