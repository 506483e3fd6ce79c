"""Page objects for web/: the ticket form (index.html) and the agent queue (queue.html).

Tests speak in what a person does (fill the form, send, open a ticket); the selectors live here.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from emulator.identity import DEFAULT_ACCOUNTS
from stack.procs import ROOT

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
HELPDESK_TOKEN = "dev-helpdesk-token"  # the helpdesk stub's local default (HELPDESK_API_TOKEN)
ENRICHED_TIMEOUT_MS = 15_000  # the first prediction of a fresh function instance loads the model
AGENT = DEFAULT_ACCOUNTS[0]  # the Auth emulator's local agent account (agent@example.com)

VALID = {
    "category": "authentication",
    "type": "issue",
    "impact": "3",
    "subject": "Cannot sign in since this morning's update",
    "description": "Since this morning nobody on my team can sign in; every attempt says 'invalid token'. "
                   "This blocks all our work, please help urgently!",
    "name": "Ann Example",
    "email": "ann@example.com",
    "seniority": "3",
    "experience": "experienced",
}
FIELD_ORDER = ["category", "type", "impact", "subject", "description", "name", "email", "seniority", "experience"]


class SubmitPage:
    """index.html: the ticket form, then the live card."""

    def __init__(self, page: Page, site: str):
        self.page, self.site = page, site

    def open(self) -> "SubmitPage":
        self.page.goto(self.site)
        return self

    def fill(self, **fields) -> "SubmitPage":
        values = {**VALID, **fields}
        for name in FIELD_ORDER:
            value = values[name]
            if value is None:
                continue
            if name in ("category", "experience"):
                self.page.select_option(f"#{name}", value)
            elif name in ("type", "impact"):
                self.page.check(f"input[name={name}][value='{value}']")
            else:
                self.page.fill(f"#{name}", value)
        return self

    def force(self, **fields) -> "SubmitPage":
        """Set text fields past their maxlength, as a script, an extension or an older browser can."""
        for name, value in fields.items():
            self.page.eval_on_selector(
                f"#{name}", "(el, value) => { el.value = value; el.dispatchEvent(new Event('input', {bubbles: true})); }",
                value)
        return self

    def send(self) -> None:
        self.page.click("#send")

    def error(self, name: str) -> Locator:
        return self.page.locator(f"#{name}-error")

    @property
    def status(self) -> Locator:
        return self.page.locator("#form-status")

    @property
    def card(self) -> Locator:
        return self.page.locator("#ticket-card")

    def ticket_id(self) -> str:
        expect(self.page.locator("#result")).to_be_visible()
        return self.page.locator("#result").get_attribute("data-ticket-id")

    def wait_enriched(self) -> None:
        expect(self.card.locator("[data-state=enriched]")).to_be_visible(timeout=ENRICHED_TIMEOUT_MS)

    def wait_linked(self) -> None:
        expect(self.card.locator("[data-state=linked]")).to_be_visible(timeout=ENRICHED_TIMEOUT_MS)


class QueuePage:
    """queue.html: the sign-in form, then the live list of tickets."""

    def __init__(self, page: Page, site: str):
        self.page, self.site = page, site

    def open(self, sign_in: bool = True, live: bool = True) -> "QueuePage":
        """Open the queue and wait for its sign-in form; then sign in as the local agent and wait for the live stream.

        Args:
          sign_in: False stops at the form.
          live: False does not wait for the stream (tests that interfere with it).
        """
        self.page.goto(self.site + "queue.html")
        expect(self.sign_in_form).to_be_visible()
        if sign_in:
            self.sign_in(AGENT["email"], AGENT["password"])
            expect(self.page.locator("#queue-view")).to_be_visible()
        if sign_in and live:
            expect(self.page.locator("#live-state")).to_have_attribute("data-state", "live")
        return self

    def sign_in(self, email: str, password: str) -> None:
        """Type into the sign-in form and send it (with the keyboard, as a person would)."""
        expect(self.sign_in_form).to_be_visible()
        self.page.fill("#sign-in-email", email)
        self.page.fill("#sign-in-password", password)
        self.page.press("#sign-in-password", "Enter")

    @property
    def sign_in_form(self) -> Locator:
        return self.page.locator("#sign-in-form")

    @property
    def sign_in_error(self) -> Locator:
        return self.page.locator("#sign-in-error")

    @property
    def account(self) -> Locator:
        return self.page.locator("#account")

    @property
    def not_agent(self) -> Locator:
        return self.page.locator("#not-agent")

    def row(self, ticket_id: str) -> Locator:
        return self.page.locator(f'.ticket-row[data-id="{ticket_id}"]')

    def open_row(self, ticket_id: str) -> Locator:
        return self.page.locator(f'#open-list .ticket-row[data-id="{ticket_id}"]')

    def done_row(self, ticket_id: str) -> Locator:
        return self.page.locator(f'#done-list .ticket-row[data-id="{ticket_id}"]')

    def open_order(self, among: list[str]) -> list[str]:
        """The ids of the open list, in display order, restricted to `among`."""
        ids = self.page.locator("#open-list .ticket-row").evaluate_all("rows => rows.map(r => r.dataset.id)")
        return [i for i in ids if i in among]

    @property
    def detail(self) -> Locator:
        return self.page.locator("#detail")


def save_screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot (the whole page, or the viewport for modal dialogs) as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def ticket(**fields) -> dict:
    """A valid ticket as the form writes it, for writing through REST."""
    base = {
        "subject": VALID["subject"], "description": VALID["description"],
        "contact": {"name": VALID["name"], "email": VALID["email"]},
        "category": VALID["category"], "type": VALID["type"], "impact": 3, "experience": VALID["experience"],
        "seniority": 3, "created_at": {".sv": "timestamp"}, "status": "new",
    }
    return {**base, **fields}
