"""The file browser in a real Chromium: the list (sort, search, breadcrumbs), the
selection and the toolbar's actions, and the keyboard."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.files_steps import Account, row, row_names, wait_names


def keys(browser, *sequence):
    ActionChains(browser.driver).send_keys(*sequence).perform()


def focused_row(driver):
    """The list's row that has the focus, or None."""
    active = driver.switch_to.active_element
    inside = active.tag_name == "tr" and active.get_attribute("data-index") is not None
    return active if inside else None


def sort_state(browser):
    return {
        th.get_attribute("data-key"): th.get_attribute("aria-sort")
        for th in browser.driver.find_elements(By.CSS_SELECTOR, "table.entries thead th[data-key]")
    }


def test_sort_search_and_breadcrumbs(browser, web_cluster):
    account = Account(web_cluster.master.url, "sorter")
    account.mkdir("/Docs")
    account.mkdir("/Zed")
    account.put("/a.txt", b"aaa")
    account.put("/b.txt", b"b" * 2000)
    account.put("/c.txt", b"c")
    account.put("/Docs/inner <i>.txt", b"inside")

    browser.log_in(account.name, account.password)
    wait_names(browser, ["Docs", "Zed", "a.txt", "b.txt", "c.txt"])
    assert sort_state(browser) == {"name": "ascending", "size": None, "mtime": None}

    browser.press("Size")
    wait_names(browser, ["Docs", "Zed", "c.txt", "a.txt", "b.txt"])  # folders first
    assert sort_state(browser)["size"] == "ascending"
    browser.press("Size")
    wait_names(browser, ["Zed", "Docs", "b.txt", "a.txt", "c.txt"])
    assert sort_state(browser) == {"name": None, "size": "descending", "mtime": None}
    browser.press("Name")
    wait_names(browser, ["Docs", "Zed", "a.txt", "b.txt", "c.txt"])

    # "/" focuses the search box; results come from the whole account, with their folder.
    browser.driver.find_element(By.TAG_NAME, "body").click()
    keys(browser, "/")
    search = browser.driver.switch_to.active_element
    assert search.get_attribute("type") == "search"
    search.send_keys("INNER")
    wait_names(browser, ["inner <i>.txt"])
    where = browser.driver.find_element(By.CSS_SELECTOR, "table.entries td.name a.where")
    assert where.text == "/Docs"
    browser.screenshot("search")
    search.send_keys(Keys.ESCAPE)
    wait_names(browser, ["Docs", "Zed", "a.txt", "b.txt", "c.txt"])

    # A folder opens in place; breadcrumbs lead back.
    row(browser, "Docs").find_element(By.CSS_SELECTOR, "a.entry-link").click()
    wait_names(browser, ["inner <i>.txt"])
    assert "path=%2FDocs" in browser.driver.current_url
    crumbs = browser.driver.find_elements(By.CSS_SELECTOR, "nav.breadcrumbs a")
    assert [c.text for c in crumbs] == ["All files", "Docs"]
    assert crumbs[-1].get_attribute("aria-current") == "page"
    crumbs[0].click()
    wait_names(browser, ["Docs", "Zed", "a.txt", "b.txt", "c.txt"])
    browser.driver.back()
    wait_names(browser, ["inner <i>.txt"])
    assert browser.console_errors() == []


