"""Screenshots of both pages at desktop and phone widths, saved as test artifacts; no page overflows."""

import pytest
from playwright.sync_api import expect

from tests.web.pages import DESKTOP, PHONE, QueuePage, SubmitPage, save_screenshot


def assert_fits(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("size,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots(new_page, site, size, viewport):
    page = new_page(viewport)
    form = SubmitPage(page, site).open()
    save_screenshot(page, f"form-{size}")
    assert_fits(page)
    form.send()
    form.fill(subject="x" * 205, email="not-an-address", type=None, impact=None, seniority=None).send()
    save_screenshot(page, f"form-errors-{size}")
    assert_fits(page)

    form.fill().send()
    form.wait_linked()
    save_screenshot(page, f"card-{size}")
    assert_fits(page)

    queue = QueuePage(new_page(viewport), site).open()
    expect(queue.page.locator("#open-list > .ticket-row").first).to_be_visible()
    queue.page.locator("#done-details > summary").click()
    save_screenshot(queue.page, f"queue-{size}")
    assert_fits(queue.page)
    queue.page.locator("#open-list .ticket-row__open").first.click()
    expect(queue.detail).to_be_visible()
    save_screenshot(queue.page, f"queue-detail-{size}")
