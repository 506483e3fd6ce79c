/**
 * The ticket form's checks, mirroring the function's validation (functions/enrichment/validate.py)
 * and the database rules, so a customer learns what to fix before sending anything.
 *
 * Lengths count characters (code points) as Python does, not UTF-16 units.
 */

export const LIMITS = { subject: 200, description: 5000, name: 100, seniority: 100 };
export const CHOICES = {
  category: ["technical", "performance", "authentication", "billing"],
  type: ["request", "issue"],
  experience: ["beginner", "experienced", "advanced", "trainer"],
  impact: ["0", "1", "2", "3", "4"],
};
// The same pattern as the function's: something@something.something, no spaces.
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const CHOICE_PROMPTS = {
  category: "Choose what the problem is about.",
  type: "Choose whether you need something or something is broken.",
  experience: "Choose how experienced you are with the product.",
  impact: "Choose how much this affects your work.",
};

/** Characters in a string, counted as Python's len() does. */
export function length(text) {
  return [...text].length;
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
  const n = length(value);
  if (n > limit) {
    return `${label} is ${n.toLocaleString("en")} characters long; the limit is ${limit.toLocaleString("en")}. ` +
      `Shorten it by ${(n - limit).toLocaleString("en")}.`;
  }
  return "";
}

function clip(value) {
  return value.length > 40 ? `${value.slice(0, 37)}...` : value;
}