def test_select_rename_move_copy_delete(browser, web_cluster):
    account = Account(web_cluster.master.url, "actor")
    account.mkdir("/Zed")
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        account.put(f"/{name}", name.encode())

    browser.log_in(account.name, account.password)
    wait_names(browser, ["Zed", "a.txt", "b.txt", "c.txt", "d.txt"])
    for name in ("Rename", "Move", "Copy", "Delete", "Download", "Share"):
        assert (
            browser.driver.find_element(
                By.XPATH, f"//div[@role='toolbar']/button[normalize-space()='{name}']"
            ).get_attribute("disabled")
            is not None
        ), name
    assert browser.button_enabled("New folder")

    # Checkbox, then shift-click another: the range between is selected.
    row(browser, "a.txt").find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    box_c = row(browser, "c.txt").find_element(By.CSS_SELECTOR, "input[type=checkbox]")
    ActionChains(browser.driver).key_down(Keys.SHIFT).click(box_c).key_up(Keys.SHIFT).perform()
    selected = browser.driver.find_elements(By.CSS_SELECTOR, "tr[aria-selected='true']")
    assert sorted(r.get_attribute("data-path") for r in selected) == ["/a.txt", "/b.txt", "/c.txt"]
    assert browser.button_enabled("Delete")
    assert not browser.driver.find_element(
        By.XPATH, "//div[@role='toolbar']/button[normalize-space()='Rename']"
    ).is_enabled()
    browser.screenshot("selection")
    browser.press("Delete")
    wait_names(browser, ["Zed", "d.txt"])
    assert account.names("/") == ["Zed", "d.txt"]
    # The selection acted on is cleared, and the focus is back on the list.
    assert browser.driver.find_elements(By.CSS_SELECTOR, "tr[aria-selected='true']") == []
    browser.wait(lambda d: focused_row(d) is not None)
    browser.press("Undo")
    wait_names(browser, ["Zed", "a.txt", "b.txt", "c.txt", "d.txt"])
    assert account.names("/") == ["Zed", "a.txt", "b.txt", "c.txt", "d.txt"]

    # Select all from the header, then clear it with Escape.
    browser.driver.find_element(By.CSS_SELECTOR, "input[aria-label='Select all']").click()
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "tr[aria-selected='true']")) == 5
    keys(browser, Keys.ESCAPE)
    assert browser.driver.find_elements(By.CSS_SELECTOR, "tr[aria-selected='true']") == []

    # Rename from the toolbar.
    row(browser, "a.txt").find_element(By.CSS_SELECTOR, "td.size").click()
    browser.press("Rename")
    field = browser.field("New name")
    field.clear()
    field.send_keys("alpha.txt", Keys.ENTER)
    wait_names(browser, ["Zed", "alpha.txt", "b.txt", "c.txt", "d.txt"])
    assert account.get("/alpha.txt") == b"a.txt"

    # New folder, then move a file into it by typing its path.
    browser.press("New folder")
    browser.field("Folder name").send_keys("Fresh", Keys.ENTER)
    wait_names(browser, ["Fresh", "Zed", "alpha.txt", "b.txt", "c.txt", "d.txt"])
    row(browser, "alpha.txt").find_element(By.CSS_SELECTOR, "td.size").click()
    browser.press("Move")
    destination = browser.field("Destination folder")
    destination.clear()
    destination.send_keys("/Fresh")
    browser.screenshot("move-dialog")
    browser.press("Move here")
    wait_names(browser, ["Fresh", "Zed", "b.txt", "c.txt", "d.txt"])
    assert account.names("/Fresh") == ["alpha.txt"]
    assert browser.driver.find_elements(By.CSS_SELECTOR, "tr[aria-selected='true']") == []
    browser.wait(lambda d: focused_row(d) is not None)

    # Copy into a folder chosen by browsing the picker.
    row(browser, "b.txt").find_element(By.CSS_SELECTOR, "td.size").click()
    browser.press("Copy")
    browser.press("Zed")
    browser.wait(lambda d: browser.field("Destination folder").get_attribute("value") == "/Zed")
    browser.press("Copy here")
    browser.wait(lambda d: account.names("/Zed") == ["b.txt"])
    assert account.get("/Zed/b.txt") == b"b.txt"
    assert "b.txt" in row_names(browser)

    # Share opens the share dialog of the one selected; Versions leads to its versions.
    row(browser, "b.txt").find_element(By.CSS_SELECTOR, "td.size").click()
    browser.press("Share")
    dialog = browser.wait_for(By.CSS_SELECTOR, "dialog[open]")
    assert "b.txt" in dialog.text
    keys(browser, Keys.ESCAPE)
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"))
    browser.press("Versions")
    browser.wait(lambda d: "/versions?path=%2Fb.txt" in d.current_url)
    assert browser.console_errors() == []


def test_keyboard(browser, web_cluster):
    account = Account(web_cluster.master.url, "keys")
    account.mkdir("/Folder")
    account.put("/Folder/deep.txt", b"deep")
    for name in ("one.txt", "two.txt", "three.txt"):
        account.put(f"/{name}", name.encode())

    browser.log_in(account.name, account.password)
    wait_names(browser, ["Folder", "one.txt", "three.txt", "two.txt"])
    # Arrows move, Space selects, Shift+arrow extends.
    row(browser, "Folder").find_element(By.CSS_SELECTOR, "td.size").click()
    keys(browser, Keys.ESCAPE)  # the click selected the row: start from nothing
    keys(browser, Keys.ARROW_DOWN)
    active = browser.driver.switch_to.active_element
    assert active.get_attribute("data-path") == "/one.txt"
    keys(browser, " ")
    ActionChains(browser.driver).key_down(Keys.SHIFT).send_keys(Keys.ARROW_DOWN).key_up(
        Keys.SHIFT
    ).perform()
    selected = browser.driver.find_elements(By.CSS_SELECTOR, "tr[aria-selected='true']")
    assert [r.get_attribute("data-path") for r in selected] == ["/one.txt", "/three.txt"]
    # F2 renames the one focused when a single entry is chosen; Escape first clears.
    keys(browser, Keys.ESCAPE)
    keys(browser, Keys.F2)
    field = browser.field("New name")
    assert field.get_attribute("value") == "three.txt"
    field.clear()
    field.send_keys("3.txt", Keys.ENTER)
    wait_names(browser, ["Folder", "3.txt", "one.txt", "two.txt"])
    # Delete sends the focused entry to the trash.
    row(browser, "two.txt").find_element(By.CSS_SELECTOR, "td.size").click()
    keys(browser, Keys.DELETE)
    wait_names(browser, ["Folder", "3.txt", "one.txt"])
    assert account.stat("/two.txt") is None
    # "?" lists the shortcuts.
    keys(browser, "?")
    dialog = browser.wait_for(By.CSS_SELECTOR, "dialog[open]")
    assert "F2" in dialog.text and "Rename" in dialog.text
    browser.screenshot("shortcuts")
    keys(browser, Keys.ESCAPE)
    browser.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"))
    # Enter opens a folder.
    row(browser, "Folder").find_element(By.CSS_SELECTOR, "td.size").click()
    keys(browser, Keys.ENTER)
    wait_names(browser, ["deep.txt"])
    assert browser.console_errors() == []
