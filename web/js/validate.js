/**
 * The ticket form's checks, mirroring the database rules (database.rules.json) exactly, so a
 * customer learns what to fix before sending anything instead of a bare "Permission denied".
 * (The function's own check, functions/enrichment/validate.py, counts lengths in code points, so it
 * never refuses a length the rules allowed.)
 *
 * Lengths count UTF-16 code units, as the rules' `.length` does (and JavaScript's, and the
 * `maxlength` attribute's): an emoji is 2, "é" is 1.
 */

export const LIMITS = { subject: 200, description: 5000, name: 100, email: 254, seniority: 100 };
export const CHOICES = {
  category: ["technical", "performance", "authentication", "billing"],
  type: ["request", "issue"],
  experience: ["beginner", "experienced", "advanced", "trainer"],
  impact: ["0", "1", "2", "3", "4"],
};
// The rules' pattern (JavaScript's \s, as the rules use): something@something.something, no spaces.
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const CHOICE_PROMPTS = {
  category: "Choose what the problem is about.",
  type: "Choose whether you need something or something is broken.",
  experience: "Choose how experienced you are with the product.",
  impact: "Choose how much this affects your work.",
};

/** A string's length as the database rules count it: UTF-16 code units. */
export function length(text) {
  return String(text).length;
}

/**
 * The message for one field's value, or "" when it is fine.
 *
 * @param {string} name  a form field name: subject, description, name, email, seniority,
 *   category, type, experience, impact.
 * @param {string} raw  the control's value as the form gives it.
 */
export function check(name, raw) {
  const value = String(raw ?? "").trim();
  switch (name) {
    case "subject": return text(value, "a subject", "Subject", LIMITS.subject);
    case "description": return text(value, "a description of the problem", "Description", LIMITS.description);
    case "name": return text(value, "your name", "Name", LIMITS.name);
    case "email":
      if (!value) return "Enter your e-mail address so we can reply.";
      if (length(value) > LIMITS.email) return tooLong("E-mail address", value, LIMITS.email);
      return EMAIL.test(value) ? "" : `"${clip(value)}" is not an e-mail address. Use the form name@example.com.`;
    case "seniority": {
      if (!value) return "Enter how many years you have been a customer.";
      const years = Number(value);
      if (!Number.isFinite(years) || years < 0 || years > LIMITS.seniority) {
        return `"${clip(value)}" is not a number of years. Enter a number from 0 to ${LIMITS.seniority}.`;
      }
      return "";
    }
    default:
      if (Object.hasOwn(CHOICES, name)) return CHOICES[name].includes(value) ? "" : CHOICE_PROMPTS[name];
      throw new Error(`Invalid field: "${name}". Expected one of ${Object.keys(FIELDS).join(", ")}.`);
  }
}

/** Every field name check() knows, in form order. */
export const FIELDS = Object.freeze(Object.fromEntries(
  ["category", "type", "impact", "subject", "description", "name", "email", "seniority", "experience"]
    .map((name) => [name, true]),
));

/** The ticket the database expects, from trimmed form values (call after the checks pass). */
export function toTicket(values) {
  const clean = (name) => String(values[name] ?? "").trim();
  return {
    subject: clean("subject"),
    description: clean("description"),
    contact: { name: clean("name"), email: clean("email") },
    category: clean("category"),
    type: clean("type"),
    impact: Number(clean("impact")),
    experience: clean("experience"),
    seniority: Number(clean("seniority")),
    created_at: { ".sv": "timestamp" },
    status: "new",
  };
}

function text(value, what, label, limit) {
  if (!value) return `Enter ${what}.`;
  return length(value) > limit ? tooLong(label, value, limit) : "";
}

function tooLong(label, value, limit) {
  const n = length(value);
  const message = `${label} is ${n.toLocaleString("en")} characters long; the limit is ${limit.toLocaleString("en")}. ` +
    `Shorten it by ${(n - limit).toLocaleString("en")}.`;
  // Emoji and other characters outside the Basic Multilingual Plane are two UTF-16 units.
  return n > [...value].length ? `${message} Emoji and some symbols count as 2 characters.` : message;
}

function clip(value) {
  const characters = [...value]; // never cut an emoji in half
  return characters.length > 40 ? `${characters.slice(0, 37).join("")}...` : value;
}
