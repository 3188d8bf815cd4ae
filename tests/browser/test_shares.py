"""Share links in a real Chromium: make a password link in the page, open it in a fresh
browser with no login (the password form, then the file's page and its download), see
curl still get the bytes, and revoke it from the Shared links page."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.pages import add_user, api_session, dialog_button

USER, PASSWORD = "share-tester", "pw-share-1"
LINK_PASSWORD = "open sesame"
CONTENT = b"Quarterly numbers <script>alert(1)</script>\nline two\n"


def test_make_open_and_revoke_a_password_link(make_browser, web_cluster):
    base = web_cluster.master.url
    add_user(base, USER, PASSWORD)
    api = api_session(base, USER, PASSWORD)
    api.put(f"{base}/api/files/reports/q3.txt", data=CONTENT, timeout=10).raise_for_status()

    owner = make_browser()
    owner.log_in(USER, PASSWORD, "/shares")
    assert owner.text(".list-status").startswith("You have no shared links")
    owner.press("Share a file")
    path_field = owner.field("Path of the file")
    path_field.clear()
    path_field.send_keys("/reports/q3.txt")
    dialog_button(owner, "Next").click()
    Select(owner.field("Link expires")).select_by_visible_text("In 7 days")
    owner.field("Password (optional)").send_keys(LINK_PASSWORD)
    owner.screenshot("share-dialog")
    dialog_button(owner, "Create link").click()
    url = owner.field("Link").get_attribute("value")
    assert url.startswith(f"{base}/s/") or url.startswith("http://127.0.0.1:")
    token = url.rsplit("/s/", 1)[1]
    dialog_button(owner, "Copy link").click()
    owner.wait(lambda d: owner.text(".dialog-body [role=status]") != "")
    owner.screenshot("share-link")
    dialog_button(owner, "Done").click()
    row = owner.wait_for(By.CSS_SELECTOR, "table.shares-list tr[data-path='/reports/q3.txt']")
    assert row.find_element(By.CSS_SELECTOR, "td.password").text == "Yes"
    assert row.find_element(By.CSS_SELECTOR, "td.expires").text != "Never"
    listed = api.get(f"{base}/api/shares", timeout=10).json()["shares"]
    assert [(s["path"], s["password"]) for s in listed] == [("/reports/q3.txt", True)]
    assert listed[0]["expires_at"] - listed[0]["created_at"] > 6.9 * 86_400
    owner.screenshot("shares")

    # The recipient: no account, a fresh browser. The link is the master's own address.
    link = f"{base}/s/{token}"
    recipient = make_browser()
    recipient.open(f"/s/{token}")
    assert recipient.text("h1") == "This link needs a password"
    assert "q3.txt" not in recipient.driver.page_source  # nothing shown before it
    recipient.screenshot("recipient-password")
    recipient.field("Password").send_keys("wrong guess")
    recipient.press("Open")
    assert recipient.text("[role=alert]") == "That password is not right. Try again."
    recipient.field("Password").send_keys(LINK_PASSWORD)
    recipient.press("Open")
    assert recipient.text("h1.share-name") == "q3.txt"
    assert recipient.text(".share-size") == f"{len(CONTENT)} B"
    assert recipient.text(".share-text pre") == CONTENT.decode().strip()  # as text, not run
    assert "?password=" not in recipient.driver.current_url
    download = recipient.driver.find_element(By.XPATH, "//a[normalize-space()='Download']")
    href = download.get_attribute("href")
    assert href == f"{link}?download=1"
    recipient.screenshot("recipient-file")
    recipient.driver.set_window_size(375, 800)
    recipient.screenshot("recipient-file-375")
    # The download as the browser makes it: with the link's grant cookie, no password.
    cookies = {c["name"]: c["value"] for c in recipient.driver.get_cookies()}
    assert set(cookies) == {"mdbx_share"}
    assert requests.get(href, cookies=cookies, timeout=10).content == CONTENT
    assert requests.get(href, timeout=10).status_code == 401
    messages = recipient.console_errors()  # the form's answers: 401, then 403 (wrong)
    assert len(messages) == 2 and " 401 " in messages[0] and " 403 " in messages[1], messages

    # curl's way: no Accept for HTML, the password as before; the bytes.
    raw = requests.get(link, params={"password": LINK_PASSWORD}, timeout=10)
    assert raw.status_code == 200 and raw.content == CONTENT
    header = requests.get(link, headers={"X-Share-Password": LINK_PASSWORD}, timeout=10)
    assert header.content == CONTENT
    refused = requests.get(link, timeout=10)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "missing_credentials")

    owner.press("Revoke the link to /reports/q3.txt")
    dialog_button(owner, "Revoke").click()
    owner.wait(lambda d: owner.text(".list-status").startswith("You have no shared links"))
    assert requests.get(link, params={"password": LINK_PASSWORD}, timeout=10).status_code == 404
    recipient.open(f"/s/{token}")
    assert recipient.text("h1") == "This link does not work"
    recipient.screenshot("recipient-revoked")
    assert owner.console_errors() == []


def test_an_image_link_shows_its_thumbnail(make_browser, web_cluster):
    import io

    from PIL import Image

    base = web_cluster.master.url
    add_user(base, "share-image-tester", PASSWORD)
    api = api_session(base, "share-image-tester", PASSWORD)
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(picture, "PNG")
    api.put(f"{base}/api/files/sky.png", data=picture.getvalue(), timeout=10).raise_for_status()
    token = api.post(f"{base}/api/shares", json={"path": "/sky.png"}, timeout=10).json()["token"]

    recipient = make_browser()
    recipient.open(f"/s/{token}")
    assert recipient.text("h1.share-name") == "sky.png"
    image = recipient.wait_for(By.CSS_SELECTOR, ".share-preview img")
    assert image.get_attribute("alt") == "Preview of sky.png"
    width = recipient.wait(lambda d: d.execute_script("return arguments[0].naturalWidth", image))
    assert width == 640  # a thumbnail is never enlarged past the image
    recipient.screenshot("recipient-image")
    assert recipient.console_errors() == []
