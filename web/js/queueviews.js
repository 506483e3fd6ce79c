/**
 * What the agent queue shows of a ticket: its row, its detail, whether it matches the filters, and the two
 * orders (open: predicted priority then age; done: most recently done first). Pure functions of a ticket,
 * except that rows and the detail are built as DOM (dom.js, never HTML strings).
 *
 * Imports dom.js, card.js and format.js.
 */

import { fill, h } from "./dom.js";
import { analysis, priorityBadge, sentimentChip } from "./card.js";
import {
  CATEGORY_NAMES, EXPERIENCE_NAMES, HEADS, HEAD_NAMES, IMPACT_NAMES, LEVEL_NAMES, TYPE_NAMES, age, confidence, dateTime,
  isoTime, languageWords, level, lowestLevel, nameOf, resolutionText, sentimentWords, statusWords,
} from "./format.js";
import { asList } from "./tree.js";

/** The control in a row that opens its detail (and keeps the focus when the row is redrawn). */
export const ROW_CONTROL = ".ticket-row__open";

/** An (empty) group of rows in a list: the browser draws only the groups near the screen (see rowlist.js). */
export function rowGroup() {
  return h("div", { class: "queue__group" });
}

// Tickets still being scored come first (they settle within a second, and an agent should see
// them if scoring is down), then P1..P4, then tickets the function could not score.
const PRIORITY_RANK = { P1: 1, P2: 2, P3: 3, P4: 4 };
const PENDING_RANK = 0;
const UNSCORED_RANK = 5;
const DONE_STATUSES = new Set(["solved", "closed"]);

/**
 * The row of one ticket.
 *
 * @param {string} id
 * @param {object} ticket
 * @param {() => void} onOpen  called when the agent opens the ticket's detail.
 * @returns {HTMLElement}
 */
export function row(id, ticket, onOpen) {
  const e = ticket.enrichment;
  const percent = confidence(e);
  const created = Number(ticket.created_at);
  const meta = [
    nameOf(CATEGORY_NAMES, ticket.category) ?? ticket.category,
    nameOf(TYPE_NAMES, ticket.type) ?? ticket.type,
    Number.isInteger(ticket.impact) ? `Impact ${ticket.impact} ${IMPACT_NAMES[ticket.impact] ?? ""}`.trim() : null,
    typeof ticket.contact?.name === "string" ? ticket.contact.name : null,
  ].filter((part) => typeof part === "string" && part);
  const closed = ticket.status !== "new" || isDone(ticket);
  const lowest = lowestLevel(e);
  return h("div", {
    class: "ticket-row", role: "listitem", dataset: { id, priority: e?.priority ?? (ticket.enrichment_error ? "none" : "pending") },
  },
  h("div", { class: "ticket-row__priority" }, priorityBadge(ticket),
    percent === null ? null : h("span", { class: "confidence", title: "Model confidence", text: `${percent}%` })),
  h("div", { class: "ticket-row__main" },
    h("button", { type: "button", class: "ticket-row__open", "aria-haspopup": "dialog", onclick: onOpen },
      typeof ticket.subject === "string" && ticket.subject ? ticket.subject : "(no subject)"),
    h("p", { class: "ticket-row__meta" }, meta.join(" · "),
      Number.isFinite(created) ? [" · ", ageTime(created, { title: dateTime(created) })] : null)),
  h("div", { class: "ticket-row__signals" },
    sentimentChip(e?.sentiment),
    lowest ? h("span", { class: `level level--${lowest}`, dataset: { level: lowest }, title: levelsTitle(e),
      text: `${LEVEL_NAMES[lowest]} confidence` }) : null,
    e?.needs_review === true ? h("span", { class: "flag-chip flag-chip--review", text: "Needs review" }) : null,
    ticket.enrichment_error && !e ? h("span", { class: "flag-chip flag-chip--error", text: "Invalid" }) : null,
    ticket.helpdesk_error ? h("span", { class: "flag-chip flag-chip--error", text: "Helpdesk error" }) : null,
    closed ? h("span", { class: "flag-chip flag-chip--done", text: statusWords(doneStatus(ticket)) }) : null,
    ticket.helpdesk?.id !== undefined && ticket.helpdesk?.id !== null
      ? h("span", { class: "helpdesk-id", title: "Helpdesk ticket", text: `#${ticket.helpdesk.id}` }) : null));
}

