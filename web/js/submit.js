/**
 * The submit page: check the form as the database would, send the ticket, then follow it live.
 *
 * Imports db.js for everything that touches the database, auth.js for the customer's anonymous
 * sign-in, validate.js for the checks, card.js for the live card.
 */

import { AuthError, signedIn } from "./auth.js";
import { DbError, connect, listen, push } from "./db.js";
import { announce, fill } from "./dom.js";
import { PRIORITY_NAMES, nameOf } from "./format.js";
import { analysis } from "./card.js";
import { FIELDS, check, length, toTicket } from "./validate.js";

const form = document.getElementById("ticket-form");
const status = document.getElementById("form-status");
const send = document.getElementById("send");
const compose = document.getElementById("compose");
const result = document.getElementById("result");
const pageAlert = document.getElementById("page-alert");

const ready = connect({ role: "customer" });
ready.catch((error) => showPageAlert(error.message));

let attempted = false;          // after the first submit, every field is checked as it changes
const touched = new Set();      // fields the person has left at least once
let stream = null;

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
    const id = await push("tickets", { ...ticket, uid });
    follow(id, ticket);
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
  result.hidden = true;
  delete result.dataset.ticketId;
  compose.hidden = false;
  form.elements.category.focus();
}
