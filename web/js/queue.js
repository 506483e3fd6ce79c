/**
 * The agent queue: the open tickets live, sorted by predicted priority then age; the done ones (solved or
 * closed) on demand, newest first, a page at a time; filters; the detail of a ticket in a dialog.
 *
 * It reads what it shows (see web/README.md): one live query for the open tickets (`status` = "new") and a
 * REST page of done ones (by `done_at`, which the helpdesk webhook writes) each time the Done list is opened
 * or asked for more. Rows are kept by RowList: a new or changed ticket rebuilds its own row only, a filter
 * shows and hides rows without rebuilding any, and ages tick in place.
 *
 * Agents sign in with e-mail and password; an account without the `agent` claim sees why it cannot
 * use the queue instead of a queue the database refuses to fill.
 *
 * Imports db.js for the database, auth.js for sign-in, rowlist.js for the lists, queueviews.js for rows and
 * the detail, format.js for words.
 */

import { AuthError, currentUser, onUserChange, signIn, signOut } from "./auth.js";
import { DbError, connect, get, listen } from "./db.js";
import { age } from "./format.js";
import { RowList } from "./rowlist.js";
import { equal } from "./tree.js";
import {
  byMostRecentlyDone, byPriorityThenAge, detailView, matches, row, rowGroup, ROW_CONTROL,
} from "./queueviews.js";

// The open tickets, live: a query the rules let agents run on /tickets, indexed there (.indexOn "status").
const OPEN_QUERY = { orderBy: JSON.stringify("status"), equalTo: JSON.stringify("new") };
// Done tickets newest first by done_at; a page is `limitToLast` below the oldest shown (endAt keeps the
// tickets that share its done_at, so none is skipped; those already shown are dropped). Bounded by numbers
// on both sides: open tickets have no done_at, and no value written by another tool can take every page.
const DONE_ORDER = JSON.stringify("done_at");
const DONE_PAGE = 50;
const NEWEST_DONE = Number.MAX_SAFE_INTEGER;
const AGE_REFRESH_MS = 30000;
// More changed tickets than this in one answer (the first one, a reconnect): their rows are built a chunk per
// task, the first screenful at once, so the page never stops answering while thousands of rows are made.
const BULK_CHANGES = 100;
const FIRST_ROWS = 40;
// Tickets that leave the open list are each read once, to file them under Done; when more leave at once (a
// bulk close, a reconnect after a long gap), the Done list is read again from its first page instead.
const MAX_READS_PER_CHANGE = 20;
const RESIZE_SETTLE_MS = 200;

const els = Object.fromEntries(["page-alert", "summary", "filters", "filter-category", "filter-priority", "filter-confidence", "filter-review",
  "open-list", "open-empty", "open-count", "done-details", "done-list", "done-empty", "done-count", "done-more", "done-more-bar",
  "live-state", "detail", "detail-title", "detail-badges", "detail-body", "detail-close", "account", "account-email",
  "sign-out", "sign-in", "sign-in-form", "sign-in-email", "sign-in-password", "sign-in-error", "sign-in-submit",
  "not-agent", "not-agent-email", "not-agent-sign-out", "queue-view"].map((id) => [id, document.getElementById(id)]));

const openRows = new RowList(els["open-list"],
  { compare: byPriorityThenAge, build: buildRow, focusable: ROW_CONTROL, group: rowGroup });
const doneRows = new RowList(els["done-list"],
  { compare: byMostRecentlyDone, build: buildRow, focusable: ROW_CONTROL, group: rowGroup });
let loaded = false;          // the open query's first answer arrived
let stream = null;
let session = 0;             // bumped at every sign-in and sign-out: answers for an older one are dropped
let done = donePages();
let detailId = null;
let detailShown; // the ticket value the dialog shows, to redraw only when it changes
let rowsMeasured = false;

