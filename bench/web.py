"""The web app (issue #19): what a person waits for, measured on a real cluster.

- a page of a 10,000-entry folder from ``/api/list`` (server time), the whole folder in
  pages of 1,000, and a search across the account;
- the file page in Debian's Chromium: from navigation to the first rows shown, for that
  folder;
- thumbnails: the first request for a 12-megapixel JPEG (decoded and scaled) and the
  next ones (cached by content hash);
- a 200 MiB upload through the page (Chromium, the tus client) against ``curl -T`` to
  ``/api/files/...`` on the same cluster, in one run.

    .venv/bin/python -m bench.web [--entries 10000] [--upload-mib 200] [--repeat 3]
"""

from __future__ import annotations

import datetime
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import click
import requests

from bench.disk import random_file
from bench.load import MIB, curl_seconds
from bench.machine import machine
from bench.results import Results, num, spread
from localcluster.launcher import Cluster

USER, PASSWORD = "bench", "bench-password"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def timed(call: Callable[[], object], times: int) -> list[float]:
    """Seconds each of ``times`` calls took."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def make_entries(master: str, auth: dict[str, str], folder: str, count: int) -> None:
    """``count`` folders under ``folder``, made by 8 clients (bounded: each call 30 s)."""
    sessions = [requests.Session() for _ in range(8)]

    def make(index: int) -> None:
        http = sessions[index % 8]
        reply = http.post(
            f"{master}/api/mkdir",
            json={"path": f"{folder}/entry {index:05d}"},
            headers=auth,
            timeout=30,
        )
        reply.raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(count)))


def bench_listing(results: Results, master: str, auth: dict[str, str], entries: int) -> None:
    folder = "/big"
    started = time.perf_counter()
    make_entries(master, auth, folder, entries)
    made = time.perf_counter() - started
    print(f"  made {entries} entries in {made:.1f} s", flush=True)
    http = requests.Session()

    def page() -> None:
        reply = http.get(
            f"{master}/api/list", params={"path": folder, "limit": "200"}, headers=auth, timeout=30
        )
        reply.raise_for_status()
        assert len(reply.json()["entries"]) == 200

    samples = timed(page, 100)
    median = statistics.median(samples)
    results.figure("list a page of 200 of 10,000 entries", median * 1000, None, "ms")
    results.row(
        f"`/api/list` a page of 200 of {entries:,} entries, median (p99)",
        "—",
        f"{num(median * 1000, 'ms')} ({num(p99(samples) * 1000, 'ms')})",
        None,
        "< 100 ms",
        p99(samples) < 0.1,
    )

    def whole() -> None:
        offset = 0
        while offset < entries:
            reply = http.get(
                f"{master}/api/list",
                params={"path": folder, "limit": "1000", "offset": str(offset)},
                headers=auth,
                timeout=30,
            )
            reply.raise_for_status()
            offset += len(reply.json()["entries"])

    total = statistics.median(timed(whole, 5))
    results.figure("list the whole folder", total * 1000, None, "ms")
    results.row(
        f"`/api/list` all {entries:,} entries in pages of 1,000, median",
        "—",
        num(total * 1000, "ms"),
        None,
    )

    def search() -> None:
        http.get(
            f"{master}/api/search", params={"q": "entry 0999"}, headers=auth, timeout=30
        ).raise_for_status()

    found = statistics.median(timed(search, 20))
    results.figure("search", found * 1000, None, "ms")
    results.row(
        f"`/api/search` across {entries:,} entries, median", "—", num(found * 1000, "ms"), None
    )
    bench_page_load(results, master, folder, entries)


def browser(master: str, width: int = 1280):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.get(f"{master}/login")
    driver.find_element("id", "username").send_keys(USER)
    driver.find_element("id", "password").send_keys(PASSWORD)
    driver.find_element("css selector", "button[type=submit]").click()
    return driver


def bench_page_load(results: Results, master: str, folder: str, entries: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser(master)
    try:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            driver.get(f"{master}/?path={folder}")
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements("css selector", "[data-path]")
            )
            samples.append(time.perf_counter() - started)
        median = statistics.median(samples)
        results.figure("page load", median * 1000, None, "ms")
        results.row(
            f"file page of a {entries:,}-entry folder in Chromium: to the first rows, median",
            "—",
            num(median * 1000, "ms"),
            None,
            "< 1 s",
            median < 1.0,
        )
    finally:
        driver.quit()


def bench_thumbnails(results: Results, master: str, auth: dict[str, str]) -> None:
    """A 12-megapixel JPEG: the first thumbnail (read, decode, scale, encode, cache) and
    the next ones (from the cache), each of the three sizes."""
    from PIL import Image

    picture = Image.effect_noise((4000, 3000), 64).convert("RGB")
    encoded = io.BytesIO()
    picture.save(encoded, "JPEG", quality=90)
    http = requests.Session()
    for index, size in enumerate((256, 1024)):
        path = f"/photos/noise-{index}.jpg"  # distinct content per size: a cold cache each
        body = encoded.getvalue() + bytes(index)  # trailing bytes JPEG readers ignore
        http.put(
            f"{master}/api/files{path}", data=body, headers=auth, timeout=60
        ).raise_for_status()

        def thumbnail(size: int = size, path: str = path) -> None:
            reply = http.get(
                f"{master}/api/thumbnail",
                params={"path": path, "size": str(size)},
                headers=auth,
                timeout=60,
            )
            reply.raise_for_status()
            assert reply.headers["Content-Type"] == "image/webp"

        cold = timed(thumbnail, 1)[0]
        warm = statistics.median(timed(thumbnail, 20))
        results.figure(f"thumbnail {size} cold", cold * 1000, None, "ms")
        results.figure(f"thumbnail {size} warm", warm * 1000, None, "ms")
        results.row(
            f"thumbnail {size} px of a 12 MP JPEG ({len(body) / MIB:.1f} MiB): first, then cached",
            "—",
            f"{num(cold * 1000, 'ms')}, then {num(warm * 1000, 'ms')}",
            None,
        )


# The moment the file is chosen, by the page's clock.
MARK_CHOSEN_JS = """
performance.clearResourceTimings();
performance.setResourceTimingBufferSize(10000);
arguments[0].addEventListener("change", () => { window.mdbxChosen = performance.now(); },
                              { once: true });
