"""Every page, as an admin and as a sales person, in Chromium at 1,280 px and at 390 px: axe-core
(vendored in tests/browser/vendor) reports no serious or critical WCAG 2.1 A/AA violation, every
control takes keyboard focus and shows it, nothing overflows its card at 1,280 px, no page scrolls
sideways at 390 px, and at 390 px a menu button opens the navigation.

The pages are the CSP test's: every GET page of the plugin's blueprints, ids filled from its rows
(the navigation's pages and the records linked from them among them).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import AXE, CHROMIUM_ARGS, NARROW, WIDE
from tests.browser.test_csp_browser import ADMIN, SALES, Site, Watched, page_paths
from tests.browser.test_csp_browser import site as site  # noqa: F401  (the pages' server and rows)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Resize events fire in a rendering update before its animation frame callbacks.
NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => done(null)))"
AXE_RUN = """
async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    resultTypes: ["violations"],
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map(
      (n) => n.target.join(" ") + " " + (n.failureSummary || "").replace(/\\s+/g, " ").slice(0, 160)
    ).join(" | ") + (v.nodes.length > 3 ? " | +" + (v.nodes.length - 3) + " more" : ""));
}
"""
DESCRIBE = """
function describe(el) {
  let name = el.tagName.toLowerCase();
  if (el.id) name += "#" + el.id;
  if (typeof el.className === "string" && el.className.trim()) {
    name += "." + el.className.trim().split(/\\s+/).join(".");
  }
  const text = (el.textContent || el.getAttribute("aria-label") || el.name || "").replace(/\\s+/g, " ")
    .trim().slice(0, 40);
  return text ? name + " '" + text + "'" : name;
}
"""
# A card or section whose content reaches past its edge, a table or other scroll box that scrolls
# sideways (a code block may), or a page wider than the window.
OVERFLOW = "() => {" + DESCRIBE + """
  const found = [];
  for (const card of document.querySelectorAll(".card, .section")) {
    if (!card.getClientRects().length) continue;
    if (card.scrollWidth > card.clientWidth + 1) {
      found.push(describe(card) + ": content " + card.scrollWidth + " px in " + card.clientWidth + " px");
    }
  }
  for (const box of document.querySelectorAll("body *")) {
    const style = getComputedStyle(box);
    if (!["auto", "scroll"].includes(style.overflowX) || box.matches("pre, textarea")) continue;
    if (box.scrollWidth > box.clientWidth + 1) {
      found.push(describe(box) + " scrolls: " + box.scrollWidth + " px in " + box.clientWidth + " px");
    }
  }
  const page = document.documentElement;
  if (page.scrollWidth > innerWidth) found.push("page is " + page.scrollWidth + " px wide in " + innerWidth);
  return found;
}
"""
# The outermost elements that reach past the window's right edge (not those a scroll box clips).
SIDEWAYS = "() => {" + DESCRIBE + """
  const page = document.documentElement;
  if (page.scrollWidth <= innerWidth) return null;
  const clipped = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") return true;
    }
    return false;
  };
  const wide = (el) => el && el !== document.body && el.getBoundingClientRect().right > innerWidth + 1;
  const out = [...document.querySelectorAll("body *")].filter(
    (el) => wide(el) && !wide(el.parentElement) && el.getClientRects().length && !clipped(el));
  return page.scrollWidth + " px wide in " + innerWidth + ": " + out.slice(0, 4).map(
    (el) => describe(el).slice(0, 60) + " " + Math.round(el.getBoundingClientRect().width) + " px"
  ).join(", ");
}
"""
# Each rendered control is focused in turn: it must take focus and then show an outline or a ring.
FOCUS = "() => {" + DESCRIBE + """
  const found = [];
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, summary";
  for (const el of document.querySelectorAll(controls)) {
    if (el.disabled || !el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    if (el.closest("details:not([open])") && !el.matches("details > summary")) continue;
    if (el.tabIndex < 0) { found.push(describe(el) + ": out of the tab order"); continue; }
    el.focus({preventScroll: true});
    if (document.activeElement !== el) { found.push(describe(el) + ": takes no focus"); continue; }
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    if (!outline && style.boxShadow === "none") found.push(describe(el) + ": no visible focus");
  }
  if (document.activeElement) document.activeElement.blur();
  return found;
}
"""


def _check_page(watched: Watched, path: str, problems: dict[str, list[str]], *, admin: bool) -> None:
    page = watched.page
    page.set_viewport_size(WIDE)
    status = watched.visit(path)
    if status >= 400:
        if admin:  # an admin sees every page: this path was filled wrongly
            problems[path] = [f"answered {status}"]
        return  # a page this role may not see: the error page is checked once below
    if page.locator("#rule-builder").count():  # the segment builder's preview has come back
        page.wait_for_selector("#preview-count, #preview-error")
    page.keyboard.press("Tab")  # a keyboard user: focus that script moves is shown as such
    found = [f"axe {line}" for line in page.evaluate(AXE_RUN)]
    found += [f"1280 px: {line}" for line in page.evaluate(OVERFLOW)]
    found += [f"focus: {line}" for line in page.evaluate(FOCUS)]
    page.set_viewport_size(NARROW)
    page.evaluate(NEXT_FRAME)  # the page's resize handlers have run
    sideways = page.evaluate(SIDEWAYS)
    if sideways:
        found.append(f"390 px: {sideways}")
    found += [f"390 px: axe {line}" for line in page.evaluate(AXE_RUN)]
    if found:
        problems[path] = found


def _check_menu(page: Any, site: Site) -> None:
    """At 390 px the navigation folds behind a button that mouse and keyboard open and close."""
    from playwright.sync_api import expect

    page.set_viewport_size(NARROW)
    page.goto(f"{site.url}/segments")
    nav = page.get_by_role("navigation", name="Main")
    button = page.get_by_role("button", name="Menu")
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    links = nav.get_by_role("link")
    assert links.count() >= 7
    for index in range(links.count()):
        box = links.nth(index).bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= NARROW["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    assert page.evaluate(AXE_RUN) == []  # the open menu too
    button.press("Enter")
    expect(nav).to_be_hidden()
    button.press("Space")
    expect(nav).to_be_visible()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(button).to_be_focused()
    button.press("Enter")
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link").first).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/")
    # wide again: no button, the links in the bar
    page.set_viewport_size(WIDE)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def test_every_page_is_accessible_and_fits_at_both_widths(site: Site, chromium_path: str) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    paths = page_paths(site)
    assert len(paths) >= 45
    problems: dict[str, list[str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            for account in (ADMIN, SALES):
                watched = Watched(browser, site, account)
                watched.context.add_init_script(path=str(AXE))
                checked: dict[str, list[str]] = {}
                for path in paths:
                    _check_page(watched, path, checked, admin=account == ADMIN)
                problems.update({f"{account.email} {path}": found for path, found in checked.items()})
                _check_menu(watched.page, site)
                assert watched.problems == [], account.email
                watched.close()
            # signed out: the sign-in page, an error page, the unsubscribe page
            context = browser.new_context()
            context.add_init_script(path=str(AXE))
            page = context.new_page()
            for path in ("/login", f"/unsubscribe/{site.ids['token']}", "/no-such-page"):
                for size in (WIDE, NARROW):
                    page.set_viewport_size(size)
                    page.goto(f"{site.url}{path}")
                    found = page.evaluate(AXE_RUN) + page.evaluate(OVERFLOW)
                    if found:
                        problems[f"signed out {path} {size['width']}"] = found
            context.close()
        finally:
            browser.close()
    report = "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in problems.items())
    assert problems == {}, report


def test_the_wait_step_labels_its_own_inputs_and_the_preview_fits(site: Site, chromium_path: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            watched = Watched(browser, site, ADMIN)
            page = watched.page
            page.set_viewport_size(WIDE)

            # The first Tab shows a link past the navigation; Enter on it leads into the content.
            watched.visit("/profiles")
            page.keyboard.press("Tab")
            skip = page.get_by_role("link", name="Skip to content")
            expect(skip).to_be_focused()
            expect(skip).to_be_in_viewport()
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "main"
            page.keyboard.press("Tab")
            assert page.evaluate("document.querySelector('main').contains(document.activeElement)")

            # Each number of a wait step is named by the unit written after it: "3 days" is days = 3.
            edit = f"/workflows/{site.ids['workflow_id']}/edit"
            watched.visit(edit)
            wait = page.locator(".flow-step", has=page.locator(".wait-choice")).first
            days, hours = wait.get_by_label("days", exact=True), wait.get_by_label("hours", exact=True)
            assert days.get_attribute("name", timeout=5000).endswith("-days")  # type: ignore[union-attr]
            assert hours.get_attribute("name").endswith("-hours")  # type: ignore[union-attr]
            unit = wait.locator(".wait-unit", has_text="days")
            days_box, unit_box = days.bounding_box(), unit.bounding_box()
            # the number and its unit side by side, in one label, on one line
            assert days_box and unit_box and unit_box["x"] <= days_box["x"] and unit_box["width"] < 160
            assert days_box["y"] >= unit_box["y"] and days_box["height"] <= unit_box["height"]
            wait.get_by_label("For", exact=True).check()
            days.fill("3")
            hours.fill("0")
            page.get_by_role("button", name="Save", exact=True).click()
            page.wait_for_load_state("load")
            watched.visit(edit)
            wait = page.locator(".flow-step", has=page.locator(".wait-choice")).first
            expect(wait.get_by_label("days", exact=True)).to_have_value("3")

            # The builder's preview keeps a long unbroken address inside its card.
            watched.visit("/segments/new")
            page.wait_for_selector("#preview-count")
            page.evaluate("""() => {
              const item = document.createElement("li");
              item.textContent = "a.very.long.address.without.any.break." + "x".repeat(60) + "@example.com";
              document.querySelector("#segment-preview").append(item);
            }""")
            assert page.evaluate(OVERFLOW) == []
            # The builder by keyboard alone: Tab to "+ condition", Enter adds one and focus lands on its
            # field; choosing another field with the arrow keys keeps focus on that select.
            before = page.locator(".rb-condition").count()
            page.get_by_label("Name").focus()
            for _ in range(60):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.textContent") == "+ condition":
                    break
            else:
                raise AssertionError("Tab never reached + condition")
            page.keyboard.press("Enter")
            expect(page.locator(".rb-condition")).to_have_count(before + 1)
            focused = page.locator(":focus")
            expect(focused).to_have_attribute("aria-label", "Field")
            first_field = focused.input_value()
            page.keyboard.press("ArrowDown")
            expect(page.locator(":focus")).to_have_attribute("aria-label", "Field")
            assert page.locator(":focus").input_value() != first_field
            # Its ghost buttons (NOT, +where, ×) read as the page's text, not light grey.
            ghost = page.locator("#rule-builder .btn-ghost").first
            expect(ghost).to_be_visible()
            assert ghost.evaluate("e => getComputedStyle(e).color") == "rgb(31, 41, 51)"
            assert watched.problems == []
            watched.close()
        finally:
            browser.close()
