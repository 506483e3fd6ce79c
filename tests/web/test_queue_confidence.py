"""Issue 15 in the queue: each prediction's confidence level on the row and as a filter, and the detail's
language, review reasons and explanations; tickets scored before these fields existed still show as before.

Against the database emulator alone (the project's rules, hosting of web/, its Auth emulator, no functions),
seeded as the admin with enrichments of the shape `functions/ticketml/predictor.py` writes.
"""

import pytest
from playwright.sync_api import expect
from ticketml import explain

from tests.web.pages import QueuePage, save_screenshot, ticket
from tests.web.test_queue_reads import bare, put, unmarked, watch  # noqa: F401 (bare is a fixture)

NOW_MS = 1_764_547_200_000
# (priority, sentiment, resolution) levels of the rated tickets; the lowest decides the row's chip and the filter.
LEVELS = [
    ("high", "high", "high"),
    ("high", "medium", "high"),
    ("low", "high", "high"),
    ("medium", "medium", "low"),
    ("high", "high", "medium"),
    ("medium", "high", "high"),
]
FRENCH = "-Oconf_french_0001"
OLD = "-Oconf_old_00000001"
EXPLANATIONS = {
    "priority": [{"feature": "bloqué", "kind": "word", "weight": 0.61}, {"feature": "impact=4", "kind": "field", "weight": 0.33},
                 {"feature": "<img src=x onerror=alert(1)>", "kind": "word", "weight": 0.12}],
    "sentiment": [{"feature": "urgent", "kind": "word", "weight": 0.4}],
    "resolution": [{"feature": "category=billing", "kind": "field", "weight": -0.25},
                   {"feature": "facture", "kind": "word", "weight": 0.18}],
}


def enrichment(priority="P2", levels=None, **more) -> dict:
    value = {"priority": priority, "priority_scores": {"P1": 0.1, "P2": 0.7, "P3": 0.1, "P4": 0.1},
             "sentiment": {"label": "negative", "score": -0.5}, "resolution_hours": {"p50": 5, "p90": 30},
             "needs_review": False, "model_version": "seeded", "input_hash": "seeded"}
    if levels:
        value.update(language="en", confidence=dict(zip(("priority", "sentiment", "resolution"), levels)),
                     review_reasons=[], explanations={"priority": [{"feature": "crash", "kind": "word", "weight": 0.2}]})
    return {**value, **more}


@pytest.fixture
def seeded(bare):  # noqa: F811
    """Rated tickets (LEVELS), a French one that needs review for two reasons, and one scored before issue 15."""
    tickets = {}
    for i, levels in enumerate(LEVELS):
        tickets[f"-Oconf_rated_{i:05d}"] = ticket(subject=f"Rated {i}", created_at=NOW_MS - 1000 * i,
                                                   uid=f"c{i}", enrichment=enrichment(levels=levels))
    tickets[FRENCH] = ticket(
        subject="Facture bloquée", description="Notre facture est bloquée, c'est urgent.", created_at=NOW_MS - 500,
        uid="cf", category="billing", enrichment=enrichment(
            priority="P1", language="fr", confidence={"priority": "low", "sentiment": "high", "resolution": "medium"},
            needs_review=True, review_reasons=["language:fr", "low_confidence:priority", "something_new"],
            explanations=explain.stored(EXPLANATIONS)))  # as the function stores them; the rated ones: the older list
    tickets[OLD] = ticket(subject="Scored before levels", created_at=NOW_MS - 700, uid="co",
                          enrichment=enrichment(needs_review=True))
    put(bare, "tickets", tickets)
    return tickets


def lowest(levels) -> str:
    return min(levels, key=["low", "medium", "high"].index)


