/**
 * Who is asking: Firebase Auth over its REST API, one code path in production and locally.
 *
 * Requests go to Google's Identity Toolkit and Secure Token services with the site's API key, or to
 * the emulator's copy of them when init.json names an `authEmulatorUrl`. Customers are signed in
 * anonymously, once per browser; agents sign in with e-mail and password. The uid and refresh token
 * are kept in localStorage per role, the ID token is renewed before it expires, and listeners hear
 * of every new token (streams reconnect with it) and of sign-in and sign-out.
 * Imports nothing; db.js starts it with the site's configuration and puts the token in every URL.
 */

const STORAGE_KEY = "tickets.auth.";            // + role: {uid, refreshToken}
const IDENTITY = "identitytoolkit.googleapis.com";
const SECURE_TOKEN = "securetoken.googleapis.com";
const RENEW_BEFORE_MS = 5 * 60 * 1000;          // renew the ID token this long before it expires
const RETRY_MS = 15 * 1000;                     // after a renewal that could not reach the service
const DEFAULT_LIFETIME_S = 3600;
const WRONG_CREDENTIALS = "Wrong e-mail or password.";
const SESSION_ENDED = "Your session has ended. Sign in again.";
const TURNED_OFF = "This way of signing in is turned off for this site. Ask an administrator to turn it on.";
// Firebase Auth's error codes in words a person can act on.
const MESSAGES = {
  EMAIL_NOT_FOUND: WRONG_CREDENTIALS,
  INVALID_PASSWORD: WRONG_CREDENTIALS,
  INVALID_LOGIN_CREDENTIALS: WRONG_CREDENTIALS, // Google's answer when e-mail enumeration protection is on
  INVALID_EMAIL: "That is not an e-mail address. Use the form name@example.com.",
  MISSING_EMAIL: "Enter your e-mail address.",
  MISSING_PASSWORD: "Enter your password.",
  USER_DISABLED: "This account is disabled. Ask an administrator to enable it.",
  TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts. Wait a few minutes, then try again.",
  OPERATION_NOT_ALLOWED: TURNED_OFF,
  PASSWORD_LOGIN_DISABLED: TURNED_OFF,
  ADMIN_ONLY_OPERATION: TURNED_OFF,             // anonymous sign-in is off in the project
  INVALID_REFRESH_TOKEN: SESSION_ENDED,
  TOKEN_EXPIRED: SESSION_ENDED,
  USER_NOT_FOUND: SESSION_ENDED,
};

/** A sign-in that failed: `kind` "refused" or "unreachable", `code` Firebase Auth's (e.g. "INVALID_PASSWORD"). */
export class AuthError extends Error {
  constructor(kind, code, message) {
    super(message);
    this.name = "AuthError";
    this.kind = kind;
    this.code = code;
  }
}

let state = null;
const tokenListeners = new Set();
const userListeners = new Set();

/**
 * Start signing in for this page: restore this browser's session, or sign a customer in anonymously.
 * Never throws: what could not be done now is retried by signedIn(), which reports why.
 *
 * @param {{apiKey: string, authEmulatorUrl?: string}} config  the site's init.json.
 * @param {"customer"|"agent"} role
 */
export async function startAuth(config, role) {
  if (state) clearTimeout(state.timer);
  state = blank(config, role);
  state.refreshToken = load(role)?.refreshToken ?? null;
  await signedIn().catch(() => {});
}

/**
 * The signed-in user, once the ID token is good for a while; customers are signed in anonymously if needed.
 *
 * @param {{renew?: boolean}} [options]  renew: get a new ID token even if this one looks fresh.
 * @returns {Promise<{uid: string, email: string|null, provider: string|null, claims: object}|null>}
 *   null for an agent who has not signed in.
 * @throws {AuthError}
 */
export function signedIn({ renew = false } = {}) {
  const s = requireState();
  if (s.user && !renew && Date.now() < s.expiresAt - RENEW_BEFORE_MS) return Promise.resolve(s.user);
  s.pending ??= obtain(s).finally(() => { s.pending = null; });
  return s.pending;
}

/**
 * Sign in with e-mail and password (agents).
 *
 * @returns {Promise<object>} the user; listeners of onUserChange hear of it too.
 * @throws {AuthError} with a message for people, e.g. "Wrong e-mail or password.".
 */
export async function signIn(email, password) {
  const s = requireState();
  return accept(s, await call(s, IDENTITY, "accounts:signInWithPassword", { email, password, returnSecureToken: true }));
}

/** Forget this browser's session for the page's role. */
export function signOut() {
  end(requireState(), null);
}

/** The signed-in user ({uid, email, provider, claims}) or null. */
export function currentUser() {
  return state?.user ?? null;
}

