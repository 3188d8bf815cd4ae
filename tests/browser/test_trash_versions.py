"""The trash and a file's versions in a real Chromium: restore a multi-selection from the
trash, delete forever, empty the trash; restore an old version, download one."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser.pages import add_user, api_session, dialog_button

USER, PASSWORD = "trash-tester", "pw-trash-1"


def rows(browser, table: str):
    return browser.driver.find_elements(By.CSS_SELECTOR, f"table.{table} tbody tr")


def test_restore_a_selection_then_delete_forever_and_empty_the_trash(browser, web_cluster):
    base = web_cluster.master.url
    add_user(base, USER, PASSWORD)
    api = api_session(base, USER, PASSWORD)
    contents = {"/docs/a.txt": b"alpha", "/docs/b <i>.txt": b"bravo", "/c.txt": b"charlie"}
    for path, data in contents.items():
        api.put(f"{base}/api/files{path}", data=data, timeout=10).raise_for_status()
    for path in ("/docs/a.txt", "/docs/b <i>.txt"):  # a multi-selection deleted
        api.delete(f"{base}/api/files{path}", timeout=10).raise_for_status()

    browser.log_in(USER, PASSWORD, "/trash")
    browser.wait(lambda d: len(rows(browser, "trash-list")) == 2)
    names = [
        r.find_element(By.CSS_SELECTOR, ".entry-name").text for r in rows(browser, "trash-list")
    ]
    assert sorted(names) == ["a.txt", "b <i>.txt"]  # the name as text, never markup
    browser.screenshot("trash")
    toolbar_restore = "//div[@role='toolbar']//button[normalize-space()='Restore']"
    assert not browser.driver.find_element(By.XPATH, toolbar_restore).is_enabled()  # none chosen
    for path in ("/docs/a.txt", "/docs/b <i>.txt"):
        browser.driver.find_element(By.CSS_SELECTOR, f"input[aria-label='Select {path}']").click()
    browser.press("Restore (2)")
    browser.wait(lambda d: browser.text(".list-status") == "The trash is empty.")
    for path in ("/docs/a.txt", "/docs/b <i>.txt"):
        assert api.get(f"{base}/api/files{path}", timeout=10).content == contents[path]
    assert api.get(f"{base}/api/trash", timeout=10).json()["trash"] == []

    for path in ("/docs", "/c.txt"):
        api.delete(f"{base}/api/files{path}", timeout=10).raise_for_status()
    browser.open("/trash")
    browser.wait(lambda d: len(rows(browser, "trash-list")) == 2)
    assert "2 items inside" in browser.text("tr[data-path='/docs'] td.size")
    browser.press("Delete /c.txt forever")
    browser.screenshot("trash-delete-forever")
    dialog_button(browser, "Delete forever").click()
    browser.wait(lambda d: len(rows(browser, "trash-list")) == 1)
    assert [i["path"] for i in api.get(f"{base}/api/trash", timeout=10).json()["trash"]] == [
        "/docs"
    ]

    browser.driver.find_element(
        By.XPATH, "//div[@role='toolbar']//button[normalize-space()='Empty trash']"
    ).click()
    dialog_button(browser, "Empty trash").click()
    browser.wait(lambda d: browser.text(".list-status") == "The trash is empty.")
    assert api.get(f"{base}/api/trash", timeout=10).json()["trash"] == []
    assert api.get(f"{base}/api/account", timeout=10).json()["used_bytes"] == 0
    browser.screenshot("trash-empty")
    assert browser.console_errors() == []


def test_restore_an_old_version_and_download_one(browser, web_cluster):
    base = web_cluster.master.url
    add_user(base, "versions-tester", PASSWORD)
    api = api_session(base, "versions-tester", PASSWORD)
    for text in (b"first draft\n", b"second draft\n"):
        api.put(f"{base}/api/files/notes.txt", data=text, timeout=10).raise_for_status()

    browser.log_in("versions-tester", PASSWORD, "/versions?path=/notes.txt")
    browser.wait(lambda d: len(rows(browser, "versions-list")) == 2)
    assert browser.text("h1.page-title") == "Versions of notes.txt"
    assert browser.text("tr[data-version='2'] .badge") == "current"
    # The old version's download link gives its bytes (the cookie's own request).
    link = browser.driver.find_element(By.CSS_SELECTOR, "a[aria-label='Download version 1']")
    href = link.get_attribute("href")
    assert api.get(href, timeout=10).content == b"first draft\n"
    browser.screenshot("versions")

    browser.press("Restore version 1")
    dialog_button(browser, "Restore").click()
    browser.wait(lambda d: len(rows(browser, "versions-list")) == 3)
    assert browser.text("tr[data-version='3'] .badge") == "current"
    assert api.get(f"{base}/api/files/notes.txt", timeout=10).content == b"first draft\n"
    versions = api.get(f"{base}/api/versions", params={"path": "/notes.txt"}, timeout=10).json()
    assert [v["version"] for v in versions["versions"]] == [3, 2, 1]
    browser.driver.set_window_size(375, 800)
    browser.screenshot("versions-375")
    assert browser.console_errors() == []