els.filters.addEventListener("input", applyFilters);
els.filters.addEventListener("reset", () => setTimeout(applyFilters));
els.filters.addEventListener("submit", (event) => event.preventDefault());
els["done-details"].addEventListener("toggle", () => { if (els["done-details"].open && !done.loaded) loadDone(); });
els["done-more"].addEventListener("click", () => loadDone());
els["detail-close"].addEventListener("click", () => els.detail.close());
els.detail.addEventListener("close", () => {
  const el = openRows.element(detailId) ?? doneRows.element(detailId);
  detailId = null;
  detailShown = undefined;
  el?.querySelector(ROW_CONTROL)?.focus();
});
// A click on the backdrop closes the dialog, as people expect. The backdrop's clicks target the
// dialog element itself, as do clicks in the gaps between its children: tell them apart by position.
els.detail.addEventListener("click", (event) => {
  if (event.target !== els.detail) return;
  const box = els.detail.getBoundingClientRect();
  const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
  if (!inside) els.detail.close();
});
setInterval(tickAges, AGE_REFRESH_MS);
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(measureRows, RESIZE_SETTLE_MS);
});
els["sign-in-form"].addEventListener("submit", onSignIn);
els["sign-out"].addEventListener("click", () => signOut());
els["not-agent-sign-out"].addEventListener("click", () => signOut());

start();

async function start() {
  try {
    await connect({ role: "agent" }); // restores this browser's session, if any
  } catch (error) {
    showAlert(error.message);
    return;
  }
  onUserChange(show);
  show(currentUser());
}

/** Show what fits who is signed in: the sign-in form, "not an agent", or the live queue. */
function show(user, reason = null) {
  const agent = user?.claims?.agent === true;
  // Focus follows a person who acted in the form or on the notice, so it does not fall to the page.
  const fromGate = [els["sign-in"], els["not-agent"]].some((view) => view.contains(document.activeElement));
  stream?.close();
  stream = null;
  session += 1;
  loaded = false;
  openRows.clear();
  doneRows.clear();
  done = donePages();
  els["done-details"].open = false;
  if (els.detail.open) els.detail.close();
  updateCounts();
  els["queue-view"].hidden = !agent;
  els["live-state"].hidden = !agent;
  els["not-agent"].hidden = !user || agent;
  els["sign-in"].hidden = Boolean(user);
  els.account.hidden = !user;
  els["account-email"].textContent = user?.email ?? (user ? "Anonymous user" : "");
  if (!user) {
    els["sign-in-password"].value = "";
    showSignInError(reason ?? "", null);
    els["sign-in-email"].focus();
  } else if (!agent) {
    els["not-agent-email"].textContent = user.email ?? "an anonymous user";
    if (fromGate) document.getElementById("not-agent-title").focus();
  } else {
    follow();
    if (fromGate) document.getElementById("open-title").focus();
  }
}

// ---- the open tickets, live ------------------------------------------------------------------

function follow() {
  stream = listen("tickets", {
    params: OPEN_QUERY,
    onValue: applyOpen,
    onState(state, detail) {
      els["live-state"].dataset.state = state;
      els["live-state"].textContent = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", denied: "Stopped" }[state];
      if (state === "denied") showAlert(detail);
    },
  });
}

/** Bring the open list in step with the query's result: only tickets whose value changed are redrawn. */
function applyOpen(value) {
  const open = value && typeof value === "object" ? value : {};
  const left = [];
  openRows.forEach((id) => { if (!Object.hasOwn(open, id)) left.push(id); });
  for (const id of left) openRows.delete(id);
  if (left.length > MAX_READS_PER_CHANGE) restartDone();
  else for (const id of left) moveOut(id);
  const changed = Object.entries(open).filter(([id, ticket]) => ticket && typeof ticket === "object" && openRows.get(id) !== ticket);
  const later = changed.length > BULK_CHANGES;
  for (const [id, ticket] of changed) {
    if (openRows.set(id, ticket, { later })) doneRows.delete(id); // (re)opened
  }
  if (later) openRows.buildNow(FIRST_ROWS);
  if (!rowsMeasured) rowsMeasured = measureRows();
  loaded = true;
  updateCounts();
  const shown = openRows.get(detailId);
  if (shown !== undefined && shown !== detailShown) renderDetail(detailId, shown);
}

