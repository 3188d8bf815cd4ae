"""Previews in the file browser in a real Chromium: an image (the server's thumbnail), a
large text file (its first 256 KB), a video (streamed; Chromium recorded it), a PDF (drawn
by pdf.js); arrows switch, Escape closes. Then the page at 375 px and in dark mode."""

from __future__ import annotations

import io

from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.files_steps import Account, row, wait_names

# Record a one-second WebM from a canvas and store it through the API with the cookie.
RECORD_VIDEO_JS = """
const done = arguments[arguments.length - 1];
const canvas = document.createElement("canvas");
canvas.width = 160; canvas.height = 120;
const context = canvas.getContext("2d");
const stream = canvas.captureStream(25);
const recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
const chunks = [];
recorder.ondataavailable = (event) => chunks.push(event.data);
recorder.onstop = async () => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const reply = await fetch("/api/files/c-clip.webm", {
    method: "PUT", body: new Blob(chunks, { type: "video/webm" }),
    headers: { "X-CSRF-Token": token },
  });
  done(reply.status);
};
let frame = 0;
const timer = setInterval(() => {
  context.fillStyle = `hsl(${(frame += 12) % 360} 80% 50%)`;
  context.fillRect(0, 0, 160, 120);
}, 40);
recorder.start(100);
setTimeout(() => { clearInterval(timer); recorder.stop(); }, 1200);
"""

# A one-page PDF saying "Hello PDF" (pdf.js rebuilds the cross-reference table itself).
PDF = b"""%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R
  /Resources << /Font << /F1 5 0 R >> >> >> endobj
4 0 obj << /Length 44 >> stream
BT /F1 24 Tf 40 100 Td (Hello PDF) Tj ET
endstream endobj
5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj
trailer << /Root 1 0 R >>
%%EOF
"""


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def preview(browser):
    return browser.wait_for(By.CSS_SELECTOR, "dialog.preview[open]")


def wait_kind(browser, kind, path):
    browser.wait(
        lambda d: (
            preview(browser).get_attribute("data-kind") == kind
            and preview(browser).get_attribute("data-path") == path
        )
    )


def press(browser, key):
    ActionChains(browser.driver).send_keys(key).perform()


def test_previews_switch_with_arrows(browser, web_cluster):
    account = Account(web_cluster.master.url, "viewer")
    account.put("/a-photo.png", png(640, 480))
    lines = "".join(f"line {i} <script>alert(1)</script>\n" for i in range(12000))
    account.put("/b-notes.txt", lines.encode())  # ~430 KB
    account.put("/d-doc.pdf", PDF)

    browser.log_in(account.name, account.password)
    wait_names(browser, ["a-photo.png", "b-notes.txt", "d-doc.pdf"])
    assert browser.driver.execute_async_script(RECORD_VIDEO_JS) == 200
    browser.open("/")
    wait_names(browser, ["a-photo.png", "b-notes.txt", "c-clip.webm", "d-doc.pdf"])

    row(browser, "a-photo.png").find_element(By.CSS_SELECTOR, "a.entry-link").click()
    wait_kind(browser, "image", "/a-photo.png")
    image = browser.wait_for(By.CSS_SELECTOR, "dialog.preview img")
    browser.wait(lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)
    assert "/api/thumbnail" in image.get_attribute("src")
    assert preview(browser).find_element(By.CSS_SELECTOR, ".preview-counter").text == "1 of 4"
    browser.screenshot("preview-image")

    press(browser, Keys.ARROW_RIGHT)
    wait_kind(browser, "text", "/b-notes.txt")
    text = browser.wait_for(By.CSS_SELECTOR, "dialog.preview pre")
    browser.wait(lambda d: text.text.startswith("line 0 <script>"))  # shown as text
    assert "First 256 KB shown" in preview(browser).text
    shown = browser.driver.execute_script("return arguments[0].textContent.length", text)
    assert 256 * 1024 - 100 <= shown <= 256 * 1024
    browser.screenshot("preview-text")

    press(browser, Keys.ARROW_RIGHT)
    wait_kind(browser, "video", "/c-clip.webm")
    video = browser.wait_for(By.CSS_SELECTOR, "dialog.preview video")
    browser.wait(lambda d: d.execute_script("return arguments[0].readyState", video) >= 1)
    assert browser.driver.execute_script("return arguments[0].error", video) is None
    browser.screenshot("preview-video")

    press(browser, Keys.ARROW_RIGHT)
    wait_kind(browser, "pdf", "/d-doc.pdf")
    canvas = browser.wait_for(By.CSS_SELECTOR, "dialog.preview canvas", timeout=20)
    assert int(canvas.get_attribute("width")) > 300
    browser.screenshot("preview-pdf")
    press(browser, Keys.ARROW_RIGHT)  # the last one: stays
    wait_kind(browser, "pdf", "/d-doc.pdf")

    press(browser, Keys.ARROW_LEFT)
    wait_kind(browser, "video", "/c-clip.webm")
    press(browser, Keys.ESCAPE)
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog.preview"))
    assert browser.console_errors() == []


def test_small_screen_and_dark_mode(make_browser, web_cluster):
    account = Account(web_cluster.master.url, "narrow")
    account.mkdir("/Holiday photos")
    account.put("/a rather long file name that has to wrap or be cut.txt", b"x" * 12345)
    account.put("/b.png", png(32, 32))
    browser = make_browser(width=375, height=740)
    # Headless Chromium keeps windows at least 500 px wide: emulate the phone's viewport.
    browser.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 740, "deviceScaleFactor": 1, "mobile": True},
    )
    browser.log_in(account.name, account.password)
    wait_names(
        browser,
        ["Holiday photos", "a rather long file name that has to wrap or be cut.txt", "b.png"],
    )
    assert browser.driver.execute_script("return window.innerWidth") == 375
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375  # nothing sticks out sideways
    browser.screenshot("narrow")
    browser.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    row(browser, "b.png").find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    background = browser.driver.execute_script(
        "return getComputedStyle(document.body).backgroundColor"
    )
    assert background == "rgb(16, 18, 22)"
    browser.screenshot("narrow-dark")
    row(browser, "b.png").find_element(By.CSS_SELECTOR, "a.entry-link").click()
    browser.wait_for(By.CSS_SELECTOR, "dialog.preview[open] img")
    browser.screenshot("narrow-dark-preview")
    assert browser.console_errors() == []
