/**
 * Views of one ticket's enrichment shared by the submit page's live card and the queue:
 * priority badge, sentiment chip, the analysis (waiting, result, errors) and the helpdesk link.
 */

import { h } from "./dom.js";
import {
  HEAD_NAMES, LEVEL_NAMES, PRIORITY_NAMES, confidence, dateTime, isoTime, level, nameOf, resolutionText,
  reviewReasonWords, sentimentKey, sentimentWords,
} from "./format.js";
import { asList } from "./tree.js";

/** The ticket's priority as a coloured badge, or a neutral "Scoring" / "Not scored" badge. */
export function priorityBadge(ticket) {
  const priority = ticket?.enrichment?.priority;
  const name = nameOf(PRIORITY_NAMES, priority);
  if (name) {
    return h("span", { class: `badge badge--${priority.toLowerCase()}`, title: `Predicted priority ${priority}` },
      h("span", { class: "badge__code", text: priority }), " ", h("span", { class: "badge__name", text: name }));
  }
  if (ticket?.enrichment) return h("span", { class: "badge badge--none", text: "Unknown priority" });
  if (ticket?.enrichment_error) return h("span", { class: "badge badge--none", text: "Not scored" });
  return h("span", { class: "badge badge--pending", text: "Scoring…" });
}

/**
 * The model's confidence in one prediction ("priority", "sentiment" or "resolution") as a chip, "High
 * confidence", or null when the enrichment has no level for it (tickets scored before levels existed).
 */
export function levelChip(enrichment, head) {
  const value = level(enrichment, head);
  if (!value) return null;
  return h("span", {
    class: `level level--${value}`, dataset: { head, level: value },
    title: `How sure the model is of the ${HEAD_NAMES[head].toLowerCase()}`, text: `${LEVEL_NAMES[value]} confidence`,
  });
}

/** The customer's sentiment as a coloured word, or null when unknown. */
export function sentimentChip(sentiment) {
  const words = sentimentWords(sentiment);
  if (!words) return null;
  const score = Number(sentiment.score);
  const title = Number.isFinite(score) ? `Sentiment score ${score.toFixed(2)} (−1 to 1)` : null;
  return h("span", { class: `sentiment sentiment--${sentimentKey(sentiment)}`, title },
    h("span", { class: "sentiment__dot", "aria-hidden": "true" }), words);
}

/**
 * The enrichment of a ticket as it stands: waiting, result, or error; then the helpdesk link.
 *
 * @param {object} ticket  the ticket's current value.
 * @param {{audience?: "customer"|"agent"}} [options]
 */
