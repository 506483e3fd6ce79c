"""The agent queue follows the database live: new tickets, enrichment, edits at any depth, closing."""

import json
import time

import requests
from playwright.sync_api import expect

from tests.web.pages import HELPDESK_TOKEN, QueuePage, ticket

ENRICHED_MS = 15_000


def test_queue_shows_enrichment_by_the_function_and_sorts_by_priority_then_age(new_page, site, db):
    queue = QueuePage(new_page(), site).open()
    ids = []
    for category in ("technical", "billing", "performance"):
        ids.append(db.push("tickets", ticket(subject=f"Queue order {category}", category=category)))
        time.sleep(0.01)  # distinct created_at
    oldest, middle, newest = ids
    for ticket_id in ids:  # enriched by the function, another process
        expect(queue.open_row(ticket_id).locator(".badge__code")).to_have_count(1, timeout=ENRICHED_MS)

    # A multi-path patch (keys are deep paths), as an agent tool would send.
    db.patch("tickets", {f"{oldest}/enrichment/priority": "P3", f"{middle}/enrichment/priority": "P1",
                         f"{newest}/enrichment/priority": "P3"})
    expect(queue.open_row(middle).locator(".badge__code")).to_have_text("P1")
    assert queue.open_order(ids) == [middle, oldest, newest]

    # A put deep inside one ticket.
    db.put(f"tickets/{newest}/enrichment/priority", "P2")
    expect(queue.open_row(newest).locator(".badge__code")).to_have_text("P2")
    assert queue.open_order(ids) == [middle, newest, oldest]

    db.put(f"tickets/{oldest}/enrichment/priority", "P1")  # same priority: the older first
    expect(queue.open_row(oldest).locator(".badge__code")).to_have_text("P1")
    assert queue.open_order(ids) == [oldest, middle, newest]

    db.delete(f"tickets/{middle}")
    expect(queue.row(middle)).to_have_count(0)


def test_closed_and_solved_tickets_move_to_done(new_page, site, db, stack):
    queue = QueuePage(new_page(), site).open()
    closed_id = db.push("tickets", ticket(subject="Will be closed by another process"))
    solved_id = db.push("tickets", ticket(subject="Will be solved in the helpdesk"))
    expect(queue.open_row(closed_id)).to_be_visible()
    expect(queue.open_row(solved_id).locator(".helpdesk-id")).to_be_visible(timeout=ENRICHED_MS)

    db.patch(f"tickets/{closed_id}", {"status": "closed",
                                      "resolution": {"status": "closed", "final_priority": "P2",
                                                     "closed_at": int(time.time() * 1000)}})
    expect(queue.open_row(closed_id)).to_have_count(0)
    expect(queue.done_row(closed_id)).to_have_count(1)
    queue.page.locator("#done-details > summary").click()
    expect(queue.done_row(closed_id).locator(".flag-chip--done")).to_have_text("Closed")

    # The real flow: an agent solves it in the helpdesk, whose webhook writes the resolution.
    helpdesk_id = db.get(f"tickets/{solved_id}/helpdesk/id")
    response = requests.put(f"{stack.urls['helpdesk']}api/v2/tickets/{helpdesk_id}.json",
                            json={"ticket": {"status": "solved"}},
                            headers={"Authorization": f"Bearer {HELPDESK_TOKEN}"}, timeout=10)
    response.raise_for_status()
    expect(queue.done_row(solved_id).locator(".flag-chip--done")).to_have_text("Solved", timeout=ENRICHED_MS)
    expect(queue.open_row(solved_id)).to_have_count(0)


