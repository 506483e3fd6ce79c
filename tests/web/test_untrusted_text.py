"""Whatever a stranger types reaches every page as text: markup is shown, never run or parsed."""

from playwright.sync_api import expect

from tests.web.pages import QueuePage, SubmitPage, ticket

SUBJECT = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> help'
DESCRIPTION = ('<b>bold?</b> <svg onload="window.__xss=3"></svg>\n<iframe src="javascript:window.__xss=4"></iframe>'
               '\n"quotes" & ampersands')
NAME = '<img src=x onerror="window.__xss=5">'


def assert_nothing_ran(page):
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x], script:not([type=module]):not([src]), svg[onload], iframe").count() == 0


def test_markup_in_a_ticket_is_shown_as_text_on_the_card_and_in_the_queue(page, new_page, site):
    form = SubmitPage(page, site).open()
    form.fill(subject=SUBJECT, description=DESCRIPTION, name=NAME).send()
    ticket_id = form.ticket_id()
    form.wait_enriched()
    expect(page.locator("#ticket-subject")).to_have_text(SUBJECT)
    assert page.locator("#ticket-description").text_content() == DESCRIPTION
    assert_nothing_ran(page)

    queue = QueuePage(new_page(), site).open()
    row = queue.open_row(ticket_id)
    expect(row.locator(".ticket-row__open")).to_have_text(SUBJECT)
    expect(row.locator(".ticket-row__meta")).to_contain_text(NAME)
    row.locator(".ticket-row__open").click()
    expect(queue.detail.locator("#detail-title")).to_have_text(SUBJECT)
    assert queue.detail.locator(".detail__description").text_content() == DESCRIPTION
    expect(queue.detail).to_contain_text(NAME)
    assert_nothing_ran(queue.page)


def test_values_written_by_others_cannot_inject_links_or_markup(new_page, site, db):
    queue = QueuePage(new_page(), site).open()
    ticket_id = db.push("tickets", ticket(subject="Hostile fields", category="<b>x</b>"))
    row = queue.open_row(ticket_id)
    # The function refuses the category and quotes it in its message.
    expect(row.locator(".flag-chip--error")).to_have_text("Invalid", timeout=15_000)
    expect(row.locator(".ticket-row__meta")).to_contain_text("<b>x</b>")
    # Then another process writes a link that would run script, and markup where text is expected.
    db.patch(f"tickets/{ticket_id}", {
        "helpdesk": {"system": "zendesk", "id": "<i>1</i>", "url": "javascript:window.__xss=6"},
    })
    expect(row.locator(".helpdesk-id")).to_have_text("#<i>1</i>")
    row.locator(".ticket-row__open").click()
    detail = queue.detail
    expect(detail.locator("[data-state=error]")).to_contain_text("Category is '<b>x</b>'")
    assert detail.locator("a[href^=javascript]").count() == 0
    # A status that is not "new" takes the ticket out of the open list, into Done; the open detail follows it.
    db.patch(f"tickets/{ticket_id}", {"status": "<script>window.__xss=7</script>"})
    expect(detail).to_contain_text("<script>window.__xss=7</script>")
    expect(queue.open_row(ticket_id)).to_have_count(0)
    expect(queue.done_row(ticket_id).locator(".flag-chip--done")).to_have_text("<script>window.__xss=7</script>")
    assert_nothing_ran(queue.page)


def test_field_values_named_like_javascript_builtins_are_shown_as_they_are(new_page, site, db):
    queue = QueuePage(new_page(), site).open()
    ticket_id = db.push("tickets", ticket(subject="__proto__", category="constructor", type="toString"))
    row = queue.open_row(ticket_id)
    expect(row.locator(".ticket-row__meta")).to_contain_text("constructor · toString")
    expect(row.locator(".flag-chip--error")).to_have_text("Invalid", timeout=15_000)  # the function is done
    db.patch(f"tickets/{ticket_id}", {"enrichment": {"priority": "hasOwnProperty", "sentiment": {"label": "__proto__"}}})
    expect(row.locator(".badge")).to_have_text("Unknown priority")
    row.locator(".ticket-row__open").click()
    expect(queue.detail.locator("#detail-title")).to_have_text("__proto__")
    assert "function" not in queue.detail.inner_text()


def test_an_account_e_mail_with_markup_is_shown_as_text(new_page, site, accounts):
    email = accounts.create('<img/src=x/onerror="window.__xss=8">@example.com', "markup-password")
    queue = QueuePage(new_page(), site).open(sign_in=False)
    queue.sign_in(email, "markup-password")
    expect(queue.page.locator("#not-agent-email")).to_have_text(email)
    expect(queue.page.locator("#account-email")).to_have_text(email)
    assert_nothing_ran(queue.page)