"""
# Seconds from the file chosen to the answer of the upload's last tus request.
UPLOAD_SECONDS_JS = """
const ends = performance.getEntriesByType("resource")
  .filter((entry) => new URL(entry.name).pathname.startsWith("/api/tus/"))
  .map((entry) => entry.responseEnd);
return (Math.max(...ends) - window.mdbxChosen) / 1000;
"""


def uploads_done(driver: Any, count: int) -> bool:
    """Whether the page's upload panel shows ``count`` uploads done."""
    done = driver.find_elements("css selector", "li.upload[data-state='done']")
    return len(done) >= count


def bench_page_upload(
    results: Results, master: str, auth: dict[str, str], scratch: Path, mib: int, repeat: int
) -> None:
    """Files of random bytes stored by ``curl -T`` to ``PUT /api/files`` and through the file
    page's "Upload files" input in Chromium (tus, chunk after chunk), alternately,
    ``repeat`` times each on the same cluster: the medians' ratio, and each one's range.
    The page's time runs from the file chosen to its last tus answer (Resource Timing)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    size = mib * MIB
    curl_rates, page_rates = [], []
    driver = browser(master)
    try:
        driver.get(f"{master}/")
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".entries-wrap[data-loaded]")
        )
        for round_ in range(repeat):
            # Different random bytes each time: a later upload would find the blocks stored.
            for_curl, source = scratch / f"curl-{round_}.bin", scratch / f"page-{round_}.bin"
            random_file(for_curl, size)
            random_file(source, size)
            seconds = curl_seconds(
                "-T",
                str(for_curl),
                "-H",
                f"Authorization: {auth['Authorization']}",
                f"{master}/api/files/bench/{for_curl.name}",
                expect_bytes=size,
            )
            curl_rates.append(size / seconds / 1e6)
            picker = driver.find_element(
                By.XPATH, "//label[normalize-space()='Upload files']//input"
            )
            driver.execute_script(MARK_CHOSEN_JS, picker)
            picker.send_keys(str(source))
            # Polled slowly: each look is a DevTools call that costs the browser CPU the
            # upload shares; the time is the page's own clock (UPLOAD_SECONDS_JS).
            WebDriverWait(driver, 600, poll_frequency=0.5).until(
                partial(uploads_done, count=round_ + 1)
            )
            page_rates.append(size / driver.execute_script(UPLOAD_SECONDS_JS) / 1e6)
            stored = requests.get(
                f"{master}/api/stat", params={"path": f"/{source.name}"}, headers=auth, timeout=30
            ).json()
            assert stored["size"] == size, stored
            for_curl.unlink()
            source.unlink()
    finally:
        driver.quit()
    curl_rate, page_rate = statistics.median(curl_rates), statistics.median(page_rates)
    ratio = results.figure(
        f"upload {mib} MiB through the page",
        page_rate,
        curl_rate,
        "MB/s",
        page=page_rates,
        curl=curl_rates,
    )
    results.row(
        f"{mib} MiB upload: the page in Chromium (tus) against `curl -T` to `/api/files`, "
        f"median of {repeat} each, alternating",
        f"curl {spread(curl_rates, 'MB/s')}",
        f"page {spread(page_rates, 'MB/s')}",
        ratio,
        "≥ 0.7",
        ratio is not None and ratio >= 0.7,
    )


@click.command()
@click.option("--entries", default=10_000, help="Entries in the big folder.")
@click.option("--upload-mib", default=200, help="MiB of the upload through the page.")
@click.option("--repeat", default=3, help="Uploads by each of curl and the page.")
@click.option(
    "--chunk-mib", default=0, help="The master's UPLOAD_CHUNK_BYTES in MiB (0: its default)."
)
def main(entries: int, upload_mib: int, repeat: int, chunk_mib: int) -> None:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch:
        env = {"MDBX_UPLOAD_CHUNK_BYTES": str(chunk_mib * MIB)} if chunk_mib else {}
        cluster = Cluster(Path(scratch) / "cluster", env=env).start(nodes=2)
        try:
            cluster.wait_nodes_up()
            master = cluster.master.url
            requests.post(
                f"{master}/api/admin/users",
                json={"username": USER, "password": PASSWORD},
                timeout=10,
            ).raise_for_status()
            token = requests.post(
                f"{master}/api/login", json={"username": USER, "password": PASSWORD}, timeout=10
            ).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            steps: list[tuple[str, Callable[[], None]]] = [
                ("listing", lambda: bench_listing(results, master, auth, entries)),
                ("thumbnails", lambda: bench_thumbnails(results, master, auth)),
                (
                    "page upload",
                    lambda: bench_page_upload(
                        results, master, auth, Path(scratch), upload_mib, repeat
                    ),
                ),
            ]
            for name, step in steps:
                try:
                    step()
                except Exception as error:  # one workload failing still reports the others
                    results.fail(name, error)
        finally:
            cluster.stop()
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    saved = results.save("web", report)
    print(f"\n{results.table()}\n\nfigures in {saved}")


if __name__ == "__main__":
    main()
