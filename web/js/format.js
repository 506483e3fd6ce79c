/**
 * Words for what the model and the database say: priority names, sentiment, human durations,
 * ages. Pure functions of their arguments, so the tests can call them directly.
 */

export const PRIORITIES = ["P1", "P2", "P3", "P4"];
export const PRIORITY_NAMES = { P1: "Urgent", P2: "High", P3: "Normal", P4: "Low" };
export const CATEGORY_NAMES = {
  technical: "Technical", performance: "Performance", authentication: "Sign-in & access", billing: "Billing",
};
export const TYPE_NAMES = { request: "Request", issue: "Issue" };
export const IMPACT_NAMES = ["None", "Low", "Moderate", "High", "Critical"];
export const EXPERIENCE_NAMES = {
  beginner: "Beginner", experienced: "Experienced", advanced: "Advanced", trainer: "Trainer",
};
// The database writes new, solved and closed; the rest are the helpdesk's, should a tool copy them.
export const STATUS_NAMES = {
  new: "New", open: "Open", pending: "Pending", hold: "On hold", solved: "Solved", closed: "Closed",
};
const SENTIMENT_WORDS = { negative: "Negative", neutral: "Neutral", positive: "Positive" };

/** `names[key]` if it is one of the map's own entries, else null (data may say "constructor"). */
export function nameOf(names, key) {
  return typeof key === "string" && Object.hasOwn(names, key) ? names[key] : null;
}
const STRONG_SENTIMENT = 0.6;
const HOUR_MS = 3600 * 1000;

/** A ticket status in words ("New", "Solved"); an unknown string as it is, "" when absent. */
export function statusWords(status) {
  if (typeof status !== "string") return "";
  return nameOf(STATUS_NAMES, status) ?? status;
}

/** The model's confidence in its chosen priority, as a whole percentage, or null. */
export function confidence(enrichment) {
  const scores = enrichment?.priority_scores;
  const score = scores && typeof scores === "object" ? nameOf(scores, enrichment.priority) : null;
  return typeof score === "number" && Number.isFinite(score) ? Math.round(score * 100) : null;
}

// The model's confidence levels (enrichment.confidence, one per head), least sure first.
export const LEVELS = ["low", "medium", "high"];
export const LEVEL_NAMES = { low: "Low", medium: "Medium", high: "High" };
export const HEADS = ["priority", "sentiment", "resolution"];
export const HEAD_NAMES = { priority: "Priority", sentiment: "Tone", resolution: "Resolution time" };

/** The confidence level of one head ("high" | "medium" | "low"), or null (old tickets have none). */
export function level(enrichment, head) {
  const levels = enrichment?.confidence;
  const value = levels && typeof levels === "object" ? nameOf(levels, head) : null;
  return nameOf(LEVEL_NAMES, value) ? value : null;
}

/** The least sure of the heads' levels, or null when the enrichment has none. */
export function lowestLevel(enrichment) {
  let lowest = null;
  for (const head of HEADS) {
    const value = level(enrichment, head);
    if (value !== null && (lowest === null || LEVELS.indexOf(value) < LEVELS.indexOf(lowest))) lowest = value;
  }
  return lowest;
}

const LANGUAGE_NAMES = (() => {
  try {
    return new Intl.DisplayNames(["en"], { type: "language", fallback: "none" });
  } catch {
    return null;
  }
})();

/** "French (fr)", "Undetermined" for "und", the code itself when unknown; null when absent. */
export function languageWords(code) {
  if (typeof code !== "string" || !code) return null;
  if (code === "und") return "Undetermined";
  let name = null;
  try {
    name = LANGUAGE_NAMES?.of(code) ?? null;
  } catch {
    name = null; // not a well-formed code
  }
  return name && name !== code ? `${name} (${code})` : code;
}

/** Why a ticket needs review, in words: "language:fr" -> "Written in French (fr), ..."; unknown ones as they are. */
export function reviewReasonWords(reason) {
  if (typeof reason !== "string") return null;
  if (reason === "empty_text") return "No subject or description to read";
  const [kind, detail] = reason.split(/:(.*)/s);
  if (kind === "language" && detail) return `Written in ${languageWords(detail)}, a language the model was not trained on`;
  if (kind === "low_confidence" && detail) {
    const head = nameOf(HEAD_NAMES, detail);
    return `Low confidence in the ${head ? head.toLowerCase() : detail}`;
  }
  return reason;
}

/** "Negative", "Very negative", "Neutral"... from {label, score}; null when absent. */
export function sentimentWords(sentiment) {
  const label = sentiment?.label;
  const word = nameOf(SENTIMENT_WORDS, label);
  if (!word) return null;
  const strong = label !== "neutral" && Math.abs(Number(sentiment.score) || 0) >= STRONG_SENTIMENT;
  return strong ? `Very ${word.toLowerCase()}` : word;
}

/** The sentiment label if it is a known one ("negative" | "neutral" | "positive"), else "unknown". */
export function sentimentKey(sentiment) {
  return nameOf(SENTIMENT_WORDS, sentiment?.label) ? sentiment.label : "unknown";
}

/**
 * A duration in hours as words: "20 minutes", "6 hours", "2 days", "3 weeks".
 *
 * @param {number} hours
 * @param {"round"|"ceil"} mode  "ceil" for upper bounds, so "at most" never understates.
 */
export function humanDuration(hours, mode = "round") {
  const fit = mode === "ceil" ? Math.ceil : Math.round;
  const minutes = hours * 60;
  if (minutes < 55) {
    const n = Math.max(5, fit(minutes / 5) * 5);
    return n >= 60 ? "1 hour" : `${n} minutes`;
  }
  if (hours < 23.5) return plural(Math.max(1, fit(hours)), "hour");
  const days = hours / 24;
  if (days < 13.5) return plural(Math.max(1, fit(days)), "day");
  return plural(Math.max(2, fit(days / 7)), "week");
}

/** "about 6 hours, at most 2 days" from {p50, p90}; null when either is missing. */
export function resolutionText(resolutionHours) {
  const p50 = Number(resolutionHours?.p50);
  const p90 = Number(resolutionHours?.p90);
  if (!Number.isFinite(p50) || !Number.isFinite(p90) || p50 < 0 || p90 < 0) return null;
  const typical = humanDuration(p50, "round");
  const worst = humanDuration(Math.max(p50, p90), "ceil");
  return typical === worst ? `about ${typical}` : `about ${typical}, at most ${worst}`;
}

/** "just now", "4 min ago", "3 h ago", "2 days ago" for a time in ms since the epoch. */
export function age(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return "";
  const minutes = Math.floor(Math.max(0, now - ms) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

// One formatter for the page: toLocaleString() builds a new one per call, about 0.2 ms each, which a queue
// of thousands of rows would pay per row.
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A local date and time for ms since the epoch, or "" when absent. */
export function dateTime(ms) {
  if (!Number.isFinite(ms)) return "";
  return DATE_TIME.format(ms);
}

/** An ISO string for a <time datetime> attribute, or null. */
export function isoTime(ms) {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** Hours between two times in ms, in words ("about 3 hours"), or "". */
export function elapsed(fromMs, toMs) {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs < fromMs) return "";
  return humanDuration((toMs - fromMs) / HOUR_MS);
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
