/**
 * The one door to the Realtime Database: configuration, identity, URLs, REST writes, live streams.
 *
 * Where the database is: pages read /__/firebase/init.json, which Firebase Hosting serves in
 * production and the emulator's hosting serves locally, so the same files work in both.
 * Who is asking: every REST and EventSource URL is built by dbUrl(), which adds `?auth=<token>`
 * when the session has a token. Against the emulator the token is an unsigned ID token
 * (`alg: none`, what Firebase's own emulators accept) for a per-browser anonymous uid kept in
 * localStorage; agents carry an `agent: true` claim for the rules to check. In production,
 * sign-in through Firebase Auth replaces emulatorToken() in this file and nowhere else.
 */

import { applyEvent, segments } from "./tree.js";

const CONFIG_URL = "/__/firebase/init.json";
const UID_KEY = "tickets.uid.";
const TOKEN_LIFETIME_S = 3600;
const TOKEN_REFRESH_MARGIN_S = 300;
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
 * Load the configuration and sign in; call once per page before anything else here.
 *
 * @param {{role?: "customer"|"agent"}} [options]
 * @returns {Promise<{projectId: string, databaseURL: string, emulator: boolean}>}
 * @throws {DbError} when the configuration cannot be loaded.
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
  session = { config, role, uid: browserUid(role), token: null, expires: 0 };
  return config;
}

/** The signed-in user's id (stable for this browser and role). */
export function currentUid() {
  return requireSession().uid;
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
  const token = authToken();
  if (token) url.searchParams.set("auth", token);
  return url.toString();
}

/** The database's origin, for messages. */
export function dbOrigin() {
  return new URL(requireSession().config.databaseURL).origin;
}

/**
 * Add a child with a push id (REST POST).
 *
 * @returns {Promise<string>} the new child's key.
 * @throws {DbError} refused (with the database's own error text) or unreachable.
 */
export async function push(path, value) {
  const body = await request("POST", path, value);
  if (typeof body?.name !== "string") {
    throw new DbError("refused", `The database answered without a ticket id: ${JSON.stringify(body)}.`);
  }
  return body.name;
}

/** Read a location once (REST GET). */
export async function get(path) {
  return request("GET", path);
}

/**
 * Follow a location live over the streaming protocol.
 *
 * @param {string} path
 * @param {object} handlers
 * @param {(value: *, previous: *) => void} handlers.onValue  after every change, with the whole value.
 * @param {(state: "connecting"|"live"|"reconnecting"|"denied", detail?: string) => void} [handlers.onState]
 * @returns {{close: () => void}}
 */
export function listen(path, { onValue, onState = () => {} }) {
  let value = null;
  let source = null;
  let closed = false;
  let retryMs = RECONNECT_MIN_MS;
  let timer = null;

  const update = (kind, event) => {
    let payload;
    try {
      payload = JSON.parse(event.data);
    } catch {
      return; // a malformed event: ignore it rather than tear down the stream
    }
    const previous = value;
    value = applyEvent(value, kind, payload);
    retryMs = RECONNECT_MIN_MS;
    if (value !== previous || (kind === "put" && segments(payload.path).length === 0)) onValue(value, previous);
  };

  const open = () => {
    if (closed) return;
    onState(source ? "reconnecting" : "connecting");
    // A fresh URL each time: the token may have been renewed since the last connection.
    source = new EventSource(dbUrl(path));
    source.addEventListener("open", () => onState("live"));
    source.addEventListener("put", (event) => update("put", event));
    source.addEventListener("patch", (event) => update("patch", event));
    source.addEventListener("cancel", () => {
      source.close();
      onState("denied", "The database stopped this stream: you are no longer allowed to read it.");
    });
    source.addEventListener("auth_revoked", () => { source.close(); renewToken(); reconnect(0); });
    source.addEventListener("error", () => {
      // CONNECTING: the browser retries by itself. CLOSED: it gave up (an HTTP error), so we retry.
      if (source.readyState === EventSource.CLOSED) reconnect(retryMs);
      else onState("reconnecting");
    });
  };

  const reconnect = (delay) => {
    onState("reconnecting");
    clearTimeout(timer);
    timer = setTimeout(open, delay);
    retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
  };

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
    },
  };
}

// ---- private machinery -------------------------------------------------------------------

async function request(method, path, value) {
  let response;
  try {
    response = await fetch(dbUrl(path), {
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

function authToken() {
  if (!session.config.emulator) return null;
  const now = Date.now() / 1000;
  if (!session.token || session.expires - now < TOKEN_REFRESH_MARGIN_S) renewToken();
  return session.token;
}

function renewToken() {
  if (!session.config.emulator) return;
  const claims = session.role === "agent" ? { agent: true } : {};
  const { token, expires } = emulatorToken(session.config.projectId, session.uid, claims);
  session.token = token;
  session.expires = expires;
}

/**
 * An unsigned ID token as Firebase's Auth emulator issues for anonymous users.
 *
 * @returns {{token: string, expires: number}} the JWT and its expiry (s since the epoch).
 */
export function emulatorToken(projectId, uid, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: `https://securetoken.google.com/${projectId}`,
    aud: projectId,
    auth_time: now,
    iat: now,
    exp: now + TOKEN_LIFETIME_S,
    sub: uid,
    user_id: uid,
    firebase: { sign_in_provider: "anonymous", identities: {} },
    ...claims,
  };
  const token = `${base64url({ alg: "none", typ: "JWT" })}.${base64url(payload)}.`;
  return { token, expires: payload.exp };
}

function base64url(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function browserUid(role) {
  const key = UID_KEY + role;
  try {
    const known = localStorage.getItem(key);
    if (known) return known;
  } catch {
    // storage disabled (private mode, policy): a uid for this page view only
  }
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const uid = Array.from(crypto.getRandomValues(new Uint8Array(28)), (b) => alphabet[b % alphabet.length]).join("");
  try {
    localStorage.setItem(key, uid);
  } catch {
    // as above
  }
  return uid;
}
