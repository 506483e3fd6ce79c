/**
 * The agent queue: every ticket live, open ones sorted by predicted priority then age, done ones
 * (solved or closed) apart; filters; the detail of a ticket in a dialog.
 *
 * Agents sign in with e-mail and password; an account without the `agent` claim sees why it cannot
 * use the queue instead of a queue the database refuses to fill.
 *
 * Imports db.js for the database, auth.js for sign-in, card.js for the shared views, format.js for words.
 */

import { AuthError, currentUser, onUserChange, signIn, signOut } from "./auth.js";
import { connect, listen } from "./db.js";
import { fill, h } from "./dom.js";
import { analysis, priorityBadge, sentimentChip } from "./card.js";
import {
  CATEGORY_NAMES, EXPERIENCE_NAMES, IMPACT_NAMES, TYPE_NAMES, age, confidence, dateTime, isoTime, nameOf, statusWords,
} from "./format.js";
import { own } from "./tree.js";

// Tickets still being scored come first (they settle within a second, and an agent should see
// them if scoring is down), then P1..P4, then tickets the function could not score.
const PRIORITY_RANK = { P1: 1, P2: 2, P3: 3, P4: 4 };
const PENDING_RANK = 0;
const UNSCORED_RANK = 5;
const DONE_STATUSES = new Set(["solved", "closed"]);
const AGE_REFRESH_MS = 30000;
const DONE_SHOWN = 100;

const els = Object.fromEntries(["page-alert", "summary", "filters", "filter-category", "filter-priority", "filter-review",
  "open-list", "open-empty", "open-count", "done-list", "done-empty", "done-count", "live-state", "detail",
  "detail-title", "detail-badges", "detail-body", "detail-close", "account", "account-email", "sign-out", "sign-in",
  "sign-in-form", "sign-in-email", "sign-in-password", "sign-in-error", "sign-in-submit", "not-agent",
  "not-agent-email", "not-agent-sign-out", "queue-view"].map((id) => [id, document.getElementById(id)]));

let tickets = {};
let loaded = false;
let stream = null;
const rows = new Map(); // id -> {ticket, el}
let detailId = null;
let detailShown = null; // the ticket value the dialog shows, to redraw only when it changes

els.filters.addEventListener("input", render);
els.filters.addEventListener("reset", () => setTimeout(render));
els.filters.addEventListener("submit", (event) => event.preventDefault());
els["detail-close"].addEventListener("click", () => els.detail.close());
els.detail.addEventListener("close", () => {
  const row = rows.get(detailId)?.el;
  detailId = null;
  detailShown = null;
  row?.querySelector(".ticket-row__open")?.focus();
});
// A click on the backdrop closes the dialog, as people expect. The backdrop's clicks target the
// dialog element itself, as do clicks in the gaps between its children: tell them apart by position.
els.detail.addEventListener("click", (event) => {
  if (event.target !== els.detail) return;
  const box = els.detail.getBoundingClientRect();
  const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
  if (!inside) els.detail.close();
});
setInterval(() => { rows.clear(); render(); }, AGE_REFRESH_MS);
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
  tickets = {};
  loaded = false;
  if (els.detail.open) els.detail.close();
  render();
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

function follow() {
  stream = listen("tickets", {
    onValue(value) {
      tickets = value && typeof value === "object" ? value : {};
      loaded = true;
      render();
    },
    onState(state, detail) {
      els["live-state"].dataset.state = state;
      els["live-state"].textContent = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", denied: "Stopped" }[state];
      if (state === "denied") showAlert(detail);
    },
  });
}

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

