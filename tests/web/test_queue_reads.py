"""The agent queue reads what it shows: the open tickets live, the done ones a page at a time, and it redraws
only the rows that changed.

These run against the database emulator alone (the project's rules, hosting of web/, its Auth emulator, no
functions), seeded with enriched tickets as the admin, so the data is exactly what each test wrote. Rows are
marked in the page (a property on each row's element) and watched with a MutationObserver, to prove that an
update, a filter or the ticking of ages leaves every other row's DOM as it was.
"""

import json

import pytest
import requests
from playwright.sync_api import expect

from tests.support.procs import ROOT, start_emulator
from tests.web.pages import QueuePage, ticket

ADMIN = {"Authorization": "Bearer owner"}
NOW_MS = 1_764_547_200_000
OPEN, DONE = 30, 140  # done: more than two pages of 50, and done_at values shared by three tickets each
PAGE = 50


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """The database emulator with the project's rules and hosting, and no function triggers."""
    triggers = tmp_path_factory.mktemp("triggers") / "triggers.json"
    triggers.write_text(json.dumps({"triggers": []}))
    emu = start_emulator("--triggers", str(triggers), "--auth-port", "0", config=ROOT / "firebase.json")
    emu.site = f"http://127.0.0.1:{emu.port_of('Hosting emulator ready')}/"
    yield emu
    emu.stop()


