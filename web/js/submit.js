/**
 * The submit page: check the form as the database would, send the ticket, then follow it live.
 *
 * Sending is safe to repeat: the ticket's key is a push id made here once per submission and kept
 * until the ticket is received, and the database only ever creates at a key. So when an answer is lost
 * (the connection drops after the database wrote the ticket) and the customer sends again, the second
 * attempt finds the ticket the first one wrote and reports it, instead of making another.
 *
 * Imports db.js for everything that touches the database, auth.js for the customer's anonymous
 * sign-in, validate.js for the checks, card.js for the live card, pushid.js for the key.
 */

import { AuthError, signedIn } from "./auth.js";
import { DbError, connect, create, listen } from "./db.js";
import { announce, fill } from "./dom.js";
import { PRIORITY_NAMES, nameOf } from "./format.js";
import { analysis } from "./card.js";
import { nextPushId } from "./pushid.js";
import { equal } from "./tree.js";
import { FIELDS, check, length, toTicket } from "./validate.js";

const form = document.getElementById("ticket-form");
const status = document.getElementById("form-status");
const send = document.getElementById("send");
const compose = document.getElementById("compose");
const result = document.getElementById("result");
const pageAlert = document.getElementById("page-alert");
const resultNote = document.getElementById("result-note");
// What the customer fills in; the rest of a stored ticket is the database's (created_at) or the function's.
const SUBMITTED_FIELDS = ["subject", "description", "contact", "category", "type", "impact", "experience", "seniority"];

const ready = connect({ role: "customer" });
ready.catch((error) => showPageAlert(error.message));

let attempted = false;          // after the first submit, every field is checked as it changes
const touched = new Set();      // fields the person has left at least once
let stream = null;
let submissionId = null;        // the key of the ticket being sent, kept across retries until it is received

form.addEventListener("submit", onSubmit);
form.addEventListener("input", (event) => onEdit(event.target, false));
form.addEventListener("change", (event) => onEdit(event.target, false));
form.addEventListener("focusout", (event) => onEdit(event.target, true));
document.getElementById("another").addEventListener("click", startOver);
for (const name of ["subject", "description"]) updateCounter(name);

async function onSubmit(event) {
  event.preventDefault();
  attempted = true;
  const invalid = Object.keys(FIELDS).filter((name) => !showCheck(name));
  if (invalid.length) {
    status.textContent = invalid.length === 1
      ? "One field needs your attention."
      : `${invalid.length} fields need your attention.`;
    focusField(invalid[0]);
    return;
  }
  status.textContent = "";
  setBusy(true);
  const ticket = toTicket(values());
  try {
    await ready;
    // Anonymous, once per browser. The rules require the creator's uid on the ticket; a user can
    // then read what they created.
    const { uid } = await signedIn();
    submissionId ??= nextPushId();
    const id = submissionId;
    const sent = { ...ticket, uid };
    const { created, value: stored } = await create(`tickets/${id}`, sent);
    if (!created && stored?.uid !== uid) {
      submissionId = null; // someone else's ticket holds this key: the next attempt makes a new one
      status.textContent = "The ticket database already holds another ticket under this reference. Send it again.";
      return;
    }
    submissionId = null; // received: the next ticket gets a key of its own
    follow(id, created ? ticket : stored);
    // A retry found the first attempt's ticket; edits made in between were not sent, so say so.
    const edited = !created && SUBMITTED_FIELDS.some((name) => !equal(stored[name], ticket[name]));
    resultNote.textContent = edited
      ? "Your first attempt had already reached us, so this is the ticket as you first sent it. Changes made after it were not saved."
      : "";
    resultNote.hidden = !edited;
  } catch (error) {
    if (!(error instanceof DbError || error instanceof AuthError)) throw error;
    status.textContent = error instanceof DbError && error.kind === "refused"
      ? `The ticket database refused your ticket: ${error.message}`
      : `${error.message} Your ticket is still here.`;
  } finally {
    setBusy(false);
  }
}

function onEdit(target, leaving) {
  const name = target?.name;
  if (typeof name !== "string" || !Object.hasOwn(FIELDS, name)) return;
  if (name === "subject" || name === "description") updateCounter(name);
  if (leaving && String(target.value).trim()) touched.add(name);
  // Radio groups: moving between options is not leaving the group.
  if (leaving && target.type === "radio") return;
  if (attempted || touched.has(name)) showCheck(name);
}

