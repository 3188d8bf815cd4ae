"""A Chromium driven by selenium, with the steps the browser tests share: log in, open a
page, wait for what a person would wait for, take screenshots, and check that the page
logged no error (a Content-Security-Policy violation is one)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import requests
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 15.0


class Browser:
    def __init__(self, driver: webdriver.Chrome, base_url: str, screenshots: Path, test_name: str):
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.screenshots = screenshots
        self.test_name = test_name

    @classmethod
    def launch(
        cls,
        chromium: str,
        chromedriver: str,
        *,
        base_url: str,
        screenshots: Path,
        test_name: str,
        download_dir: Path | None = None,
        width: int = 1280,
        height: int = 900,
    ) -> Browser:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--window-size={width},{height}",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if download_dir is not None:
            options.add_experimental_option(
                "prefs",
                {
                    "download.default_directory": str(download_dir),
                    "download.prompt_for_download": False,
                },
            )
        driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        driver.set_page_load_timeout(30)
        return cls(driver, base_url, screenshots, test_name)

    # ----- steps -----

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def log_in(self, username: str, password: str, path: str = "/") -> None:
        self.open(path)
        self.field("Username").send_keys(username)
        self.field("Password").send_keys(password)
        self.press("Log in")
        self.wait(lambda d: not d.current_url.startswith(self.base_url + "/login"))

    def field(self, label: str) -> WebElement:
        """The input a <label> with this text names."""
        found = self.wait_for(By.XPATH, f"//label[normalize-space()='{label}']")
        target = found.get_attribute("for")
        if target:
            return self.driver.find_element(By.ID, target)
        return found.find_element(By.XPATH, ".//input|.//select|.//textarea")

    def button(self, name: str) -> WebElement:
        """A button by its accessible name (text or aria-label), once it is clickable."""
        xpath = (
            f"//button[normalize-space()='{name}' or @aria-label='{name}']"
            f"|//input[@type='submit' and @value='{name}']"
        )
        return WebDriverWait(self.driver, WAIT).until(ec.element_to_be_clickable((By.XPATH, xpath)))

    def press(self, name: str) -> None:
        """Click the button of this name, finding it again if the page redrew it between
        finding and clicking (lists re-render when their data comes), and waiting out a
        toast that covers it for its few seconds."""

        def clicked(driver: webdriver.Chrome) -> bool:
            try:
                self.button(name).click()
            except (StaleElementReferenceException, ElementClickInterceptedException):
                return False
            return True

        self.wait(clicked)

    def button_element(self, name: str) -> WebElement:
        """A button by its accessible name, enabled or not."""
        xpath = f"//button[normalize-space()='{name}' or @aria-label='{name}']"
        return self.wait(lambda d: d.find_element(By.XPATH, xpath))

    def button_enabled(self, name: str) -> bool:
        """Whether the button of this name is enabled, asked again if the page redrew it
        while it was being asked."""

        def answer(driver: webdriver.Chrome) -> str | None:
            try:
                return "enabled" if self.button_element(name).is_enabled() else "disabled"
            except StaleElementReferenceException:
                return None

        return bool(self.wait(answer) == "enabled")

    def wait_for(self, by: str, selector: str, timeout: float = WAIT) -> WebElement:
        return WebDriverWait(self.driver, timeout).until(
            ec.visibility_of_element_located((by, selector))
        )

    def wait(self, condition: Any, timeout: float = WAIT) -> Any:
        return WebDriverWait(self.driver, timeout).until(condition)

    def text(self, css: str) -> str:
        return str(self.wait_for(By.CSS_SELECTOR, css).text)

    def text_now(self, css: str) -> str | None:
        """The text of the first element matching ``css`` now (None if none), read in one
        script call: a view that redraws itself cannot make it stale."""
        found = self.driver.execute_script(
            "const el = document.querySelector(arguments[0]);"
            "return el ? el.innerText.trim() : null;",
            css,
        )
        return None if found is None else str(found)

    def screenshot(self, name: str) -> Path:
        """Save the whole page as <test>-<name>.png."""
        path = self.screenshots / f"{self.test_name}-{name}.png"
        # A browser already gone leaves no picture; the test says why it failed.
        with contextlib.suppress(WebDriverException):
            self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[str]:
        """What the page logged as errors since last asked (CSP violations among them)."""
        entries = self.driver.get_log("browser")
        return [e["message"] for e in entries if e.get("level") == "SEVERE"]

    def close(self) -> None:
        with contextlib.suppress(WebDriverException):
            self.driver.quit()


def wait_until(predicate: Any, timeout: float = WAIT, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(interval)


# ----- accounts and the API beside the pages -----


def add_user(base_url: str, name: str, password: str, **fields: Any) -> dict[str, Any]:
    """An account of the test's own, through ``POST /api/admin/users`` (loopback, open
    mode): tests share the cluster."""
    reply = requests.post(
        f"{base_url}/api/admin/users",
        json={"username": name, "password": password, **fields},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def bearer_for(base_url: str, name: str, password: str) -> dict[str, str]:
    """The Authorization header of a fresh API login."""
    reply = requests.post(
        f"{base_url}/api/login", json={"username": name, "password": password}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def api_session(base_url: str, name: str, password: str) -> requests.Session:
    """A requests session logged in through POST /api/login (a bearer token)."""
    session = requests.Session()
    session.headers.update(bearer_for(base_url, name, password))
    return session


def dialog_button(browser: Browser, name: str) -> WebElement:
    """A button of the open modal dialog, by its text."""
    xpath = f"//dialog[@open]//button[normalize-space()='{name}']"
    return WebDriverWait(browser.driver, WAIT).until(ec.element_to_be_clickable((By.XPATH, xpath)))
