"""The HTML agent view: escaping of user text, Solve/Close forms, detail page."""

from __future__ import annotations

import json

from tests.helpdesk.conftest import AUTH, new_ticket, wait_for

XSS = "<img src=x onerror=alert(1)>"


def test_index_escapes_user_text(client):
    new_ticket(client, subject=XSS, external_id="<script>alert(2)</script>")
    html = client.get("/").get_data(as_text=True)
    assert XSS not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_detail_escapes_comments_and_shows_fields(client):
    ticket = new_ticket(client, subject="Plain", comment={"body": XSS}, tags=["vip"])
    html = client.get(f"/tickets/{ticket['id']}").get_data(as_text=True)
    assert XSS not in html and "&lt;img src=x" in html
    assert "vip" in html


def test_index_lists_columns_and_buttons(client):
    ticket = new_ticket(client, subject="Row", priority="urgent", external_id="ext-9")
    html = client.get("/").get_data(as_text=True)
    for text in (f"#{ticket['id']}", "Row", "urgent", "new", "ext-9", ticket["created_at"],
                 f'action="/tickets/{ticket["id"]}/solve"', f'action="/tickets/{ticket["id"]}/close"'):
        assert text in html


def test_solve_form_updates_status_and_redirects_back(client):
    ticket = new_ticket(client)
    response = client.post(f"/tickets/{ticket['id']}/solve", data={"next": f"/tickets/{ticket['id']}"})
    assert response.status_code == 303 and response.headers["Location"] == f"/tickets/{ticket['id']}"
    shown = client.get(f"/api/v2/tickets/{ticket['id']}", headers=AUTH).get_json()["ticket"]
    assert shown["status"] == "solved"


def test_close_form_rejects_offsite_redirects(client):
    ticket = new_ticket(client)
    response = client.post(f"/tickets/{ticket['id']}/close", data={"next": "//evil.example/"})
    assert response.headers["Location"] == "/"
    assert client.get(f"/api/v2/tickets/{ticket['id']}", headers=AUTH).get_json()["ticket"]["status"] == "closed"
    again = client.post(f"/tickets/{ticket['id']}/solve")
    assert again.status_code == 303  # closed tickets stay closed, no error page


def test_unknown_ticket_or_action_is_404(client):
    assert client.get("/tickets/12345").status_code == 404
    assert client.get("/tickets/abc").status_code == 404
    ticket = new_ticket(client)
    assert client.post(f"/tickets/{ticket['id']}/delete").status_code == 404


def test_html_solve_fires_the_webhook(make_app, receiver):
    receiver.clear()
    client = make_app(HELPDESK_WEBHOOK_URL=receiver.url).test_client()
    ticket = new_ticket(client)
    client.post(f"/tickets/{ticket['id']}/solve")
    hook = wait_for(lambda: [r for r in receiver.requests if json.loads(r["body"])["ticket"]["id"] == ticket["id"]])
    assert json.loads(hook[0]["body"])["event"] == "ticket.solved"


def test_zendesk_agent_url_shows_the_ticket(client):
    """The function links tickets at Zendesk's /agent/tickets/<id>; the stub answers there too."""
    ticket = new_ticket(client, subject="Linked from the database")
    html = client.get(f"/agent/tickets/{ticket['id']}").get_data(as_text=True)
    assert "Linked from the database" in html
    assert client.get("/agent/tickets/999999").status_code == 404