/** A ticket left the open list (solved, closed or deleted by another process): read it once and file it. */
async function moveOut(id) {
  const mine = session;
  let ticket;
  try {
    ticket = await get(`tickets/${id}`);
  } catch (error) {
    if (!(error instanceof DbError || error instanceof AuthError)) throw error;
    return; // the Done list's next page brings it, if it is done
  }
  if (mine !== session || openRows.has(id)) return; // signed out, or open again meanwhile
  if (ticket && typeof ticket === "object") {
    if (!equal(doneRows.get(id), ticket)) doneRows.set(id, ticket);
  } else {
    doneRows.delete(id);
  }
  updateCounts();
  if (detailId === id) renderDetail(id, ticket ?? null);
}

// ---- the done tickets, a page at a time ------------------------------------------------------

function donePages() {
  // oldest: the smallest done_at paged in so far; atOldest: the ids paged in with exactly that done_at.
  return { loaded: false, loading: false, more: true, oldest: NEWEST_DONE, atOldest: new Set(), error: "" };
}

/** Forget the done tickets shown; read the first page again if the Done list is open. */
function restartDone() {
  done = donePages();
  doneRows.clear();
  if (els["done-details"].open) loadDone();
  else updateCounts();
}

/** Fetch the next page of done tickets, newest first, below the oldest one shown. */
async function loadDone() {
  if (done.loading || !done.more) return;
  const pages = done;
  pages.loading = true;
  pages.error = "";
  updateCounts();
  let page;
  try {
    page = await get("tickets", {
      orderBy: DONE_ORDER, startAt: "0", endAt: String(pages.oldest), limitToLast: String(DONE_PAGE + pages.atOldest.size),
    });
  } catch (error) {
    if (!(error instanceof DbError || error instanceof AuthError)) throw error;
    pages.error = `Could not load the done tickets: ${error.message}`;
    return;
  } finally {
    pages.loading = false;
    if (pages === done) updateCounts();
  }
  if (pages !== done) return; // signed out, or the Done list was restarted meanwhile
  const entries = Object.entries(page ?? {}).filter(([, t]) => t && typeof t === "object" && Number.isFinite(t.done_at));
  let fresh = 0;
  for (const [id, ticket] of entries) {
    if (pages.atOldest.has(id)) continue; // shown already, at the previous page's edge
    fresh += 1;
    if (!openRows.has(id) && !equal(doneRows.get(id), ticket)) doneRows.set(id, ticket);
  }
  const oldest = Math.min(pages.oldest, ...entries.map(([, t]) => t.done_at));
  pages.atOldest = new Set(entries.filter(([, t]) => t.done_at === oldest).map(([id]) => id));
  pages.oldest = oldest;
  pages.loaded = true;
  pages.more = fresh >= DONE_PAGE;
  updateCounts();
}

// ---- filters, counts, ages -------------------------------------------------------------------

function applyFilters() {
  const filters = readFilters();
  const accepts = (ticket) => matches(ticket, filters);
  openRows.filter(accepts);
  doneRows.filter(accepts);
  updateCounts();
}

function readFilters() {
  return {
    category: els["filter-category"].value,
    priority: els["filter-priority"].value,
    confidence: els["filter-confidence"].value,
    review: els["filter-review"].checked,
  };
}

