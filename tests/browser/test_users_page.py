"""The users page in a real Chromium: add a user with a quota typed as "2 GB", disable
them, set another quota, each checked through the API; a size that is not one is refused
on the page."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By

from tests.browser.conftest import USERS
from tests.browser.pages import wait_until

NEW_USER = "ursula-users-page"


def accounts(base_url: str) -> dict[str, dict]:
    reply = requests.get(f"{base_url}/api/admin/users", timeout=10)  # loopback, open mode
    reply.raise_for_status()
    return {user["name"]: user for user in reply.json()["users"]}


def test_add_disable_and_set_quota(browser, web_cluster):
    base = web_cluster.master.url
    browser.log_in("root", USERS["root"], path="/admin/users")
    browser.wait_for(By.CSS_SELECTOR, "tr[data-user='alice']")

    browser.field("Username").send_keys(NEW_USER)
    browser.field("Password").send_keys("pw-ursula-1")
    browser.field("Quota").send_keys("lots")
    browser.press("Add user")
    assert "is not a size" in browser.text(".add-user [role=alert]")
    assert NEW_USER not in accounts(base)

    quota = browser.field("Quota")
    quota.clear()
    quota.send_keys("2 GB")
    browser.press("Add user")
    browser.wait_for(By.CSS_SELECTOR, f"tr[data-user='{NEW_USER}']")
    assert browser.text_now(f"tr[data-user='{NEW_USER}'] .user-quota").startswith("2.0 GB")
    made = accounts(base)[NEW_USER]
    assert made["quota_bytes"] == 2_000_000_000 and not made["admin"] and not made["disabled"]
    browser.screenshot("users")

    browser.press(f"Disable {NEW_USER}")
    browser.wait(
        lambda _: browser.text_now(f"tr[data-user='{NEW_USER}'] .user-status") == "disabled"
    )
    assert accounts(base)[NEW_USER]["disabled"] is True
    login = requests.post(
        f"{base}/api/login", json={"username": NEW_USER, "password": "pw-ursula-1"}, timeout=10
    )
    assert login.status_code in (401, 403)

    browser.press(f"Set quota of {NEW_USER}")
    dialog_input = browser.wait_for(By.CSS_SELECTOR, "dialog input")
    dialog_input.clear()
    dialog_input.send_keys("1.5 GiB")
    browser.screenshot("users-quota-dialog")
    # The dialog's own button (the rows' are named "Set quota of <name>").
    browser.wait_for(By.CSS_SELECTOR, "dialog button.primary").click()
    wait_until(lambda: accounts(base)[NEW_USER]["quota_bytes"] == int(1.5 * 2**30))
    browser.wait(
        lambda _: (browser.text_now(f"tr[data-user='{NEW_USER}'] .user-quota") or "").startswith(
            "1.6 GB"
        )
    )

    browser.press(f"Enable {NEW_USER}")
    wait_until(lambda: accounts(base)[NEW_USER]["disabled"] is False)
    # An administrator cannot lock themselves out from here.
    assert not browser.button_enabled("Disable root")

    browser.driver.set_window_size(375, 900)
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 376
    browser.screenshot("users-375")
    assert browser.console_errors() == []
