"""Sending a ticket is safe to retry: when the database wrote it but the answer was lost, sending again finds it.

The form makes the ticket's key (a push id) once per submission and creates it with a PUT the rules allow only
as a create; these tests lose the first answer after the database committed the ticket, in the page's own
network and by kill -9 of the database, and check that the retry reports success with exactly one ticket in the
database and in the helpdesk.
"""

import uuid

import requests
from playwright.sync_api import expect

from stack import Ports, Stack
from tests.web.pages import HELPDESK_TOKEN, SubmitPage

TICKET_WRITES = "**/tickets/*.json*"
LINKED_MS = 20_000


def lose_the_answer_of_the_first_write(page, after_commit=lambda: None) -> list:
    """Let the first PUT of a ticket reach the database, then drop its answer; return [(url, status)] of it.

    `after_commit` runs once the database has answered (so the write is durable) and before the page is told
    the connection failed.
    """
    committed = []

    def handler(route):
        if route.request.method != "PUT" or committed:
            return route.continue_()
        response = route.fetch()  # the real database writes the ticket and answers...
        committed.append((route.request.url, response.status))
        after_commit()
        route.abort("connectionreset")  # ...and the page never hears it

    page.route(TICKET_WRITES, handler)
    return committed


def ticket_id_of(url: str) -> str:
    return url.split("/tickets/", 1)[1].split(".json", 1)[0]


def tickets_with_subject(database_url: str, namespace: str, subject: str) -> dict:
    everything = requests.get(f"{database_url}/tickets.json", params={"ns": namespace},
                              headers={"Authorization": "Bearer owner"}, timeout=10).json() or {}
    return {k: v for k, v in everything.items() if isinstance(v, dict) and v.get("subject") == subject}


def helpdesk_tickets(helpdesk_url: str, ticket_id: str) -> list:
    r = requests.get(f"{helpdesk_url}api/v2/tickets.json", params={"external_id": ticket_id},
                     headers={"Authorization": f"Bearer {HELPDESK_TOKEN}"}, timeout=10)
    r.raise_for_status()
    return r.json()["tickets"]


def test_a_retry_after_a_lost_answer_reports_the_ticket_the_first_attempt_wrote(page, site, stack):
    subject = f"Lost answer {uuid.uuid4().hex[:8]}"
    form = SubmitPage(page, site).open()
    committed = lose_the_answer_of_the_first_write(page)
    puts = []
    page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)

    form.fill(subject=subject).send()
    expect(form.status).to_contain_text("Could not reach the ticket database")
    expect(form.status).to_contain_text("Your ticket is still here.")
    [(url, status)] = committed
    assert status == 204  # the database did write it (print=silent: no body)
    first_id = ticket_id_of(url)
    assert list(tickets_with_subject(stack.urls["database"], stack.namespace, subject)) == [first_id]

    form.send()  # the customer tries again
    assert form.ticket_id() == first_id
    expect(page.locator("#result-title")).to_have_text("Thanks, we have your ticket")
    expect(page.locator("#result-note")).to_be_hidden()  # nothing changed in between
    assert {ticket_id_of(u) for u in puts} == {first_id}  # one key across both attempts
    form.wait_linked()
    assert list(tickets_with_subject(stack.urls["database"], stack.namespace, subject)) == [first_id]
    assert len(helpdesk_tickets(stack.urls["helpdesk"], first_id)) == 1

    # The next submission is another ticket, with a key of its own.
    page.click("#another")
    form.fill(subject=subject).send()
    second_id = form.ticket_id()
    assert second_id != first_id and second_id > first_id  # push ids sort in creation order
    assert set(tickets_with_subject(stack.urls["database"], stack.namespace, subject)) == {first_id, second_id}


def test_a_retry_with_edits_after_a_lost_answer_says_the_first_version_was_kept(page, site, stack):
    subject = f"Lost answer, then edited {uuid.uuid4().hex[:8]}"
    form = SubmitPage(page, site).open()
    committed = lose_the_answer_of_the_first_write(page)
    form.fill(subject=subject).send()
    expect(form.status).to_contain_text("Could not reach the ticket database")
    first_id = ticket_id_of(committed[0][0])

    form.fill(subject=subject + " (edited)").send()
    assert form.ticket_id() == first_id
    expect(page.locator("#ticket-subject")).to_have_text(subject)  # what the database holds
    expect(page.locator("#result-note")).to_contain_text("Changes made after it were not saved.")
    assert list(tickets_with_subject(stack.urls["database"], stack.namespace, subject)) == [first_id]
    assert tickets_with_subject(stack.urls["database"], stack.namespace, subject + " (edited)") == {}


def test_the_database_killed_between_commit_and_answer_then_a_retry_makes_exactly_one_ticket(
        new_page, model_dir, tmp_path):
    """kill -9 of the database once the ticket is durable and before the page has its answer; then a retry."""
    own = Stack(ports=Ports.free(), data_dir=tmp_path, model_dir=model_dir, min_backoff_s=0.2, max_attempts=50).start()
    try:
        page = new_page()
        subject = f"Killed before the answer {uuid.uuid4().hex[:8]}"
        form = SubmitPage(page, own.urls["hosting"]).open()
        committed = lose_the_answer_of_the_first_write(page, after_commit=lambda: own.stop_one("database", kill=True))
        form.fill(subject=subject).send()
        expect(form.status).to_contain_text("Could not reach the ticket database")
        [(url, status)] = committed
        assert status == 204 and own.check() == {"database": -9}
        first_id = ticket_id_of(url)

        page.unroute(TICKET_WRITES)
        form.send()  # the database is still down: the page says so and keeps the ticket
        expect(form.status).to_contain_text("Could not reach the ticket database")
        own.start_again("database")
        form.send()
        assert form.ticket_id() == first_id
        form.wait_linked()
        assert list(tickets_with_subject(own.urls["database"], own.namespace, subject)) == [first_id]
        assert len(helpdesk_tickets(own.urls["helpdesk"], first_id)) == 1
    finally:
        own.stop()