function updateCounts() {
  const { category, priority, confidence, review } = readFilters();
  const filtered = Boolean(category || priority || confidence || review);
  const count = (rows, more) => {
    const total = `${rows.size}${more ? "+" : ""}`;
    return filtered ? `${rows.shown} of ${total}` : total;
  };
  els["open-count"].textContent = count(openRows, false);
  els["done-count"].textContent = done.loaded ? count(doneRows, done.more) : "";
  emptyState(els["open-empty"], openRows,
    loaded ? "No open tickets. New ones appear here as customers send them." : "Loading tickets…");
  if (done.error) {
    els["done-empty"].hidden = false;
    els["done-empty"].textContent = done.error;
  } else if (done.loading && doneRows.shown === 0) {
    els["done-empty"].hidden = false;
    els["done-empty"].textContent = "Loading done tickets…";
  } else {
    emptyState(els["done-empty"], doneRows, "Solved and closed tickets move here.");
  }
  els["done-more-bar"].hidden = !done.more || !(done.loaded || done.error);
  // Not disabled while loading, so it keeps the keyboard focus; a click while a page loads is ignored.
  els["done-more"].setAttribute("aria-disabled", String(done.loading));
  els["done-more"].textContent = done.loading ? "Loading…" : done.error ? "Try again" : "Show more";
  let needsReview = 0;
  openRows.forEach((id, ticket) => { if (ticket.enrichment?.needs_review === true) needsReview += 1; });
  els.summary.textContent = loaded ? `${openRows.size} open · ${needsReview} need review` : "";
}

function emptyState(el, rows, message) {
  el.hidden = rows.shown > 0;
  el.textContent = rows.size > 0 ? "No tickets match these filters." : message;
}

/** Renew the "5 min ago" texts in place, in every row (shown or filtered out) and the detail: nothing is rebuilt. */
function tickAges() {
  const now = Date.now();
  const tick = (root) => {
    for (const time of root.querySelectorAll("[data-since]")) {
      const text = age(Number(time.dataset.since), now);
      if (time.textContent !== text) time.textContent = text;
    }
  };
  openRows.forEach((id, ticket, el) => { if (el) tick(el); }); // a row built later is built with the current age
  doneRows.forEach((id, ticket, el) => { if (el) tick(el); });
  tick(els["detail-body"]);
}

// ---- rows and the detail ---------------------------------------------------------------------

/** Size the row groups off screen by a row as this browser draws it (fonts and widths vary); false if no row is. */
function measureRows() {
  const sample = document.querySelector("#open-list .ticket-row, #done-list .ticket-row");
  const height = sample?.getBoundingClientRect().height;
  if (!height) return false;
  for (const list of [els["open-list"], els["done-list"]]) list.style.setProperty("--row-height", `${height}px`);
  return true;
}

function buildRow(id, ticket) {
  return row(id, ticket, () => openDetail(id));
}

function openDetail(id) {
  detailId = id;
  renderDetail(id, openRows.get(id) ?? doneRows.get(id) ?? null);
  if (!els.detail.open) els.detail.showModal();
}

function renderDetail(id, ticket) {
  detailShown = ticket;
  els.detail.dataset.id = id;
  detailView(ticket, id, { title: els["detail-title"], badges: els["detail-badges"], body: els["detail-body"] });
}

// ---- signing in --------------------------------------------------------------------------------

async function onSignIn(event) {
  event.preventDefault();
  const email = els["sign-in-email"].value.trim();
  const password = els["sign-in-password"].value;
  if (!email) return showSignInError("Enter your e-mail address.", "sign-in-email");
  if (!password) return showSignInError("Enter your password.", "sign-in-password");
  showSignInError("", null);
  setSigningIn(true);
  try {
    await signIn(email, password); // show() follows through onUserChange
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    showSignInError(error.message, error.code === "INVALID_EMAIL" ? "sign-in-email" : "sign-in-password");
  } finally {
    setSigningIn(false);
  }
}

/** Put `message` under the form and mark `fieldId` (or no field) as the one to fix, focused. */
function showSignInError(message, fieldId) {
  els["sign-in-error"].textContent = message;
  for (const id of ["sign-in-email", "sign-in-password"]) {
    els[id].setAttribute("aria-invalid", String(id === fieldId));
  }
  if (fieldId) {
    els[fieldId].focus();
    els[fieldId].select();
  }
}

function setSigningIn(busy) {
  els["sign-in-submit"].disabled = busy;
  els["sign-in-submit"].textContent = busy ? "Signing in…" : "Sign in";
  els["sign-in-form"].setAttribute("aria-busy", String(busy));
}

function showAlert(message) {
  els["page-alert"].textContent = message;
  els["page-alert"].hidden = false;
}