/**
 * Fill the detail dialog's parts with one ticket, or say it no longer exists (`ticket` null).
 *
 * @param {object|null} ticket
 * @param {string} id
 * @param {{title: HTMLElement, badges: HTMLElement, body: HTMLElement}} parts
 */
export function detailView(ticket, id, { title, badges, body }) {
  if (!ticket || typeof ticket !== "object") {
    fill(badges);
    title.textContent = "Ticket deleted";
    fill(body, h("p", { class: "muted", text: "This ticket no longer exists in the database." }));
    return;
  }
  fill(badges, priorityBadge(ticket), sentimentChip(ticket.enrichment?.sentiment));
  title.textContent = typeof ticket.subject === "string" && ticket.subject ? ticket.subject : "(no subject)";
  const contact = ticket.contact ?? {};
  const email = typeof contact.email === "string" ? contact.email : "";
  const created = Number(ticket.created_at);
  const years = Number(ticket.seniority);
  fill(body,
    h("dl", { class: "facts facts--grid" },
      fact("From", [typeof contact.name === "string" ? contact.name : "", email ? " " : null,
        email ? h("a", { href: `mailto:${email}`, text: `<${email}>` }) : null]),
      fact("Category", nameOf(CATEGORY_NAMES, ticket.category) ?? String(ticket.category ?? "")),
      fact("Type", nameOf(TYPE_NAMES, ticket.type) ?? String(ticket.type ?? "")),
      fact("Impact", Number.isInteger(ticket.impact) ? `${ticket.impact} · ${IMPACT_NAMES[ticket.impact] ?? ""}` : String(ticket.impact ?? "")),
      fact("Experience", nameOf(EXPERIENCE_NAMES, ticket.experience) ?? String(ticket.experience ?? "")),
      fact("Customer for", Number.isFinite(years) ? `${years} ${years === 1 ? "year" : "years"}` : ""),
      fact("Received", Number.isFinite(created)
        ? h("time", { datetime: isoTime(created) }, `${dateTime(created)} (`, ageTime(created), ")") : ""),
      fact("Status", statusWords(doneStatus(ticket))),
      languageWords(ticket.enrichment?.language) ? fact("Language", languageWords(ticket.enrichment.language)) : null,
      fact("Ticket id", h("code", { text: id }))),
    h("h3", { class: "detail__subhead", text: "Description" }),
    h("p", { class: "detail__description", text: typeof ticket.description === "string" ? ticket.description : "" }),
    h("h3", { class: "detail__subhead", text: "Assessment" }),
    analysis(ticket, { audience: "agent" }),
    explanationsView(ticket.enrichment),
    ticket.enrichment?.model_version
      ? h("p", { class: "muted small", text: `Model ${ticket.enrichment.model_version}` }) : null);
}

/** Whether a ticket passes the queue's filters (confidence: the least sure prediction's level, or "none"). */
export function matches(ticket, { category, priority, review, confidence: wanted = "" }) {
  if (category && ticket.category !== category) return false;
  if (wanted && (lowestLevel(ticket.enrichment) ?? "none") !== wanted) return false;
  if (priority === "none" && ticket.enrichment?.priority) return false;
  if (priority && priority !== "none" && ticket.enrichment?.priority !== priority) return false;
  if (review && ticket.enrichment?.needs_review !== true) return false;
  return true;
}

/** The open list's order: still being scored, P1..P4, not scorable; the older first; then by id. */
export function byPriorityThenAge({ id: idA, value: a }, { id: idB, value: b }) {
  return rank(a) - rank(b) || createdAt(a) - createdAt(b) || compareIds(idA, idB);
}

/** The Done list's order: the most recently done first, as the database orders done_at (then by id). */
export function byMostRecentlyDone({ id: idA, value: a }, { id: idB, value: b }) {
  return doneAt(b) - doneAt(a) || compareIds(idB, idA);
}

/** "Model confidence, the least sure shown: priority high, tone low, resolution time medium" (a row's level chip). */
function levelsTitle(enrichment) {
  const parts = HEADS.map((head) => [head, level(enrichment, head)]).filter(([, value]) => value)
    .map(([head, value]) => `${HEAD_NAMES[head].toLowerCase()} ${value}`);
  return `Model confidence, the least sure shown: ${parts.join(", ")}`;
}

const MAX_EXPLANATIONS = 5;

