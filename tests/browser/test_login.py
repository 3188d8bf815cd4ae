"""Logging in and out in a real Chromium, and the file list it leads to."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By

from tests.browser.conftest import USERS


def api_token(base_url: str, name: str) -> dict[str, str]:
    reply = requests.post(
        f"{base_url}/api/login", json={"username": name, "password": USERS[name]}, timeout=10
    )
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_log_in_see_files_and_log_out(browser, web_cluster):
    bearer = api_token(web_cluster.master.url, "bob")
    for path in ("/Notes", "/Photos"):
        requests.post(
            f"{web_cluster.master.url}/api/mkdir", json={"path": path}, headers=bearer, timeout=10
        ).raise_for_status()
    requests.put(
        f"{web_cluster.master.url}/api/files/readme <b>.txt",
        data=b"hello",
        headers=bearer,
        timeout=10,
    ).raise_for_status()

    browser.open("/")
    assert "/login" in browser.driver.current_url
    browser.screenshot("login")
    browser.field("Password").send_keys("wrong")
    browser.field("Username").send_keys("bob")
    browser.press("Log in")
    assert browser.text("[role=alert]") == "wrong username or password"
    assert [" 401 " in message for message in browser.console_errors()] == [True]

    browser.log_in("bob", USERS["bob"])
    rows = browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "table.entries tbody tr"))
    names = [row.find_element(By.CSS_SELECTOR, "td.name").text for row in rows]
    assert names == ["Notes", "Photos", "readme <b>.txt"]  # folders first; the name as text
    browser.screenshot("files")
    assert browser.console_errors() == []

    browser.press("Log out")
    browser.wait(lambda d: "/login" in d.current_url)
    browser.open("/")
    assert "/login" in browser.driver.current_url