@pytest.fixture
def seeded(bare):
    """Replace every ticket with OPEN open ones and DONE done ones; returns (open ids, done ids newest first)."""
    tickets, open_ids, done = {}, [], []
    for i in range(OPEN + DONE):
        ticket_id = f"-Oseed{i:014d}"
        value = enriched(i)
        if i >= OPEN:
            j = i - OPEN
            done_at = NOW_MS - 60_000 * (j // 3)  # three tickets share each done_at: pages must not skip ties
            status = "closed" if j % 2 else "solved"
            value.update(status=status, done_at=done_at, resolution={"status": status, "recorded_at": done_at})
            done.append((done_at, ticket_id))
        else:
            open_ids.append(ticket_id)
        tickets[ticket_id] = value
    put(bare, "tickets", tickets)
    newest_first = [ticket_id for _, ticket_id in sorted(done, reverse=True)]  # the database's order, reversed
    return open_ids, newest_first


def enriched(i: int) -> dict:
    categories = ["technical", "billing", "performance", "authentication"]
    return ticket(subject=f"Seeded ticket {i}", category=categories[i % 4], created_at=NOW_MS - 1000 * i,
                  uid=f"customer-{i}", enrichment={
                      "priority": f"P{i % 4 + 1}", "priority_scores": {"P1": 0.25, "P2": 0.25, "P3": 0.25, "P4": 0.25},
                      "sentiment": {"label": "neutral", "score": 0.0}, "resolution_hours": {"p50": 4, "p90": 30},
                      "needs_review": i % 5 == 0, "model_version": "seeded", "input_hash": "seeded"},
                  helpdesk={"system": "zendesk", "id": 1000 + i, "url": f"http://helpdesk.test/{i}", "input_hash": "seeded"})


def put(emu, path, value):
    requests.put(f"{emu.url}/{path}.json", json=value, headers=ADMIN, timeout=30).raise_for_status()


def patch(emu, path, value):
    requests.patch(f"{emu.url}/{path}.json", json=value, headers=ADMIN, timeout=30).raise_for_status()


def open_queue(new_page, bare) -> QueuePage:
    page = new_page()
    requests_seen = page.requests_seen = []
    page.on("request", lambda request: requests_seen.append(request.url) if "/tickets" in request.url else None)
    return QueuePage(page, bare.site).open()


def ids_in(queue: QueuePage, list_id: str) -> list[str]:
    return queue.page.locator(f"#{list_id} .ticket-row").evaluate_all("rows => rows.map(r => r.dataset.id)")


def watch(queue: QueuePage, list_id: str) -> None:
    """Mark every row of the list and record every mutation inside it from now on.

    A mutation whose target is the list or one of its groups of rows (rowlist.js) is `onList`; a group's own
    attributes (how many rows it shows) are bookkeeping of the list, not a redraw, and are not recorded.
    """
    queue.page.evaluate("""(listId) => {
        const list = document.getElementById(listId);
        for (const row of list.querySelectorAll(".ticket-row")) row.__mark = row.dataset.id;
        window.__mutations = [];
        window.__observer?.disconnect();
        const isGroup = (node) => node.classList?.contains("queue__group");
        window.__record = (records) => {
          for (const r of records) {
            if (r.type === "attributes" && isGroup(r.target)) continue;
            const row = (r.target.nodeType === 1 ? r.target : r.target.parentElement)?.closest?.(".ticket-row");
            window.__mutations.push({type: r.type, onList: r.target === list || isGroup(r.target), row: row?.dataset.id ?? null,
                                     added: [...r.addedNodes].map((n) => n.dataset?.id ?? n.nodeName),
                                     removed: [...r.removedNodes].map((n) => n.dataset?.id ?? n.nodeName)});
          }
        };
        window.__observer = new MutationObserver(window.__record);
        window.__observer.observe(list, {childList: true, subtree: true, attributes: true, characterData: true});
    }""", list_id)


def mutations(queue: QueuePage) -> list[dict]:
    return queue.page.evaluate("window.__record(window.__observer.takeRecords()), window.__mutations")


def unmarked(queue: QueuePage, list_id: str) -> list[str]:
    """Ids of the rows in the list that are not the very elements marked by watch()."""
    return queue.page.evaluate("""(listId) => [...document.getElementById(listId).querySelectorAll(".ticket-row")]
        .filter((row) => row.__mark !== row.dataset.id).map((row) => row.dataset.id)""", list_id)


def test_the_queue_shows_exactly_the_open_tickets_from_one_query_and_no_done_ones_until_asked(new_page, bare, seeded):
    open_ids, _ = seeded
    queue = open_queue(new_page, bare)
    expect(queue.page.locator("#open-list .ticket-row")).to_have_count(OPEN)
    assert sorted(ids_in(queue, "open-list")) == sorted(open_ids)
    expect(queue.page.locator("#summary")).to_have_text(f"{OPEN} open · {OPEN // 5} need review")
    assert ids_in(queue, "done-list") == []
    ticket_urls = [u for u in queue.page.requests_seen if "/tickets.json" in u]
    assert ticket_urls and all('orderBy=%22status%22' in u and 'equalTo=%22new%22' in u for u in ticket_urls), ticket_urls


def test_done_tickets_come_newest_first_a_page_at_a_time_with_show_more(new_page, bare, seeded):
    open_ids, newest_first = seeded
    queue = open_queue(new_page, bare)
    page = queue.page
    expect(page.locator("#open-list .ticket-row")).to_have_count(OPEN)
    more = page.locator("#done-more")
    expect(more).to_be_hidden()

    page.locator("#done-details > summary").click()
    expect(page.locator("#done-list .ticket-row")).to_have_count(PAGE)
    assert ids_in(queue, "done-list") == newest_first[:PAGE]
    expect(page.locator("#done-count")).to_have_text(f"{PAGE}+")
    shown = PAGE
    while shown < DONE:
        more.click()
        shown = min(shown + PAGE, DONE)
        expect(page.locator("#done-list .ticket-row")).to_have_count(shown)
        assert ids_in(queue, "done-list") == newest_first[:shown]
    expect(more).to_be_hidden()
    expect(page.locator("#done-count")).to_have_text(str(DONE))
    assert not set(open_ids) & set(ids_in(queue, "done-list"))
    pages = [u for u in page.requests_seen if "done_at" in u]
    assert len(pages) == 3 and all("limitToLast=" in u and "startAt=0" in u for u in pages), pages


def test_a_ticket_closed_by_another_process_leaves_the_open_list_live_and_tops_the_done_list(new_page, bare, seeded):
    open_ids, newest_first = seeded
    queue = open_queue(new_page, bare)
    page = queue.page
    page.locator("#done-details > summary").click()
    expect(page.locator("#done-list .ticket-row")).to_have_count(PAGE)
    expect(page.locator("#open-list .ticket-row")).to_have_count(OPEN)
    watch(queue, "open-list")

    closing = open_ids[7]
    done_at = NOW_MS + 5_000  # as the helpdesk webhook writes it: one update
    patch(bare, f"tickets/{closing}", {"status": "closed", "done_at": done_at,
                                       "resolution": {"status": "closed", "recorded_at": done_at}})
    expect(queue.open_row(closing)).to_have_count(0)
    expect(queue.done_row(closing).locator(".flag-chip--done")).to_have_text("Closed")
    assert ids_in(queue, "done-list")[:2] == [closing, newest_first[0]]
    assert sorted(ids_in(queue, "open-list")) == sorted(set(open_ids) - {closing})
    assert unmarked(queue, "open-list") == []  # every other open row is the very same element
    assert [m for m in mutations(queue) if m["row"] is not None or m["added"]] == []
    assert [m["removed"] for m in mutations(queue)] == [[closing]]


def test_a_new_ticket_appears_live_and_a_changed_one_is_redrawn_alone(new_page, bare, seeded):
    open_ids, _ = seeded
    queue = open_queue(new_page, bare)
    expect(queue.page.locator("#open-list .ticket-row")).to_have_count(OPEN)
    watch(queue, "open-list")

    new_id = "-Oseed_new_ticket_01"
    put(bare, f"tickets/{new_id}", ticket(subject="Arrived while the agent watched", created_at=NOW_MS, uid="someone"))
    row = queue.open_row(new_id)
    expect(row).to_be_visible()
    expect(row.locator(".badge")).to_have_text("Scoring…")
    assert ids_in(queue, "open-list")[0] == new_id  # still being scored: first
    assert unmarked(queue, "open-list") == [new_id]
    assert mutations(queue) == [{"type": "childList", "onList": True, "row": None, "added": [new_id], "removed": []}]

    watch(queue, "open-list")
    changed = open_ids[3]
    patch(bare, f"tickets/{changed}/enrichment", {"priority": "P1", "needs_review": True})
    expect(queue.open_row(changed).locator(".badge__code")).to_have_text("P1")
    assert unmarked(queue, "open-list") == [changed]
    assert {m["row"] for m in mutations(queue)} == {None}
    assert [(m["added"], m["removed"]) for m in mutations(queue)] in ([([], [changed]), ([changed], [])],
                                                                     [([changed], [changed])])
    expect(queue.page.locator("#summary")).to_have_text(f"{OPEN + 1} open · {OPEN // 5 + 1} need review")


def test_filters_and_the_detail_show_and_hide_rows_without_redrawing_any(new_page, bare, seeded):
    queue = open_queue(new_page, bare)
    page = queue.page
    expect(page.locator("#open-list .ticket-row")).to_have_count(OPEN)
    order = ids_in(queue, "open-list")
    watch(queue, "open-list")

    page.select_option("#filter-category", "billing")
    expect(page.locator("#open-list .ticket-row")).to_have_count(sum(1 for i in range(OPEN) if i % 4 == 1))
    expect(page.locator("#open-count")).to_contain_text(f" of {OPEN}")
    assert unmarked(queue, "open-list") == []
    page.click("#filter-clear")
    expect(page.locator("#open-list .ticket-row")).to_have_count(OPEN)
    assert ids_in(queue, "open-list") == order and unmarked(queue, "open-list") == []
    assert all(m["onList"] and m["type"] == "childList" for m in mutations(queue))  # rows moved, none changed

    watch(queue, "open-list")
    queue.open_row(order[0]).locator(".ticket-row__open").click()
    expect(queue.detail).to_be_visible()
    page.keyboard.press("Escape")
    expect(queue.detail).to_be_hidden()
    assert mutations(queue) == []


def test_ages_tick_in_place(new_page, bare, seeded):
    page = new_page()
    page.clock.install(time=NOW_MS / 1000 + 30)  # the seeded tickets were sent 0 to 170 s before
    queue = QueuePage(page, bare.site).open()
    expect(page.locator("#open-list .ticket-row")).to_have_count(OPEN)
    first = page.locator("#open-list .ticket-row time").first
    watch(queue, "open-list")
    before = first.text_content()
    page.clock.run_for(10 * 60 * 1000)  # ten minutes: the queue renews ages every 30 s
    expect(first).not_to_have_text(before)
    assert first.text_content().endswith("min ago")
    assert unmarked(queue, "open-list") == []
    changes = mutations(queue)
    assert changes and all(m["row"] is not None and not m["onList"] for m in changes)  # text inside rows only


def test_hundreds_of_open_tickets_are_built_a_chunk_at_a_time_in_priority_order(new_page, bare):
    many = 400  # more than one answer's worth of rows built at once: the first ones show, the rest follow
    put(bare, "tickets", {f"-Omany{i:015d}": enriched(i) for i in range(many)})
    queue = open_queue(new_page, bare)
    expect(queue.page.locator("#open-list .ticket-row")).to_have_count(many)
    # P1..P4, then the older first (enriched(i) was sent i seconds before NOW_MS).
    expected = [f"-Omany{i:015d}" for i in sorted(range(many), key=lambda i: (i % 4, -i))]
    assert ids_in(queue, "open-list") == expected
    expect(queue.page.locator("#open-count")).to_have_text(str(many))
    queue.page.select_option("#filter-priority", "P2")
    assert ids_in(queue, "open-list") == [i for i in expected if int(i[6:]) % 4 == 1]


def test_many_tickets_closed_at_once_leave_the_open_list_and_the_done_list_is_read_again(new_page, bare, seeded):
    open_ids, newest_first = seeded
    queue = open_queue(new_page, bare)
    page = queue.page
    page.locator("#done-details > summary").click()
    expect(page.locator("#done-list .ticket-row")).to_have_count(PAGE)
    closing = open_ids[:25]
    # One multi-path update, as a bulk tool would send: more tickets leave than the queue reads one by one.
    patch(bare, "tickets", {f"{ticket_id}/{field}": value for n, ticket_id in enumerate(closing)
                            for field, value in (("status", "closed"), ("done_at", NOW_MS + 1000 * (n + 1)))})
    expect(page.locator("#open-list .ticket-row")).to_have_count(OPEN - 25)
    expected = list(reversed(closing)) + newest_first[:PAGE - 25]
    expect(page.locator("#done-list .ticket-row").first).to_have_attribute("data-id", closing[-1])
    expect(page.locator("#done-list .ticket-row")).to_have_count(PAGE)
    assert ids_in(queue, "done-list") == expected
    assert len([u for u in page.requests_seen if "/tickets/-Oseed" in u]) == 0  # no read per ticket


def test_a_done_page_that_cannot_be_loaded_says_so_and_can_be_tried_again(new_page, bare, seeded):
    _, newest_first = seeded
    queue = open_queue(new_page, bare)
    page = queue.page
    page.route("**/tickets.json?*done_at*", lambda route: route.abort("connectionrefused"))
    page.locator("#done-details > summary").click()
    expect(page.locator("#done-empty")).to_contain_text("Could not load the done tickets: Could not reach the ticket database")
    page.unroute("**/tickets.json?*done_at*")
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#done-list .ticket-row")).to_have_count(PAGE)
    assert ids_in(queue, "done-list") == newest_first[:PAGE]
    expect(page.get_by_role("button", name="Show more")).to_be_visible()
    expect(page.locator("#done-empty")).to_be_hidden()
