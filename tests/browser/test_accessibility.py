"""Every page in a real Chromium, as a screen reader and a phone see it: each button,
field and link has an accessible name (Chromium's own computation, asked through the
driver), and at 375 px wide nothing sticks out sideways (no horizontal scroll)."""

from __future__ import annotations

import uuid

from selenium.webdriver.common.by import By

from tests.browser.pages import add_user, api_session, wait_until

CONTROLS = (
    "button, input:not([type=hidden]), select, textarea, a[href], summary, "
    "[role=button], [role=link], [role=checkbox], [role=tab], [role=menuitem]"
)
# What the page shows, summed up: once it stays the same for a moment, it has drawn.
SHAPE_JS = f"""
return [document.querySelectorAll("{CONTROLS}").length, document.body.innerText.length,
        document.querySelectorAll("[aria-busy=true]").length];
"""
PHONE = {"width": 375, "height": 740, "deviceScaleFactor": 1, "mobile": True}


def settled(browser) -> None:
    """Wait (bounded) until the page has stopped drawing itself from /api/."""
    shapes: list[list[int]] = []

    def still() -> bool:
        shapes.append(browser.driver.execute_script(SHAPE_JS))
        return len(shapes) >= 3 and shapes[-1] == shapes[-2] == shapes[-3] and not shapes[-1][2]

    wait_until(still, timeout=15, interval=0.2)


def unnamed_controls(browser) -> list[str]:
    """The controls shown whose accessible name is empty, described."""
    missing = []
    for element in browser.driver.find_elements(By.CSS_SELECTOR, CONTROLS):
        if not element.is_displayed() or element.accessible_name.strip():
            continue
        html = element.get_attribute("outerHTML") or ""
        missing.append(html[:160])
    return missing


def check_page(browser, path: str, shot: str) -> dict[str, list[str]]:
    """Open ``path`` wide, then as a phone; return what is wrong with it."""
    browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.open(path)
    settled(browser)
    problems = {"unnamed": unnamed_controls(browser)}
    browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    wait_until(lambda: browser.driver.execute_script("return window.innerWidth") == 375)
    settled(browser)
    problems["unnamed at 375 px"] = unnamed_controls(browser)
    wide = browser.driver.execute_script("return document.documentElement.scrollWidth")
    problems["scroll at 375 px"] = [f"{wide} px wide"] if wide > 375 else []
    browser.screenshot(f"{shot}-375")
    return {f"{path} {kind}": found for kind, found in problems.items() if found}


def test_every_control_is_named_and_every_page_fits_375_px(make_browser, web_cluster):
    base = web_cluster.master.url
    name, password = f"a11y{uuid.uuid4().hex[:8]}", "pw-a11y-1"
    add_user(base, name, password, admin=True)
    http = api_session(base, name, password)
    http.post(f"{base}/api/mkdir", json={"path": "/Folder with a long name"}).raise_for_status()
    for body in (b"first", b"second"):  # two versions
        http.put(f"{base}/api/files/notes.txt", data=body).raise_for_status()
    http.put(f"{base}/api/files/gone.txt", data=b"x").raise_for_status()
    http.delete(f"{base}/api/files/gone.txt").raise_for_status()
    share = http.post(f"{base}/api/shares", json={"path": "/notes.txt", "password": "pw-share"})
    share.raise_for_status()

    problems: dict[str, list[str]] = {}
    visitor = make_browser()  # no login: the login form and the share link's page
    for path, shot in (("/login", "login"), (f"/s/{share.json()['token']}", "share-link")):
        problems.update(check_page(visitor, path, shot))
    browser = make_browser()
    browser.log_in(name, password)
    pages = {
        "/": "files",
        "/trash": "trash",
        "/versions?path=%2Fnotes.txt": "versions",
        "/shares": "shares",
        "/generate": "generate",
        "/account": "account",
        "/admin": "cluster",
        "/admin/users": "users",
    }
    for path, shot in pages.items():
        problems.update(check_page(browser, path, shot))
    assert problems == {}
    # The share link answers its password form with 401, which Chromium logs.
    assert [" 401 " in message for message in visitor.console_errors()] == [True]
    assert browser.console_errors() == []