def test_rows_show_the_least_sure_level_and_the_confidence_filter_picks_by_it_without_redrawing(new_page, bare, seeded):  # noqa: F811
    queue = QueuePage(new_page(), bare.site).open()
    page = queue.page
    expect(page.locator("#open-list .ticket-row")).to_have_count(len(seeded))
    expected = {f"-Oconf_rated_{i:05d}": lowest(levels) for i, levels in enumerate(LEVELS)} | {FRENCH: "low"}
    for ticket_id, level in expected.items():
        chip = queue.open_row(ticket_id).locator(".level")
        expect(chip).to_have_text(f"{level.capitalize()} confidence")
        expect(chip).to_have_attribute("data-level", level)
    expect(queue.open_row(FRENCH).locator(".level")).to_have_attribute("title", "Model confidence, the least sure shown: "
                                                                       "priority low, tone high, resolution time medium")
    expect(queue.open_row(OLD)).to_contain_text("Scored before levels")  # an old ticket: its row, with no level
    expect(queue.open_row(OLD).locator(".level")).to_have_count(0)
    expect(queue.open_row(OLD).locator(".confidence")).to_have_text("70%")

    watch(queue, "open-list")
    for value in ("low", "medium", "high", "none"):
        page.select_option("#filter-confidence", value)
        wanted = sorted([i for i, level in expected.items() if level == value] + ([OLD] if value == "none" else []))
        expect(page.locator("#open-list .ticket-row")).to_have_count(len(wanted))
        shown = page.locator("#open-list .ticket-row").evaluate_all("rows => rows.map((r) => r.dataset.id)")
        assert sorted(shown) == wanted, value
        expect(page.locator("#open-count")).to_have_text(f"{len(wanted)} of {len(seeded)}")
    page.select_option("#filter-confidence", "low")
    page.check("#filter-review")  # filters combine: low and needing review is the French ticket alone
    expect(page.locator("#open-list .ticket-row")).to_have_count(1)
    expect(queue.open_row(FRENCH)).to_be_visible()
    page.click("#filter-clear")
    expect(page.locator("#open-list .ticket-row")).to_have_count(len(seeded))
    assert unmarked(queue, "open-list") == []  # rows were taken out and put back, none rebuilt


def test_the_detail_shows_language_review_reasons_and_what_moved_each_prediction(new_page, bare, seeded):  # noqa: F811
    queue = QueuePage(new_page(), bare.site).open()
    page = queue.page
    queue.open_row(FRENCH).locator(".ticket-row__open").click()
    detail = queue.detail
    expect(detail).to_be_visible()
    expect(detail.locator("[data-fact=language] dd")).to_have_text("French (fr)")
    reasons = detail.get_by_test_id("review-reasons").locator("li")
    expect(reasons).to_have_text(["Written in French (fr), a language the model was not trained on",
                                  "Low confidence in the priority", "something_new"])
    for head, level in (("priority", "low"), ("sentiment", "high"), ("resolution", "medium")):
        expect(detail.locator(f"[data-fact={head}] .level")).to_have_text(f"{level.capitalize()} confidence")

    why = detail.get_by_test_id("explanations")
    expect(why).to_be_visible()
    items = {head: why.locator(f".why__head[data-head={head}] .why__item") for head in EXPLANATIONS}
    expect(items["priority"]).to_have_count(3)
    expect(items["priority"].nth(0).locator("q.why__feature")).to_have_text("bloqué")  # a word, quoted
    expect(items["priority"].nth(0).locator(".why__weight")).to_have_text("+0.61")
    expect(items["priority"].nth(1).locator("code.why__feature")).to_have_text("impact=4")  # a field
    expect(items["priority"].nth(2).locator(".why__feature")).to_have_text("<img src=x onerror=alert(1)>")  # text only
    assert why.locator("img").count() == 0
    expect(why.locator(".why__head[data-head=priority] .why__title")).to_contain_text("P1")
    expect(items["sentiment"]).to_have_count(1)
    expect(items["resolution"].nth(0)).to_have_attribute("data-kind", "field")
    expect(items["resolution"].nth(0).locator(".why__weight")).to_have_text("−0.25")
    why.scroll_into_view_if_needed()
    save_screenshot(page, "queue-detail-explanations-desktop", full_page=False)
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()

    # Scored before issue 15: no language, no reasons, no explanations; the review flag says what it said before.
    queue.open_row(OLD).locator(".ticket-row__open").click()
    expect(detail).to_be_visible()
    expect(detail.locator("#detail-title")).to_have_text("Scored before levels")
    expect(detail.locator("[data-fact=language]")).to_have_count(0)
    expect(detail.get_by_test_id("explanations")).to_have_count(0)
    expect(detail.get_by_test_id("review-reasons")).to_have_count(0)
    expect(detail.get_by_test_id("needs-review")).to_contain_text("The model is unsure of this priority")
    expect(detail.locator(".level")).to_have_count(0)
    expect(detail.locator("[data-fact=priority] .confidence")).to_have_text("70% confident")
