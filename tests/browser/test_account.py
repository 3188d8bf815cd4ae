"""The account page in a real Chromium: storage against the quota, active logins (revoke
one; this browser's cannot be), and changing the password, which ends the other logins."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By

from tests.browser.pages import add_user, api_session

USER, PASSWORD, NEW_PASSWORD = "account-tester", "pw-account-1", "pw-account-2"
QUOTA = 10_000_000


def session_rows(browser):
    return browser.driver.find_elements(By.CSS_SELECTOR, "table.sessions-list tbody tr")


def test_quota_sessions_and_password_change(browser, web_cluster):
    base = web_cluster.master.url
    add_user(base, USER, PASSWORD)
    changed = requests.patch(
        f"{base}/api/admin/users/{USER}", json={"quota_bytes": QUOTA}, timeout=10
    )
    assert changed.status_code == 200, changed.text
    token_one = api_session(base, USER, PASSWORD)
    token_one.put(f"{base}/api/files/blob.bin", data=b"x" * 250_000, timeout=10).raise_for_status()

    browser.log_in(USER, PASSWORD, "/account")
    meter = browser.wait_for(By.CSS_SELECTOR, "meter#quota-meter")
    assert (meter.get_attribute("value"), meter.get_attribute("max")) == ("250000", str(QUOTA))
    assert browser.text(".quota-text").startswith("250 KB of 10.0 MB used (3 %)")
    browser.wait(lambda d: len(session_rows(browser)) == 2)
    current = browser.driver.find_element(By.CSS_SELECTOR, "table.sessions-list tr.current")
    assert current.get_attribute("data-kind") == "web"
    assert current.find_element(By.CSS_SELECTOR, ".badge").text == "This browser"
    assert current.find_elements(By.TAG_NAME, "button") == []  # log out to end this one
    assert "Chrome on Linux" in current.text
    browser.screenshot("account")

    api_row = browser.driver.find_element(
        By.CSS_SELECTOR, "table.sessions-list tr[data-kind='api']"
    )
    api_row.find_element(By.XPATH, ".//button[normalize-space()='Revoke']").click()
    browser.wait(lambda d: len(session_rows(browser)) == 1)
    assert token_one.get(f"{base}/api/account", timeout=10).status_code == 401

    token_two = api_session(base, USER, PASSWORD)
    browser.field("Current password").send_keys("not it")
    browser.field("New password").send_keys(NEW_PASSWORD)
    browser.field("Confirm new password").send_keys(NEW_PASSWORD)
    browser.press("Change password")
    assert browser.text(".password-form [role=alert]") == "The current password is not right."
    assert token_two.get(f"{base}/api/account", timeout=10).status_code == 200
    browser.screenshot("account-wrong-password")
    browser.console_errors()  # the refused change: a 403 the page showed

    current_field = browser.field("Current password")
    current_field.clear()
    current_field.send_keys(PASSWORD)
    browser.press("Change password")
    browser.wait(lambda d: browser.field("Current password").get_attribute("value") == "")
    assert token_two.get(f"{base}/api/account", timeout=10).status_code == 401  # ended
    old = requests.post(
        f"{base}/api/login", json={"username": USER, "password": PASSWORD}, timeout=10
    )
    assert old.status_code == 401
    assert api_session(base, USER, NEW_PASSWORD).get(f"{base}/api/account", timeout=10).ok
    # This browser stays logged in.
    browser.open("/account")
    browser.wait(lambda d: len(session_rows(browser)) == 2)  # this one and the new token
    assert "/login" not in browser.driver.current_url
    browser.driver.set_window_size(375, 900)
    browser.screenshot("account-375")
    assert browser.console_errors() == []