function render() {
  const filters = readFilters();
  const focusedId = document.activeElement?.closest?.("[data-id]")?.dataset.id;
  const open = [];
  const done = [];
  let needsReview = 0;
  for (const [id, ticket] of Object.entries(tickets)) {
    if (!ticket || typeof ticket !== "object") continue;
    const isDone = isDoneTicket(ticket);
    if (!isDone && ticket.enrichment?.needs_review === true) needsReview += 1;
    (isDone ? done : open).push([id, ticket]);
  }
  const openTotal = open.length;
  const doneTotal = done.length;
  const shownOpen = open.filter(([, t]) => matches(t, filters)).sort(byPriorityThenAge);
  const shownDone = done.filter(([, t]) => matches(t, filters)).sort(byMostRecentlyDone).slice(0, DONE_SHOWN);

  syncList(els["open-list"], shownOpen);
  syncList(els["done-list"], shownDone);
  for (const id of rows.keys()) if (!Object.hasOwn(tickets, id)) rows.delete(id);

  const filtered = filters.category || filters.priority || filters.review;
  els["open-count"].textContent = filtered ? `${shownOpen.length} of ${openTotal}` : String(openTotal);
  els["done-count"].textContent = filtered ? `${shownDone.length} of ${doneTotal}` : String(doneTotal);
  emptyState(els["open-empty"], shownOpen.length, openTotal,
    loaded ? "No open tickets. New ones appear here as customers send them." : "Loading tickets…");
  emptyState(els["done-empty"], shownDone.length, doneTotal, "Solved and closed tickets move here.");
  els.summary.textContent = loaded
    ? `${openTotal} open · ${needsReview} need review · ${doneTotal} done`
    : "";

  if (focusedId && document.activeElement === document.body) {
    rows.get(focusedId)?.el.querySelector(".ticket-row__open")?.focus({ preventScroll: true });
  }
  if (detailId && own(tickets, detailId) !== detailShown) renderDetail(detailId);
}

function emptyState(el, shown, total, message) {
  el.hidden = shown > 0;
  el.textContent = total > 0 ? "No tickets match these filters." : message;
}

/** Put exactly these rows, in this order, into the list; rebuild only rows whose ticket changed. */
function syncList(list, entries) {
  const wanted = entries.map(([id, ticket]) => {
    const cached = rows.get(id);
    if (cached && cached.ticket === ticket) return cached.el;
    const el = row(id, ticket);
    rows.set(id, { ticket, el });
    return el;
  });
  const same = wanted.length === list.children.length && wanted.every((el, i) => list.children[i] === el);
  if (!same) list.replaceChildren(...wanted);
}

function row(id, ticket) {
  const e = ticket.enrichment;
  const percent = confidence(e);
  const created = Number(ticket.created_at);
  const meta = [
    nameOf(CATEGORY_NAMES, ticket.category) ?? ticket.category,
    nameOf(TYPE_NAMES, ticket.type) ?? ticket.type,
    Number.isInteger(ticket.impact) ? `Impact ${ticket.impact} ${IMPACT_NAMES[ticket.impact] ?? ""}`.trim() : null,
    typeof ticket.contact?.name === "string" ? ticket.contact.name : null,
  ].filter((part) => typeof part === "string" && part);
  return h("li", {
    class: "ticket-row", dataset: { id, priority: e?.priority ?? (ticket.enrichment_error ? "none" : "pending") },
  },
  h("div", { class: "ticket-row__priority" }, priorityBadge(ticket),
    percent === null ? null : h("span", { class: "confidence", title: "Model confidence", text: `${percent}%` })),
  h("div", { class: "ticket-row__main" },
    h("button", { type: "button", class: "ticket-row__open", "aria-haspopup": "dialog", onclick: () => openDetail(id) },
      typeof ticket.subject === "string" && ticket.subject ? ticket.subject : "(no subject)"),
    h("p", { class: "ticket-row__meta" }, meta.join(" · "),
      Number.isFinite(created) ? [" · ", h("time", { datetime: isoTime(created), title: dateTime(created), text: age(created) })] : null)),
  h("div", { class: "ticket-row__signals" },
    sentimentChip(e?.sentiment),
    e?.needs_review === true ? h("span", { class: "flag-chip flag-chip--review", text: "Needs review" }) : null,
    ticket.enrichment_error && !e ? h("span", { class: "flag-chip flag-chip--error", text: "Invalid" }) : null,
    ticket.helpdesk_error ? h("span", { class: "flag-chip flag-chip--error", text: "Helpdesk error" }) : null,
    isDoneTicket(ticket) ? h("span", { class: "flag-chip flag-chip--done", text: statusWords(doneStatus(ticket)) }) : null,
    ticket.helpdesk?.id !== undefined && ticket.helpdesk?.id !== null
      ? h("span", { class: "helpdesk-id", title: "Helpdesk ticket", text: `#${ticket.helpdesk.id}` }) : null));
}

function openDetail(id) {
  detailId = id;
  renderDetail(id);
  if (!els.detail.open) els.detail.showModal();
}

