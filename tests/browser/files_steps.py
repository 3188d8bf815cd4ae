"""Steps the file-browser tests share: a user of their own, API calls with its token,
and reading the list as a person sees it."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import requests
from selenium.webdriver.common.by import By

from tests.browser.pages import Browser

TIMEOUT = 30


class Account:
    """A fresh user of the shared cluster (so tests do not see each other's files)."""

    def __init__(self, base_url: str, prefix: str) -> None:
        self.base_url = base_url
        self.name = f"{prefix}{uuid.uuid4().hex[:8]}"
        self.password = f"pw-{uuid.uuid4().hex}"
        made = requests.post(
            f"{base_url}/api/admin/users",
            json={"username": self.name, "password": self.password},
            timeout=TIMEOUT,
        )
        assert made.status_code == 200, made.text
        self.http = requests.Session()
        login = self.http.post(
            f"{base_url}/api/login",
            json={"username": self.name, "password": self.password},
            timeout=TIMEOUT,
        )
        login.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {login.json()['token']}"

    def put(self, path: str, data: bytes) -> dict[str, Any]:
        reply = self.http.put(f"{self.base_url}/api/files{path}", data=data, timeout=TIMEOUT)
        reply.raise_for_status()
        return dict(reply.json())

    def mkdir(self, path: str) -> None:
        self.http.post(
            f"{self.base_url}/api/mkdir", json={"path": path}, timeout=TIMEOUT
        ).raise_for_status()

    def get(self, path: str) -> bytes:
        reply = self.http.get(f"{self.base_url}/api/files{path}", timeout=TIMEOUT)
        reply.raise_for_status()
        return reply.content

    def stat(self, path: str) -> dict[str, Any] | None:
        reply = self.http.get(f"{self.base_url}/api/stat", params={"path": path}, timeout=TIMEOUT)
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        return dict(reply.json())

    def names(self, path: str) -> list[str]:
        reply = self.http.get(
            f"{self.base_url}/api/list", params={"path": path, "limit": 1000}, timeout=TIMEOUT
        )
        reply.raise_for_status()
        return [entry["name"] for entry in reply.json()["entries"]]

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.get(path)).hexdigest()


ROW_NAMES_JS = """
return Array.from(
  document.querySelectorAll("table.entries tbody tr[data-path] td.name a.entry-link"),
  (link) => link.innerText.trim(),
);
"""


def row_names(browser: Browser) -> list[str]:
    """The names in the list's rows, in order (as text, as a person reads them). Read in
    one script: the list redraws its rows as pages arrive, and rows read one by one
    could be replaced in between (a stale element)."""
    names = browser.driver.execute_script(ROW_NAMES_JS)
    return [str(name) for name in names]


def wait_names(browser: Browser, expected: list[str], timeout: float = 15) -> None:
    last: list[list[str]] = [[]]

    def same(_: Any) -> bool:
        try:
            # The page marks the list once drawn (before that, no rows means nothing).
            if not browser.driver.find_elements(By.CSS_SELECTOR, ".entries-wrap[data-loaded]"):
                return False
            last[0] = row_names(browser)
        except Exception:  # a row redrawn under us: read again
            return False
        return last[0] == expected

    try:
        browser.wait(same, timeout)
    except Exception as error:
        raise AssertionError(f"rows {last[0]!r}, expected {expected!r}") from error


def row(browser: Browser, name: str) -> Any:
    return browser.wait_for(
        By.XPATH,
        "//table[contains(@class,'entries')]//tr"
        f"[.//a[@class='entry-link' and normalize-space()='{name}']]",
    )
