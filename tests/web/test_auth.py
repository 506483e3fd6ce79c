"""Sign-in through the Auth emulator's endpoints: customers anonymously, agents with the queue's form.

Nothing here mints a token: every ID token comes from the emulator's Identity Toolkit and Secure Token
endpoints, as it would come from Google's in production.
"""

import base64
import json
import re

from playwright.sync_api import expect

from tests.web.pages import AGENT, QueuePage, SubmitPage, ticket

AUTH_CALL = re.compile(r"/(identitytoolkit|securetoken)\.googleapis\.com/v1/([^?]+)")


def auth_calls(page) -> list:
    """Record the Identity Toolkit and Secure Token calls the page makes, by endpoint name."""
    calls = []
    page.on("request", lambda request: (m := AUTH_CALL.search(request.url)) and calls.append(m.group(2)))
    return calls


def test_a_customer_signs_in_anonymously_once_per_browser_and_keeps_the_uid(page, site, db):
    calls = auth_calls(page)
    SubmitPage(page, site).open()
    page.wait_for_function("localStorage.getItem('tickets.auth.customer') !== null")
    first = page.evaluate("JSON.parse(localStorage.getItem('tickets.auth.customer'))")
    with page.expect_response("**/securetoken.googleapis.com/v1/token*") as renewed:
        page.reload()  # the stored refresh token brings the same user back: no new anonymous account
    assert renewed.value.json()["user_id"] == first["uid"]

    form = SubmitPage(page, site)
    form.fill().send()
    assert db.get(f"tickets/{form.ticket_id()}/uid") == first["uid"]
    assert calls == ["accounts:signUp", "token"]


def test_a_customer_the_auth_emulator_forgot_is_signed_up_afresh(page, site):
    """After an emulator restart the stored refresh token names nobody: the page starts a new anonymous user."""
    forgotten = base64.b64encode(json.dumps({"_AuthEmulatorRefreshToken": "DO NOT MODIFY", "localId": "forgotten-uid",
                                             "provider": "anonymous", "projectId": "demo-tickets"}).encode()).decode()
    page.add_init_script(f"localStorage.setItem('tickets.auth.customer', "
                         f"JSON.stringify({{uid: 'forgotten-uid', refreshToken: '{forgotten}'}}))")
    calls = auth_calls(page)
    form = SubmitPage(page, site).open()
    form.fill().send()
    form.ticket_id()
    assert calls == ["token", "accounts:signUp"]
    assert page.evaluate("JSON.parse(localStorage.getItem('tickets.auth.customer')).uid") != "forgotten-uid"


def test_a_refused_anonymous_sign_in_is_explained_and_retried_on_the_next_send(page, site):
    refusal = {"error": {"code": 400, "message": "ADMIN_ONLY_OPERATION",
                         "errors": [{"message": "ADMIN_ONLY_OPERATION", "reason": "invalid", "domain": "global"}]}}
    page.route("**/accounts:signUp*", lambda route: route.fulfill(
        status=400, json=refusal, headers={"Access-Control-Allow-Origin": "*"}))
    form = SubmitPage(page, site).open()
    form.fill().send()
    expect(form.status).to_have_text("This way of signing in is turned off for this site. Ask an administrator "
                                     "to turn it on. Your ticket is still here.")
    expect(page.locator("#subject")).to_have_value(re.compile(".+"))

    page.unroute("**/accounts:signUp*")
    form.send()
    form.ticket_id()


def test_the_queue_asks_agents_to_sign_in_and_shows_who_is_signed_in(new_page, site, db):
    queue = QueuePage(new_page(), site).open(sign_in=False)
    expect(queue.sign_in_form).to_be_visible()
    expect(queue.page.locator("#sign-in-email")).to_be_focused()
    expect(queue.page.locator("#queue-view")).to_be_hidden()
    expect(queue.account).to_be_hidden()

    queue.sign_in(AGENT["email"], AGENT["password"])
    expect(queue.page.locator("#live-state")).to_have_attribute("data-state", "live")
    expect(queue.page.locator("#open-title")).to_be_focused()  # not lost with the hidden form
    expect(queue.sign_in_form).to_be_hidden()
    expect(queue.account).to_contain_text(AGENT["email"])
    ticket_id = db.push("tickets", ticket(subject="Seen by a signed-in agent"))
    expect(queue.open_row(ticket_id)).to_be_visible()


