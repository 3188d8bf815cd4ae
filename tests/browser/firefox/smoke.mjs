// Firefox smoke test: puppeteer-core drives Debian's firefox-esr over WebDriver BiDi (no
// geckodriver) through what a person does first in the web app. tests/browser/test_firefox.py
// starts the cluster, makes the account and the files, runs this with one JSON argument
// {baseUrl, username, password, upload: [two paths], downloadDir, screenshots, firefox,
// linkPassword}, and checks on the server and on disk what this leaves. It prints one
// JSON line at the end: {shareUrl, downloaded, preview, errors}.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import puppeteer from "puppeteer-core";

const WAIT = 15_000;
const config = JSON.parse(process.argv[2]);
const [binaryPath, notesPath] = config.upload;
const binaryName = basename(binaryPath);
const renamed = "read me.txt";
const errors = []; // what any page logged as an error or threw (a CSP violation is one in Firefox)

const xpathText = (text) => `normalize-space()=${JSON.stringify(text)}`;
const button = (page, name) =>
  page.locator(`::-p-xpath(//button[${xpathText(name)} or @aria-label=${JSON.stringify(name)}])`);

/** The input that the <label> with this text names. */
async function field(page, label) {
  const found = await page.waitForFunction(
    (text) => {
      const tag = [...document.querySelectorAll("label")].find((l) => l.textContent.trim() === text);
      if (!tag) return null;
      return tag.htmlFor ? document.getElementById(tag.htmlFor) : tag.querySelector("input, select, textarea");
    },
    { timeout: WAIT },
    label,
  );
  return found.asElement();
}

/** The names in the file list's rows, in order; null until the list is drawn. */
const rowNames = () =>
  document.querySelector(".entries-wrap[data-loaded]")
    ? [...document.querySelectorAll("table.entries tbody tr[data-path] td.name a.entry-link")].map((a) => a.innerText.trim())
    : null;

/** Wait until the file list shows exactly these names in this order. */
async function waitNames(page, names) {
  try {
    await page.waitForFunction(`JSON.stringify((${rowNames})()) === ${JSON.stringify(JSON.stringify(names))}`, { timeout: WAIT });
  } catch (error) {
    const shown = await page.evaluate(rowNames);
    throw new Error(`the list shows ${JSON.stringify(shown)}, not ${JSON.stringify(names)}`, { cause: error });
  }
}

/** Choose one entry of the list (a click on its row, away from its link). */
const choose = (page, name) =>
  page.locator(`::-p-xpath(//table[contains(@class,'entries')]//tr[.//a[${xpathText(name)}]]/td[contains(@class,'size')])`).click();

const shoot = (page, name) => page.screenshot({ path: join(config.screenshots, `firefox-${name}.png`), fullPage: true });

function watch(page) {
  page.setDefaultTimeout(WAIT);
  page.on("console", (message) => message.type() === "error" && errors.push(`${page.url()}: ${message.text()}`));
  page.on("pageerror", (error) => errors.push(`${page.url()}: ${error.message}`));
  return page;
}

/** The downloaded file once Firefox has finished writing it (no .part beside it). */
async function downloaded(name) {
  const path = join(config.downloadDir, name);
  const deadline = Date.now() + WAIT;
  while (Date.now() < deadline) {
    const partial = readdirSync(config.downloadDir).some((entry) => entry.endsWith(".part"));
    if (existsSync(path) && !partial) return path;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} was not downloaded into ${config.downloadDir}`);
}

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: config.firefox,
  headless: true,
  defaultViewport: { width: 1280, height: 900 },
  extraPrefsFirefox: {
    // Downloads go straight to downloadDir, with no dialog or panel.
    "browser.download.folderList": 2,
    "browser.download.dir": config.downloadDir,
    "browser.download.useDownloadDir": true,
    "browser.download.always_ask_before_handling_new_types": false,
    "browser.download.alwaysOpenPanel": false,
  },
});
try {
  const page = watch(await browser.newPage());

  // Log in with the form.
  await page.goto(`${config.baseUrl}/`);
  assert.match(page.url(), /\/login/);
  await shoot(page, "login");
  await (await field(page, "Username")).type(config.username);
  await (await field(page, "Password")).type(config.password);
  await Promise.all([page.waitForNavigation(), button(page, "Log in").click()]);
  await waitNames(page, []);

  // Upload two files through the "Upload files" input; both listed once done.
  await (await field(page, "Upload files")).uploadFile(binaryPath, notesPath);
  await page.waitForFunction(() => document.querySelectorAll("li.upload[data-state=done]").length === 2);
  await waitNames(page, [basename(notesPath), binaryName]);
  await shoot(page, "files");

  // Rename one from the toolbar.
  await choose(page, basename(notesPath));
  await button(page, "Rename").click();
  const newName = await field(page, "New name");
  await newName.click({ count: 3 }); // select the old name, to type over it
  await newName.type(renamed);
  await shoot(page, "rename");
  await newName.press("Enter");
  await waitNames(page, [binaryName, renamed]);

  // Delete one to the trash, restore it from the Trash page.
  await choose(page, binaryName);
  await button(page, "Delete").click();
  await waitNames(page, [renamed]);
  await page.goto(`${config.baseUrl}/trash`);
  await page.waitForSelector("table.trash-list tbody tr");
  await shoot(page, "trash");
  await button(page, `Restore /${binaryName}`).click();
  await page.waitForFunction(() => document.querySelector(".list-status")?.textContent === "The trash is empty.");
  await page.goto(`${config.baseUrl}/`);
  await waitNames(page, [binaryName, renamed]);

  // Download the restored one (the test compares its bytes).
  await choose(page, binaryName);
  await button(page, "Download").click();
  const savedPath = await downloaded(binaryName);

  // A password share link of the renamed one.
  await choose(page, renamed);
  await button(page, "Share").click();
  await (await field(page, "Password (optional)")).type(config.linkPassword);
  await shoot(page, "share-dialog");
  await button(page, "Create link").click();
  const link = await field(page, "Link");
  await page.waitForFunction((input) => input.value !== "", {}, link);
  const shareUrl = await link.evaluate((input) => input.value);
  await shoot(page, "share-link");
  await button(page, "Done").click();

  // The recipient: a fresh context (no cookie of the owner's), the password form, the file.
  const context = await browser.createBrowserContext();
  const recipient = watch(await context.newPage());
  await recipient.goto(`${config.baseUrl}/`);
  assert.match(recipient.url(), /\/login/, "a fresh context is not logged in");
  await recipient.goto(shareUrl);
  assert.equal(await recipient.$eval("h1", (h) => h.textContent.trim()), "This link needs a password");
  await shoot(recipient, "share-password");
  await (await field(recipient, "Password")).type(config.linkPassword);
  await Promise.all([recipient.waitForNavigation(), button(recipient, "Open").click()]);
  assert.equal(await recipient.$eval("h1.share-name", (h) => h.textContent.trim()), renamed);
  const preview = await recipient.$eval(".share-text pre", (pre) => pre.textContent);
  await shoot(recipient, "share-file");

  console.log(JSON.stringify({ shareUrl, downloaded: savedPath, preview, errors }));
} catch (error) {
  // Where each page was when a step failed.
  const pages = await browser.pages();
  for (const [index, page] of pages.entries()) await shoot(page, `FAILED-${index}`).catch(() => {});
  throw error;
} finally {
  await browser.close();
}
