"""Screenshots of both pages at desktop and phone widths, saved as test artifacts; no page overflows.

The queue is shown with a realistic mix of tickets, enriched by the real function, and its sign-in
form empty, with an error, and for an account that is not an agent.
"""

import time

import pytest
from playwright.sync_api import expect

from tests.web.pages import AGENT, DESKTOP, PHONE, QueuePage, SubmitPage, save_screenshot, ticket

ENRICHED_MS = 15_000
SAMPLES = [
    ("performance", "issue", 4, "Checkout times out for all our customers",
     "Since the release at 9:00 every checkout takes 40 seconds and then fails. We are losing sales every minute!"),
    ("billing", "request", 1, "Invoice shows our old VAT number",
     "Hello, could you reissue the March invoice with our new VAT number? Thanks a lot."),
    ("authentication", "request", 1, "Single sign-on for a second team",
     "We love the product and would like to add SSO for our design team as well. Great work!"),
    ("technical", "issue", 3, "API returns 500 on every export",
     "The export endpoint fails with HTTP 500 for every request since this morning. Our nightly jobs are broken."),
    ("technical", "request", 0, "How do I transfer workspace ownership?",
     "Our admin is leaving the company next month. What is the procedure to move the workspace to me?"),
    ("authentication", "issue", 2, "Password reset e-mail never arrives",
     "Two of my colleagues asked for a password reset yesterday and nothing arrived, not even in spam."),
]


def seed_queue(db) -> list[str]:
    """Replace every ticket, as the admin, with exactly the samples, enriched and linked; the second one solved.

    Called right before the queue's screenshots: the stack is shared, and tickets sent by earlier
    tests (this one's form included) would show up as extra rows.
    """
    db.delete("tickets")
    ids = []
    for category, kind, impact, subject, description in SAMPLES:
        ids.append(db.push("tickets", ticket(category=category, type=kind, impact=impact, subject=subject,
                                             description=description, contact={"name": "Sam Rivera", "email": "sam@example.com"})))
        time.sleep(0.005)
    deadline = time.monotonic() + ENRICHED_MS / 1000
    while time.monotonic() < deadline and not all(db.get(f"tickets/{i}/helpdesk") for i in ids):
        time.sleep(0.1)
    now_ms = int(time.time() * 1000)  # as the helpdesk webhook writes an outcome
    db.patch(f"tickets/{ids[1]}", {"status": "solved", "done_at": now_ms, "resolution": {
        "status": "solved", "final_priority": "P4", "solved_at": now_ms, "recorded_at": now_ms}})
    assert sorted(db.get("tickets")) == sorted(ids), "only the samples may be in the queue"
    return ids


def assert_fits(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("size,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_sign_in_screenshots(new_page, site, accounts, size, viewport):
    queue = QueuePage(new_page(viewport), site).open(sign_in=False)
    save_screenshot(queue.page, f"queue-sign-in-{size}")
    assert_fits(queue.page)
    queue.sign_in(AGENT["email"], "not-the-password")
    expect(queue.sign_in_error).not_to_be_empty()
    save_screenshot(queue.page, f"queue-sign-in-error-{size}")
    assert_fits(queue.page)

    email = accounts.create("clerk@example.com", "clerk-password")
    queue.sign_in(email, "clerk-password")
    expect(queue.not_agent).to_be_visible()
    save_screenshot(queue.page, f"queue-not-agent-{size}")
    assert_fits(queue.page)


@pytest.mark.parametrize("size,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots(new_page, site, db, size, viewport):
    page = new_page(viewport)
    form = SubmitPage(page, site).open()
    save_screenshot(page, f"form-{size}")
    assert_fits(page)
    form.send()
    form.fill(email="not-an-address", type=None, impact=None, seniority=None).force(subject="x" * 205).send()
    save_screenshot(page, f"form-errors-{size}")
    assert_fits(page)

    form.fill().send()
    form.wait_linked()
    save_screenshot(page, f"card-{size}")
    assert_fits(page)

    sample_queue = seed_queue(db)
    queue = QueuePage(new_page(viewport), site).open()
    expect(queue.open_row(sample_queue[0]).locator(".badge__code")).to_be_visible()
    queue.page.locator("#done-details > summary").click()  # done tickets load on demand
    expect(queue.done_row(sample_queue[1])).to_be_visible()
    expect(queue.page.locator(".ticket-row")).to_have_count(len(SAMPLES))
    save_screenshot(queue.page, f"queue-{size}")
    assert_fits(queue.page)
    queue.open_row(sample_queue[0]).locator(".ticket-row__open").click()
    expect(queue.detail).to_be_visible()
    save_screenshot(queue.page, f"queue-detail-{size}", full_page=False)