def test_a_wrong_password_or_unknown_account_is_explained_and_nothing_is_shown(new_page, site):
    queue = QueuePage(new_page(), site).open(sign_in=False)
    page = queue.page
    page.press("#sign-in-email", "Enter")
    expect(queue.sign_in_error).to_have_text("Enter your e-mail address.")
    expect(page.locator("#sign-in-email")).to_have_attribute("aria-invalid", "true")

    queue.sign_in(AGENT["email"], "not-the-password")
    expect(queue.sign_in_error).to_have_text("Wrong e-mail or password.")
    expect(page.locator("#sign-in-password")).to_be_focused()
    expect(page.locator("#sign-in-password")).to_have_attribute("aria-invalid", "true")
    queue.sign_in("nobody@example.com", "whatever-it-is")
    expect(queue.sign_in_error).to_have_text("Wrong e-mail or password.")
    expect(page.locator("#queue-view")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('tickets.auth.agent')") is None

    queue.sign_in(AGENT["email"], AGENT["password"])
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    expect(queue.sign_in_error).to_be_empty()


def test_an_account_without_the_agent_claim_is_told_so_instead_of_a_broken_queue(new_page, site, accounts):
    email = accounts.create("clerk@example.com", "clerk-password")
    queue = QueuePage(new_page(), site).open(sign_in=False)
    calls = auth_calls(queue.page)
    queue.sign_in(email, "clerk-password")
    expect(queue.not_agent).to_be_visible()
    expect(queue.not_agent.get_by_role("heading")).to_have_text("This account is not an agent")
    expect(queue.not_agent.get_by_role("heading")).to_be_focused()
    expect(queue.page.locator("#not-agent-email")).to_have_text(email)
    expect(queue.page.locator("#queue-view")).to_be_hidden()
    expect(queue.page.locator("#page-alert")).to_be_hidden()
    assert calls == ["accounts:signInWithPassword"]  # and no stream the rules would refuse

    queue.not_agent.get_by_role("button", name="Sign out").click()
    expect(queue.sign_in_form).to_be_visible()
    expect(queue.page.locator("#sign-in-email")).to_be_focused()
    expect(queue.not_agent).to_be_hidden()


def test_an_agent_stays_signed_in_across_reloads_until_signing_out(new_page, site):
    queue = QueuePage(new_page(), site).open()
    page = queue.page
    calls = auth_calls(page)
    page.reload()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    expect(queue.account).to_contain_text(AGENT["email"])
    assert calls == ["token"]  # the stored refresh token, not the password again

    queue.account.get_by_role("button", name="Sign out").click()
    expect(queue.sign_in_form).to_be_visible()
    expect(page.locator("#queue-view")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('tickets.auth.agent')") is None
    page.reload()
    expect(queue.sign_in_form).to_be_visible()


def test_the_id_token_is_renewed_before_it_expires_and_the_stream_follows_with_it(new_page, site, db):
    page = new_page()
    page.clock.install()  # the page's timers and Date, so an hour can pass at once
    queue = QueuePage(page, site).open()
    with page.expect_request(lambda request: request.resource_type == "eventsource") as stream, \
            page.expect_response("**/securetoken.googleapis.com/v1/token*") as renewal:
        page.clock.fast_forward("56:00")  # ID tokens live an hour; renewal is due 5 minutes before
    assert f"auth={renewal.value.json()['id_token']}" in stream.value.url
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    ticket_id = db.push("tickets", ticket(subject="After the token was renewed"))
    expect(queue.open_row(ticket_id)).to_be_visible()