/**
 * One head's explanations as objects: the database keeps them as a JSON text of [feature, kind, weight] triples
 * (ticketml.explain.stored); tickets enriched before that hold a list of {feature, kind, weight}.
 */
function explanationItems(value) {
  if (typeof value !== "string") return asList(value);
  try {
    return asList(JSON.parse(value)).filter(Array.isArray)
      .map(([feature, kind, weight]) => ({ feature, kind, weight }));
  } catch {
    return [];
  }
}

/**
 * The words and fields that moved each prediction most (enrichment.explanations: {head: text of [feature, kind,
 * weight] triples}), or null when there are none (tickets scored before explanations existed).
 */
function explanationsView(enrichment) {
  const all = enrichment?.explanations;
  if (!all || typeof all !== "object") return null;
  const heads = HEADS.map((head) => [head, explanationItems(nameOf(all, head)).filter((item) => item
    && typeof item === "object" && typeof item.feature === "string" && item.feature && Number.isFinite(item.weight))
    .slice(0, MAX_EXPLANATIONS)])
    .filter(([, items]) => items.length > 0);
  if (heads.length === 0) return null;
  const predicted = {
    priority: typeof enrichment.priority === "string" ? enrichment.priority : null,
    sentiment: sentimentWords(enrichment.sentiment),
    resolution: resolutionText(enrichment.resolution_hours),
  };
  return h("section", { class: "why", "data-testid": "explanations", "aria-labelledby": "why-title" },
    h("h3", { class: "detail__subhead", id: "why-title", text: "What moved the predictions" }),
    h("p", { class: "muted small", text: "The words of the ticket and its fields that weighed most. For the resolution "
      + "time, + made the estimate longer and − shorter." }),
    h("div", { class: "why__heads" }, heads.map(([head, items]) => h("div", { class: "why__head", dataset: { head } },
      h("h4", { class: "why__title" }, HEAD_NAMES[head], predicted[head] ? h("span", { class: "muted", text: ` · ${predicted[head]}` }) : null),
      h("ol", { class: "why__list" }, items.map(({ feature, kind, weight }) => {
        const word = kind === "word";
        return h("li", { class: "why__item", dataset: { kind: word ? "word" : "field" } },
          h(word ? "q" : "code", { class: "why__feature", text: feature }),
          h("span", { class: "why__kind", text: word ? " word" : " field" }),
          h("span", { class: `why__weight why__weight--${weight < 0 ? "minus" : "plus"}`, text: signed(weight) }));
      }))))));
}

/** +0.42, −0.05 (a true minus sign). */
function signed(weight) {
  const text = Math.abs(weight).toFixed(2);
  return weight < 0 ? `−${text}` : `+${text}`;
}

/** An age ("5 min ago") that the queue renews in place (it finds it by data-since). */
function ageTime(ms, { title = null } = {}) {
  return h("time", { datetime: isoTime(ms), title, dataset: { since: String(ms) }, text: age(ms) });
}

function fact(label, value) {
  const key = label.toLowerCase().replace(/ /g, "-"); // "Ticket id" -> data-fact="ticket-id", for the layout
  return h("div", { class: "facts__row", dataset: { fact: key } }, h("dt", { text: label }), h("dd", {}, value));
}

function rank(ticket) {
  const known = nameOf(PRIORITY_RANK, ticket.enrichment?.priority);
  if (known !== null) return known;
  return ticket.enrichment_error ? UNSCORED_RANK : PENDING_RANK;
}

function createdAt(ticket) {
  const t = Number(ticket.created_at);
  return Number.isFinite(t) ? t : Number.MAX_SAFE_INTEGER;
}

function doneAt(ticket) {
  if (Number.isFinite(ticket.done_at)) return ticket.done_at;
  // Closed by a tool that did not write done_at: the outcome's own times.
  const r = ticket.resolution ?? {};
  return Number(r.recorded_at ?? r.closed_at ?? r.solved_at ?? ticket.created_at) || 0;
}

function doneStatus(ticket) {
  return DONE_STATUSES.has(ticket.resolution?.status) ? ticket.resolution.status : ticket.status;
}

function isDone(ticket) {
  return DONE_STATUSES.has(ticket.status) || DONE_STATUSES.has(ticket.resolution?.status);
}

// Database keys compare by UTF-16 code units, as JavaScript compares strings.
function compareIds(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