/** The current ID token, or null. */
export function idToken() {
  return state?.idToken ?? null;
}

/** Call `listener()` after every new ID token. Returns a function that stops it. */
export function onTokenChange(listener) {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

/** Call `listener(user, reason)` when someone else signs in, or (user null) the session ends. Returns a stop function. */
export function onUserChange(listener) {
  userListeners.add(listener);
  return () => userListeners.delete(listener);
}

// ---- private machinery -------------------------------------------------------------------

function blank(config, role) {
  return { config, role, user: null, idToken: null, refreshToken: null, expiresAt: 0, timer: null, pending: null };
}

function requireState() {
  if (!state) throw new Error("db.connect() must be awaited before signing in.");
  return state;
}

async function obtain(s) {
  if (s.refreshToken) {
    try {
      const reply = await call(s, SECURE_TOKEN, "token", { grant_type: "refresh_token", refresh_token: s.refreshToken });
      return accept(s, { idToken: reply.id_token, refreshToken: reply.refresh_token, expiresIn: reply.expires_in });
    } catch (error) {
      if (error.kind !== "refused") throw error;
      // The account is gone or disabled (a restarted emulator forgets anonymous users): start afresh.
      end(s, error.message);
      s = state;
    }
  }
  if (s.role !== "customer") return null;
  return accept(s, await call(s, IDENTITY, "accounts:signUp", { returnSecureToken: true }));
}

function accept(s, { idToken: token, refreshToken, expiresIn }) {
  if (s !== state) return state.user; // signed out meanwhile
  const claims = claimsOf(token);
  const uid = typeof claims.user_id === "string" ? claims.user_id : claims.sub;
  const before = s.user?.uid;
  s.idToken = token;
  s.refreshToken = refreshToken;
  s.expiresAt = Date.now() + (Number(expiresIn) || DEFAULT_LIFETIME_S) * 1000;
  s.user = { uid, email: typeof claims.email === "string" ? claims.email : null,
    provider: claims.firebase?.sign_in_provider ?? null, claims };
  save(s.role, { uid, refreshToken });
  clearTimeout(s.timer);
  s.timer = setTimeout(() => renewLater(s), Math.max(0, s.expiresAt - RENEW_BEFORE_MS - Date.now()));
  for (const listener of tokenListeners) listener();
  if (before !== uid) for (const listener of userListeners) listener(s.user, null);
  return s.user;
}

function renewLater(s) {
  if (s !== state) return;
  signedIn({ renew: true }).catch((error) => {
    if (error.kind === "unreachable" && s === state) s.timer = setTimeout(() => renewLater(s), RETRY_MS);
  });
}

function end(s, reason) {
  clearTimeout(s.timer);
  forget(s.role);
  if (s !== state) return;
  state = blank(s.config, s.role);
  if (s.user) for (const listener of userListeners) listener(null, reason);
}

async function call(s, service, path, body) {
  const base = s.config.authEmulatorUrl ? `${String(s.config.authEmulatorUrl).replace(/\/+$/, "")}/${service}` : `https://${service}`;
  const url = `${base}/v1/${path}?key=${encodeURIComponent(s.config.apiKey ?? "")}`;
  const form = service === SECURE_TOKEN; // the Secure Token service takes a form, as Firebase's SDK sends it
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": form ? "application/x-www-form-urlencoded" : "application/json" },
      body: form ? new URLSearchParams(body) : JSON.stringify(body),
    });
  } catch {
    throw new AuthError("unreachable", "NETWORK",
      `Could not reach the sign-in service at ${new URL(url).origin}. Check your connection and try again.`);
  }
  const reply = await response.json().catch(() => null);
  if (response.ok && reply) return reply;
  const detail = typeof reply?.error?.message === "string" ? reply.error.message : `HTTP ${response.status}`;
  const code = detail.split(" : ")[0].trim(); // Google's messages are "CODE" or "CODE : detail"
  const message = Object.hasOwn(MESSAGES, code) ? MESSAGES[code] : `Sign-in failed: ${detail.replace(/\.?$/, ".")}`;
  throw new AuthError(response.status >= 500 ? "unreachable" : "refused", code, message);
}

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : {};
  } catch {
    return {};
  }
}

function load(role) {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY + role));
    return saved && typeof saved.refreshToken === "string" ? saved : null;
  } catch {
    return null; // storage disabled (private mode, policy) or unreadable: sign in afresh
  }
}

function save(role, value) {
  try {
    localStorage.setItem(STORAGE_KEY + role, JSON.stringify(value));
  } catch {
    // storage disabled: the session lasts as long as the page
  }
}

function forget(role) {
  try {
    localStorage.removeItem(STORAGE_KEY + role);
  } catch {
    // as above
  }
}