function renderDetail(id) {
  const ticket = own(tickets, id);
  detailShown = ticket;
  if (!ticket) {
    fill(els["detail-badges"]);
    els["detail-title"].textContent = "Ticket deleted";
    fill(els["detail-body"], h("p", { class: "muted", text: "This ticket no longer exists in the database." }));
    return;
  }
  els.detail.dataset.id = id;
  fill(els["detail-badges"], priorityBadge(ticket), sentimentChip(ticket.enrichment?.sentiment));
  els["detail-title"].textContent = typeof ticket.subject === "string" && ticket.subject ? ticket.subject : "(no subject)";
  const contact = ticket.contact ?? {};
  const email = typeof contact.email === "string" ? contact.email : "";
  const created = Number(ticket.created_at);
  const years = Number(ticket.seniority);
  fill(els["detail-body"],
    h("dl", { class: "facts facts--grid" },
      fact("From", [typeof contact.name === "string" ? contact.name : "", email ? " " : null,
        email ? h("a", { href: `mailto:${email}`, text: `<${email}>` }) : null]),
      fact("Category", nameOf(CATEGORY_NAMES, ticket.category) ?? String(ticket.category ?? "")),
      fact("Type", nameOf(TYPE_NAMES, ticket.type) ?? String(ticket.type ?? "")),
      fact("Impact", Number.isInteger(ticket.impact) ? `${ticket.impact} · ${IMPACT_NAMES[ticket.impact] ?? ""}` : String(ticket.impact ?? "")),
      fact("Experience", nameOf(EXPERIENCE_NAMES, ticket.experience) ?? String(ticket.experience ?? "")),
      fact("Customer for", Number.isFinite(years) ? `${years} ${years === 1 ? "year" : "years"}` : ""),
      fact("Received", Number.isFinite(created) ? h("time", { datetime: isoTime(created), text: `${dateTime(created)} (${age(created)})` }) : ""),
      fact("Status", statusWords(doneStatus(ticket))),
      fact("Ticket id", h("code", { text: id }))),
    h("h3", { class: "detail__subhead", text: "Description" }),
    h("p", { class: "detail__description", text: typeof ticket.description === "string" ? ticket.description : "" }),
    h("h3", { class: "detail__subhead", text: "Assessment" }),
    analysis(ticket, { audience: "agent" }),
    ticket.enrichment?.model_version
      ? h("p", { class: "muted small", text: `Model ${ticket.enrichment.model_version}` }) : null);
}

function fact(label, value) {
  const key = label.toLowerCase().replace(/ /g, "-"); // "Ticket id" -> data-fact="ticket-id", for the layout
  return h("div", { class: "facts__row", dataset: { fact: key } }, h("dt", { text: label }), h("dd", {}, value));
}

function readFilters() {
  return {
    category: els["filter-category"].value,
    priority: els["filter-priority"].value,
    review: els["filter-review"].checked,
  };
}

function matches(ticket, { category, priority, review }) {
  if (category && ticket.category !== category) return false;
  if (priority === "none" && ticket.enrichment?.priority) return false;
  if (priority && priority !== "none" && ticket.enrichment?.priority !== priority) return false;
  if (review && ticket.enrichment?.needs_review !== true) return false;
  return true;
}

function rank(ticket) {
  const known = nameOf(PRIORITY_RANK, ticket.enrichment?.priority);
  if (known !== null) return known;
  return ticket.enrichment_error ? UNSCORED_RANK : PENDING_RANK;
}

function byPriorityThenAge([idA, a], [idB, b]) {
  return rank(a) - rank(b) || createdAt(a) - createdAt(b) || (idA < idB ? -1 : idA > idB ? 1 : 0);
}

function byMostRecentlyDone([, a], [, b]) {
  return doneAt(b) - doneAt(a);
}

function createdAt(ticket) {
  const t = Number(ticket.created_at);
  return Number.isFinite(t) ? t : Number.MAX_SAFE_INTEGER;
}

function doneAt(ticket) {
  const r = ticket.resolution ?? {};
  return Number(r.closed_at ?? r.solved_at ?? r.recorded_at ?? ticket.created_at) || 0;
}

function doneStatus(ticket) {
  return DONE_STATUSES.has(ticket.resolution?.status) ? ticket.resolution.status : ticket.status;
}

function isDoneTicket(ticket) {
  return DONE_STATUSES.has(ticket.status) || DONE_STATUSES.has(ticket.resolution?.status);
}

function showAlert(message) {
  els["page-alert"].textContent = message;
  els["page-alert"].hidden = false;
}