/** Check one field and show (or clear) its message; true when it is fine. */
function showCheck(name) {
  const message = messageFor(name);
  const error = document.getElementById(`${name}-error`);
  error.textContent = message;
  for (const control of controls(name)) control.setAttribute("aria-invalid", message ? "true" : "false");
  form.querySelector(`[data-field="${name}"]`).classList.toggle("field--invalid", Boolean(message));
  return !message;
}

function messageFor(name) {
  const [first] = controls(name);
  if (name === "seniority" && first.validity.badInput) return "Enter a number of years from 0 to 100.";
  return check(name, values()[name]);
}

function values() {
  const data = new FormData(form);
  return Object.fromEntries(Object.keys(FIELDS).map((name) => [name, data.get(name) ?? ""]));
}

function controls(name) {
  return [...form.elements].filter((el) => el.name === name);
}

function focusField(name) {
  const group = controls(name);
  (group.find((el) => el.checked) ?? group[0]).focus();
}

function updateCounter(name) {
  const counter = document.getElementById(`${name}-count`);
  const limit = Number(counter.dataset.limit);
  const n = length(form.elements[name].value); // UTF-16 units, as the rules and maxlength count
  // At the limit, maxlength stops typing and cuts what is pasted: say so next to the field.
  counter.textContent = `${n === limit ? "Limit reached: " : ""}${n.toLocaleString("en")} / ${limit.toLocaleString("en")}`;
  counter.classList.toggle("counter--full", n === limit);
  counter.classList.toggle("counter--over", n > limit);
}

function setBusy(busy) {
  send.disabled = busy;
  send.textContent = busy ? "Sending…" : "Send ticket";
  form.setAttribute("aria-busy", String(busy));
}

function showPageAlert(message) {
  pageAlert.textContent = message;
  pageAlert.hidden = false;
}

// ---- after sending: the live card ---------------------------------------------------------

function follow(id, sent) {
  document.getElementById("ticket-ref").textContent = id;
  document.getElementById("ticket-subject").textContent = sent.subject;
  document.getElementById("ticket-description").textContent = sent.description;
  const analysisEl = document.getElementById("ticket-analysis");
  const stateEl = document.getElementById("stream-state");
  result.dataset.ticketId = id;
  fill(analysisEl, analysis(sent));
  compose.hidden = true;
  result.hidden = false;
  document.getElementById("result-title").focus();
  window.scrollTo({ top: 0 });

  let seen = { enrichment: false, helpdesk: false, error: false };
  stream = listen(`tickets/${id}`, {
    onValue(ticket) {
      if (!ticket) return; // not visible yet, or deleted by an agent: keep what we showed
      document.getElementById("ticket-subject").textContent = ticket.subject ?? sent.subject;
      document.getElementById("ticket-description").textContent = ticket.description ?? sent.description;
      fill(analysisEl, analysis(ticket));
      seen = announceProgress(ticket, seen);
    },
    onState(state, detail) {
      stateEl.dataset.state = state;
      stateEl.textContent = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", denied: detail }[state];
    },
  });
}

function announceProgress(ticket, seen) {
  const next = { enrichment: Boolean(ticket.enrichment), helpdesk: Boolean(ticket.helpdesk), error: Boolean(ticket.enrichment_error) };
  if (next.enrichment && !seen.enrichment) {
    const p = ticket.enrichment.priority;
    announce(`Your ticket was assessed: priority ${p}, ${nameOf(PRIORITY_NAMES, p) ?? "unknown"}.`);
  } else if (next.error && !seen.error) {
    announce("We could not process your ticket. See the message on the card.");
  } else if (next.helpdesk && !seen.helpdesk) {
    announce("Your ticket is now in our helpdesk.");
  }
  return next;
}

function startOver() {
  stream?.close();
  stream = null;
  form.reset();
  attempted = false;
  touched.clear();
  for (const name of Object.keys(FIELDS)) {
    document.getElementById(`${name}-error`).textContent = "";
    for (const control of controls(name)) control.removeAttribute("aria-invalid");
    form.querySelector(`[data-field="${name}"]`).classList.remove("field--invalid");
  }
  for (const name of ["subject", "description"]) updateCounter(name);
  status.textContent = "";
  submissionId = null;
  resultNote.hidden = true;
  result.hidden = true;
  delete result.dataset.ticketId;
  compose.hidden = false;
  form.elements.category.focus();
}