export function analysis(ticket, { audience = "customer" } = {}) {
  const enrichment = ticket?.enrichment;
  const error = ticket?.enrichment_error;
  const parts = [];
  if (error && !enrichment) parts.push(enrichmentError(error, audience));
  else if (!enrichment) {
    parts.push(h("div", { class: "waiting", "data-state": "waiting" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      h("span", { text: audience === "customer" ? "Reading your ticket and estimating its priority…" : "Scoring…" })));
  } else parts.push(result(ticket, audience));
  parts.push(helpdesk(ticket));
  const outcome = resolution(ticket);
  if (outcome) parts.push(outcome);
  return h("div", { class: "analysis" }, parts);
}

function result(ticket, audience) {
  const { enrichment } = ticket;
  const percent = confidence(enrichment);
  const resolutionWords = resolutionText(enrichment.resolution_hours);
  const rows = [
    row("Priority", "priority", [priorityBadge(ticket),
      percent === null ? null : h("span", { class: "confidence", text: `${percent}% confident` }),
      levelChip(enrichment, "priority")]),
    row("Tone", "sentiment", [sentimentChip(enrichment.sentiment) ?? h("span", { class: "muted", text: "Unknown" }),
      levelChip(enrichment, "sentiment")]),
    row("Expected resolution", "resolution", [resolutionWords ? h("span", { class: "estimate", text: resolutionWords })
      : h("span", { class: "muted", text: "No estimate" }),
      levelChip(enrichment, "resolution")]),
  ];
  // Why it needs review (enrichment.review_reasons), for agents; tickets scored before reasons existed have none.
  const reasons = asList(enrichment.review_reasons).map(reviewReasonWords).filter(Boolean);
  let review = null;
  if (enrichment.needs_review === true && audience === "customer") {
    review = h("p", { class: "flag flag--review", "data-testid": "needs-review" },
      h("strong", { text: "Needs review. " }),
      "The estimate is uncertain, so a person will check the priority of your ticket.");
  } else if (enrichment.needs_review === true && reasons.length === 0) {
    review = h("p", { class: "flag flag--review", "data-testid": "needs-review" },
      h("strong", { text: "Needs review. " }), "The model is unsure of this priority; confirm or change it.");
  } else if (enrichment.needs_review === true) {
    review = h("div", { class: "flag flag--review", "data-testid": "needs-review" },
      h("p", { class: "flag__lead" }, h("strong", { text: "Needs review. " }), "Confirm or change the prediction:"),
      h("ul", { class: "flag__reasons", "data-testid": "review-reasons" }, reasons.map((text) => h("li", { text }))));
  }
  return h("div", { class: "result", "data-state": "enriched" }, h("dl", { class: "facts" }, rows), review);
}

function row(label, key, value) {
  return h("div", { class: "facts__row", "data-fact": key }, h("dt", { text: label }), h("dd", {}, value));
}

function enrichmentError(error, audience) {
  const problems = asList(error.problems).filter((p) => typeof p === "string");
  const message = typeof error.message === "string" ? error.message : "The ticket could not be analysed.";
  return h("div", { class: "notice notice--error", "data-state": "error", role: "alert" },
    h("p", {}, h("strong", { text: audience === "customer" ? "We could not process this ticket. " : "Invalid ticket. " }),
      problems.length > 1 ? "" : message),
    problems.length > 1 ? h("ul", {}, problems.map((p) => h("li", { text: p }))) : null);
}

function helpdesk(ticket) {
  const link = ticket?.helpdesk;
  const url = safeHttpUrl(link?.url);
  if (link && url) {
    const label = link.id !== undefined && link.id !== null ? `Helpdesk ticket #${link.id}` : "Helpdesk ticket";
    return h("p", { class: "helpdesk", "data-state": "linked" },
      h("a", { href: url, class: "helpdesk__link", target: "_blank", rel: "noopener noreferrer" }, label,
        h("span", { class: "visually-hidden", text: " (opens in a new tab)" })),
      link.synced_at ? h("span", { class: "muted helpdesk__synced" }, "Synced ",
        h("time", { datetime: isoTime(link.synced_at), text: dateTime(link.synced_at) })) : null);
  }
  if (ticket?.helpdesk_error) {
    const message = typeof ticket.helpdesk_error.message === "string" ? ticket.helpdesk_error.message : "";
    return h("p", { class: "helpdesk notice notice--warn", "data-state": "helpdesk-error" },
      h("strong", { text: "Helpdesk: " }), message || "the helpdesk refused the ticket.");
  }
  if (ticket?.enrichment) {
    return h("p", { class: "helpdesk muted", "data-state": "syncing" }, "Creating the helpdesk ticket…");
  }
  return null;
}

function resolution(ticket) {
  const outcome = ticket?.resolution;
  const status = outcome?.status ?? (["solved", "closed"].includes(ticket?.status) ? ticket.status : null);
  if (!status) return null;
  const when = outcome?.closed_at ?? outcome?.solved_at;
  return h("p", { class: `outcome outcome--${status === "closed" ? "closed" : "solved"}`, "data-state": status },
    h("strong", { text: status === "closed" ? "Closed" : "Solved" }),
    when ? [" ", h("time", { datetime: isoTime(when), text: dateTime(when) })] : null,
    outcome?.final_priority ? ` · final priority ${outcome.final_priority}` : null);
}

/** The URL if it is an absolute http(s) URL, else null (never a javascript: link). */
export function safeHttpUrl(text) {
  if (typeof text !== "string") return null;
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.toString() : null;
  } catch {
    return null;
  }
}
