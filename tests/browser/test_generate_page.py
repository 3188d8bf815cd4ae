"""The generate page in a real Chromium against the fake Seedream: a prompt, one reference
image from the user's files (the picker) and one from the computer, two images asked
for; both are shown and found saved in the chosen folder (checked through the API)."""

from __future__ import annotations

import io

import requests
from PIL import Image
from selenium.webdriver.common.by import By

from tests.browser.pages import add_user, bearer_for

USER = ("gina-generate", "pw-gina-generate-1")
FOLDER = "/Generated/tests"


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, format="PNG")
    return out.getvalue()


def test_generate_two_images_into_a_folder(browser, web_cluster, fake_seedream, tmp_path):
    base = web_cluster.master.url
    add_user(base, *USER)
    bearer = bearer_for(base, *USER)
    put = requests.put(f"{base}/api/files/refs/cat.png", data=png((200, 40, 90)), headers=bearer)
    assert put.status_code == 200, put.text
    local = tmp_path / "dog.png"
    local.write_bytes(png((20, 140, 90)))

    browser.log_in(*USER, path="/generate")
    browser.field("Prompt").send_keys("two cats in a garden")
    browser.press("Choose reference 1 from my files")
    browser.wait_for(By.CSS_SELECTOR, "dialog.picker")
    # The picker opens on the top folder: into refs/, then the image.
    browser.wait_for(By.XPATH, "//dialog//button[normalize-space()='refs']").click()
    browser.screenshot("generate-picker")
    browser.press("Use /refs/cat.png")
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog"))
    assert "/refs/cat.png" in browser.text("[data-ref='1'] .ref-chosen")
    browser.field("Reference 2 from this computer").send_keys(str(local))
    assert "dog.png" in browser.text("[data-ref='2'] .ref-chosen")

    browser.driver.find_element(By.CSS_SELECTOR, "details.options summary").click()
    count = browser.field("Number of images")
    count.clear()
    count.send_keys("2")
    folder = browser.field("Save into folder")
    folder.clear()
    folder.send_keys(FOLDER)
    browser.screenshot("generate-form")
    before = len(fake_seedream.requests)
    browser.press("Generate")

    browser.wait(lambda _: browser.text(".gen-status").startswith("Done:"), timeout=30)
    cards = browser.driver.find_elements(By.CSS_SELECTOR, ".results li.result[data-path]")
    assert len(cards) == 2
    paths = sorted(card.get_attribute("data-path") for card in cards)
    assert all(path.startswith(f"{FOLDER}/seedream-two-cats-in-a-garden-") for path in paths)
    # The images were drawn from the stored files.
    browser.wait(
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('.results img')]"
            ".every((img) => img.complete && img.naturalWidth > 0)"
        )
    )
    browser.screenshot("generate-results")

    # Saved where asked, in the user's own files.
    listed = requests.get(f"{base}/api/list", params={"path": FOLDER}, headers=bearer).json()
    assert sorted(entry["path"] for entry in listed["entries"]) == paths
    for path in paths:
        got = requests.get(f"{base}/api/files{path}", headers=bearer)
        assert got.status_code == 200 and got.content[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")
    # Both references went upstream, as images of the request.
    sent = fake_seedream.requests[before].json
    assert sent["prompt"] == "two cats in a garden"
    assert isinstance(sent["image"], list) and len(sent["image"]) == 2
    assert sent["sequential_image_generation_options"] == {"max_images": 2}

    browser.driver.set_window_size(375, 900)
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 376
    browser.screenshot("generate-375")
    assert browser.console_errors() == []


def test_a_refused_generation_reads_clearly(browser, web_cluster):
    name, password = "hal-generate", "pw-hal-generate-1"
    add_user(web_cluster.master.url, name, password)
    browser.log_in(name, password, path="/generate")
    browser.field("Prompt").send_keys("a bad size")
    browser.driver.find_element(By.CSS_SELECTOR, "details.options summary").click()
    browser.field("Size").send_keys("huge")
    browser.press("Generate")
    message = browser.text(".generate-form [role=alert]")
    assert "size" in message.lower()
    browser.screenshot("generate-error")
    # The 400 itself is the one console line (the browser logs failed requests).
    assert all(" 400 " in line for line in browser.console_errors())