def test_filters_by_category_priority_and_review(new_page, site, db):
    queue = QueuePage(new_page(), site).open()
    billing = db.push("tickets", ticket(subject="Filter billing", category="billing"))
    technical = db.push("tickets", ticket(subject="Filter technical", category="technical"))
    for ticket_id in (billing, technical):
        expect(queue.open_row(ticket_id).locator(".badge__code")).to_have_count(1, timeout=ENRICHED_MS)
    db.patch("tickets", {f"{billing}/enrichment/priority": "P4", f"{billing}/enrichment/needs_review": True,
                         f"{technical}/enrichment/priority": "P2", f"{technical}/enrichment/needs_review": False})
    expect(queue.open_row(billing).locator(".flag-chip--review")).to_be_visible()

    page = queue.page
    page.select_option("#filter-category", "billing")
    expect(queue.open_row(billing)).to_be_visible()
    expect(queue.row(technical)).to_have_count(0)
    expect(page.locator("#open-count")).to_contain_text(" of ")

    page.select_option("#filter-category", "")
    page.select_option("#filter-priority", "P2")
    expect(queue.open_row(technical)).to_be_visible()
    expect(queue.row(billing)).to_have_count(0)

    page.select_option("#filter-priority", "")
    page.check("#filter-review")
    expect(queue.open_row(billing)).to_be_visible()
    expect(queue.row(technical)).to_have_count(0)

    page.click("#filter-clear")
    expect(queue.open_row(technical)).to_be_visible()
    expect(queue.open_row(billing)).to_be_visible()


def test_detail_opens_on_click_updates_live_and_closes_with_escape(new_page, site, db):
    queue = QueuePage(new_page(), site).open()
    ticket_id = db.push("tickets", ticket(subject="Detail please", description="Line one\nLine two"))
    row = queue.open_row(ticket_id)
    expect(row.locator(".badge__code")).to_have_count(1, timeout=ENRICHED_MS)
    row.locator(".ticket-row__open").focus()
    queue.page.keyboard.press("Enter")
    detail = queue.detail
    expect(detail).to_be_visible()
    expect(detail.locator("#detail-title")).to_have_text("Detail please")
    assert detail.locator(".detail__description").text_content() == "Line one\nLine two"
    expect(detail).to_contain_text("Ann Example")
    expect(detail.get_by_role("link", name="<ann@example.com>")).to_have_attribute("href", "mailto:ann@example.com")
    status = detail.locator(".facts__row", has=queue.page.locator("dt", has_text="Status")).locator("dd")
    expect(status).to_have_text("New")  # words, not the stored "new"

    db.patch(f"tickets/{ticket_id}/enrichment", {"needs_review": True, "sentiment": {"label": "negative", "score": -0.9}})
    expect(detail.get_by_test_id("needs-review")).to_be_visible()
    expect(detail.locator(".detail__badges .sentiment--negative")).to_have_text("Very negative")

    title = detail.locator("#detail-title").bounding_box()
    gap = (title["x"] + 40, title["y"] + title["height"] + 4)  # in the title's margin: the dialog itself
    assert queue.page.evaluate("([x, y]) => document.elementFromPoint(x, y).id", list(gap)) == "detail"
    queue.page.mouse.click(*gap)
    expect(detail).to_be_visible()
    queue.page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    expect(row.locator(".ticket-row__open")).to_be_focused()

    row.locator(".ticket-row__open").click()
    expect(detail).to_be_visible()
    queue.page.mouse.click(5, 5)  # on the backdrop
    expect(detail).to_be_hidden()

    db.patch(f"tickets/{ticket_id}", {"status": "solved", "resolution": {"status": "solved", "final_priority": "P3",
                                                                        "solved_at": int(time.time() * 1000)}})
    queue.page.locator("#done-details > summary").click()
    queue.done_row(ticket_id).locator(".ticket-row__open").click()
    expect(status).to_have_text("Solved")


def test_queue_reconnects_after_the_stream_drops_and_takes_the_fresh_snapshot(new_page, site, db):
    real = db.push("tickets", ticket(subject="Still here after the reconnect"))
    page = new_page()
    ghost = {"-ghost": ticket(subject="Only in the dropped stream", created_at=1)}
    dropped = f"retry: 200\n\nevent: put\ndata: {json.dumps({'path': '/', 'data': ghost})}\n\n"
    # Until unrouted, every stream connection answers one snapshot and ends, as a dropped connection does.
    page.route("**/tickets.json?*", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream", "Access-Control-Allow-Origin": "*"}, body=dropped))
    queue = QueuePage(page, site).open(live=False)
    state = page.locator("#live-state")
    expect(queue.open_row("-ghost")).to_be_visible()
    expect(state).to_have_attribute("data-state", "reconnecting")

    page.unroute("**/tickets.json?*")
    expect(state).to_have_attribute("data-state", "live")
    expect(queue.open_row(real)).to_be_visible()
    expect(queue.row("-ghost")).to_have_count(0)  # the server's fresh put at "/" replaces everything
