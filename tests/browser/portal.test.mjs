// End-to-end tests of the declarants' portal in a real browser: Debian's headless Chromium,
// driven by playwright-core. The test starts its own `aduana serve` on a fresh SQLite data
// directory with the sample reference data (tests/support/aduana.mjs; ADUANA_BIN names the
// binary, `cargo test` passes it), and issues tokens with the same binary.
//
// Screenshots of the main pages go to ADUANA_BROWSER_ARTIFACTS (default: target/browser-artifacts
// at the repository root); with ADUANA_UPDATE_SCREENSHOTS=1 they also replace docs/portal/*.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startAduana, graphql as run, root } from "../support/aduana.mjs";

const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifacts = process.env.ADUANA_BROWSER_ARTIFACTS ?? join(root, "target", "browser-artifacts");
const updateDocs = process.env.ADUANA_UPDATE_SCREENSHOTS === "1";

let aduana, dataDir, baseUrl, browser;
const tokens = {};
const graphql = (token, query, variables) => run(baseUrl, token, query, variables);

async function shot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const file = join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (updateDocs) {
    mkdirSync(join(root, "docs", "portal"), { recursive: true });
    copyFileSync(file, join(root, "docs", "portal", `${name}.png`));
  }
}

async function signIn(token) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.on("dialog", (dialog) => {
    throw new Error(`a dialog opened: ${dialog.message()}`);
  });
  await page.goto(`${baseUrl}/portal/`);
  await page.waitForURL(/\/portal\/sign-in/);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/portal\/$/);
  return { context, page };
}

before(async () => {
  // Every test signs in from 127.0.0.1: more at once than the default limit lets one address.
  aduana = await startAduana({ prefix: "aduana-browser-", serveArgs: ["--portal-sign-in-burst", "100"] });
  ({ baseUrl, dataDir } = aduana);
  tokens.alice = aduana.issue("--subject", "alice", "--role", "declarant", "--org", "ACME");
  tokens.bob = aduana.issue("--subject", "bob", "--role", "declarant", "--org", "OTHER");
  tokens.officer = aduana.issue("--subject", "kim", "--role", "officer");
  tokens.admin = aduana.issue("--subject", "root", "--role", "admin");
  // Goods from Viet Nam go to the yellow lane, so a declaration stays open for amendments.
  const rules = { riskRules: { version: 2, rules: [{ id: "ORIGIN-VN", lane: "yellow", condition: { kind: "origins", countries: ["VN"] } }] } };
  await graphql(tokens.admin, "mutation P($files: [ReferenceFileInput!]!) { publishReferenceData(files: $files) { written } }", {
    files: [{ name: "rules.json", content: JSON.stringify(rules) }],
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  aduana?.stop();
});

const state = {};

async function fillHeader(page, lrn) {
  await page.selectOption("#header-declarationType", "import");
  await page.fill("#header-lrn", lrn);
  await page.fill("#header-importer", "IMP42");
  await page.fill("#header-customsOffice", "30");
  await page.selectOption("#header-transportMode", "4");
  await page.fill("#header-dispatchCountry", "VN");
  await page.selectOption("#header-incoterm", "CIF");
  await page.fill("#header-invoiceCurrency", "USD");
  await page.fill("#header-invoiceAmount", "1500.00");
}

async function fillItem(page, i, item) {
  for (const [field, value] of Object.entries(item)) {
    await page.fill(`#items-${i}-${field}`, value);
  }
}

const laptop = { hsCode: "8471300000", description: "Portable computers", originCountry: "VN", quantity: "10", unit: "H87", netMass: "25.5", grossMass: "30", invoiceValue: "1000.00" };

test("the session cookie is a __Host- cookie, and pages carry a strict policy", async () => {
  const { context, page } = await signIn(tokens.alice);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "__Host-aduana");
  assert.ok(session, "the session cookie is set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, "Lax");
  assert.equal(session.path, "/");
  const response = await page.goto(`${baseUrl}/portal/declarations`);
  const headers = response.headers();
  assert.match(headers["content-security-policy"], /script-src 'self'/);
  assert.match(headers["content-security-policy"], /frame-ancestors 'none'/);
  assert.equal(headers["cache-control"], "no-store");
  await context.close();
});

test("a declarant files with two errors, sees both at their fields, fixes them and gets a lane and duties", async () => {
  const { context, page } = await signIn(tokens.alice);
  await page.getByRole("link", { name: "File a declaration" }).click();
  await fillHeader(page, "WEB-1");
  await fillItem(page, 0, { ...laptop, hsCode: "84713", originCountry: "XX" });
  await page.getByRole("button", { name: "Add an item" }).click();
  await fillItem(page, 1, { ...laptop, invoiceValue: "500.00" });
  await shot(page, "01-declaration-form");
  await page.getByRole("button", { name: "File the declaration" }).click();

  // Both errors, each next to its own input, and listed in the summary.
  const summary = page.locator("#error-summary");
  await summary.waitFor();
  const hsField = page.locator(".field", { has: page.locator("#items-0-hsCode") });
  const originField = page.locator(".field", { has: page.locator("#items-0-originCountry") });
  await assert.doesNotReject(hsField.locator(".field-error").waitFor());
  await assert.doesNotReject(originField.locator(".field-error").waitFor());
  assert.equal(await page.locator("#items-0-hsCode").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#items-0-originCountry").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#items-1-hsCode").getAttribute("aria-invalid"), null);
  const links = await summary.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  assert.ok(links.includes("#items-0-hsCode"), links.join());
  assert.ok(links.includes("#items-0-originCountry"), links.join());
  // Nothing entered was lost.
  assert.equal(await page.inputValue("#header-lrn"), "WEB-1");
  assert.equal(await page.inputValue("#items-1-invoiceValue"), "500.00");
  assert.equal(await page.inputValue("#items-0-hsCode"), "84713");
  await shot(page, "02-declaration-errors");

  await page.fill("#items-0-hsCode", "8471300000");
  await page.fill("#items-0-originCountry", "VN");
  await page.getByRole("button", { name: "File the declaration" }).click();
  await page.waitForURL(/\/portal\/declarations\/[0-9a-f-]{36}\?done=filed/);
  const id = page.url().match(/declarations\/([0-9a-f-]{36})/)[1];
  state.declaration = id;
  assert.equal(await page.locator("[data-status]").getAttribute("data-status"), "AWAITING_INSPECTION");
  assert.equal(await page.locator("[data-lane]").getAttribute("data-lane"), "YELLOW");

  // The page shows the server's computation, line by line.
  const { declaration } = await graphql(tokens.alice, `query D($id: UUID!) { declaration(id: $id) {
    assessment { items { customsValue duty vat } totals { customsValue duty vat taxes } } } }`, { id });
  const a = declaration.assessment;
  assert.equal(a.items.length, 2);
  for (const [i, item] of a.items.entries()) {
    const row = page.locator(`tr[data-item="${i + 1}"]`);
    assert.equal((await row.locator("[data-customs-value]").innerText()).trim(), item.customsValue);
    assert.equal((await row.locator("[data-duty]").innerText()).trim(), item.duty);
    assert.equal((await row.locator("[data-vat]").innerText()).trim(), item.vat);
  }
  assert.equal((await page.locator("[data-total-taxes]").innerText()).trim(), a.totals.taxes);
  assert.equal((await page.locator("[data-total-duty]").innerText()).trim(), a.totals.duty);
  assert.match(await page.locator(".assessment").innerText(), /1 USD = [0-9.]+ KRW/);
  assert.match(await page.locator(".next-step").innerText(), /Yellow lane/);
  await shot(page, "03-declaration-result");
  await context.close();
});

test("the declarant amends the open declaration", async () => {
  const { context, page } = await signIn(tokens.alice);
  await page.goto(`${baseUrl}/portal/declarations/${state.declaration}`);
  await page.getByRole("link", { name: "Amend" }).click();
  assert.equal(await page.inputValue("#items-1-invoiceValue"), "500.00");
  await page.fill("#items-1-invoiceValue", "600.00");
  await page.fill("#header-invoiceAmount", "1600.00");
  await page.fill("#reason", "Corrected the second invoice line");
  await page.getByRole("button", { name: "Send the amendment" }).click();
  await page.waitForLoadState();
  if (await page.locator("#error-summary").count()) {
    assert.fail(`the amendment was refused: ${await page.locator("#error-summary").innerText()}`);
  }
  await page.waitForURL(/\?done=amended/);
  const timeline = await page.locator(".timeline").innerText();
  assert.match(timeline, /Amended/);
  const { declaration } = await graphql(tokens.alice, `query D($id: UUID!) { declaration(id: $id) { dataVersion header { invoiceAmount } } }`, { id: state.declaration });
  assert.equal(declaration.dataVersion, 2);
  assert.equal(declaration.header.invoiceAmount, "1600.00");
  await context.close();
});

test("an officer's acceptance appears on the open page without reloading", async () => {
  const { context, page } = await signIn(tokens.alice);
  await page.goto(`${baseUrl}/portal/declarations/${state.declaration}`);
  await page.evaluate(() => { window.__notReloaded = true; });
  // Give the page's event stream a moment to connect; a change made before it does is still
  // shown (the stream starts at the version the page was rendered with).
  await page.waitForTimeout(300);
  const id = state.declaration;
  await graphql(tokens.officer, `mutation I($id: UUID!) { recordInspection(id: $id, kind: DOCUMENTARY, result: COMPLIANT) { status } }`, { id });
  await graphql(tokens.officer, `mutation A($id: UUID!) { acceptDeclaration(id: $id) { status } }`, { id });
  await page.locator('[data-status="ACCEPTED"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was not reloaded");
  assert.equal(await page.locator(".live-notice").isVisible(), true);
  const timeline = await page.locator(".timeline").innerText();
  assert.match(timeline, /officer\/kim/);
  assert.match(timeline, /Cleared/);
  // Cleared: no more amend or withdraw.
  assert.equal(await page.getByRole("link", { name: "Amend" }).count(), 0);
  await shot(page, "04-declaration-cleared-live");
  await context.close();
});

test("the declarant sends a small batch, sees its results and downloads the rejected items", async () => {
  const { context, page } = await signIn(tokens.alice);
  const filing = (lrn, origin, hsCode) => ({
    header: { declarationType: "import", lrn, importer: "IMP42", customsOffice: "30", transportMode: "40",
      dispatchCountry: origin, incoterm: "CIF", invoiceCurrency: "USD", invoiceAmount: "1000.00" },
    items: [{ ...laptop, originCountry: origin, hsCode }],
  });
  const lines = [filing("BATCH-1", "US", "8471300000"), filing("BATCH-2", "VN", "8471300000"), filing("BATCH-3", "US", "9999999999")];
  const file = join(dataDir, "small.ndjson");
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  await page.getByRole("link", { name: "Batches" }).click();
  await page.setInputFiles("#batch-file", file);
  await page.getByRole("button", { name: "Send the batch" }).click();
  await page.waitForURL(/\/portal\/batches\/[0-9a-f-]{36}$/);
  await page.locator('[data-batch-status="COMPLETED"]').waitFor();
  assert.equal(await page.locator("[data-items]").innerText(), "3");
  assert.equal(await page.locator("[data-accepted]").innerText(), "2");
  assert.equal(await page.locator("[data-rejected]").innerText(), "1");
  assert.equal(await page.locator('tr[data-outcome="REJECTED"]').count(), 1);
  assert.match(await page.locator('tr[data-outcome="REJECTED"]').innerText(), /items\[0\]\.hsCode/);
  await shot(page, "05-batch-results");

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download the rejected items (CSV)" }).click(),
  ]);
  const csv = readFileSync(await download.path(), "utf8");
  const rows = csv.trim().split("\n");
  assert.equal(rows[0], "item,line,lrn,declarant,code,field,message");
  assert.equal(rows.length, 2, csv);
  assert.match(rows[1], /^3,3,BATCH-3,ACME,/);
  await context.close();
});

test("the list filters by status and links to each declaration", async () => {
  const { context, page } = await signIn(tokens.alice);
  // The list is a projection of the log: wait for the filings above to reach it.
  for (let i = 0; i < 50; i++) {
    await page.goto(`${baseUrl}/portal/declarations`);
    if ((await page.locator("table.declarations tbody tr").count()) >= 3) break;
    await page.waitForTimeout(200);
  }
  assert.ok((await page.locator("table.declarations tbody tr").count()) >= 3);
  await page.selectOption("#f-status", "ACCEPTED");
  await page.getByRole("button", { name: "Apply" }).click();
  const statuses = await page.locator("table.declarations tbody tr td:nth-child(3)").allInnerTexts();
  assert.ok(statuses.length >= 1);
  for (const status of statuses) assert.equal(status.trim(), "Cleared");
  await shot(page, "06-declarations-list");
  await context.close();
});

test("another organisation's declarant cannot open the declaration by its address", async () => {
  const { context, page } = await signIn(tokens.bob);
  const response = await page.goto(`${baseUrl}/portal/declarations/${state.declaration}`);
  assert.equal(response.status(), 404);
  assert.equal(await page.locator("h1").innerText(), "Page not found");
  const panel = await page.request.get(`${baseUrl}/portal/declarations/${state.declaration}/panel`);
  assert.equal(panel.status(), 404);
  const live = await page.request.get(`${baseUrl}/portal/declarations/${state.declaration}/live`);
  assert.equal(live.status(), 404);
  await context.close();
});

test("entries survive a session that ended before the form was sent", async () => {
  const { context, page } = await signIn(tokens.alice);
  await page.getByRole("link", { name: "File a declaration" }).click();
  await fillHeader(page, "LOST-1");
  await fillItem(page, 0, laptop);
  await page.getByRole("button", { name: "Add an item" }).click();
  await fillItem(page, 1, { ...laptop, description: "Tablets" });
  // The session ends (here: its cookie is gone, as after a timeout) before the form is sent.
  await context.clearCookies();
  await page.getByRole("button", { name: "File the declaration" }).click();
  await page.waitForURL(/\/portal\/sign-in\?next=/);
  assert.match(await page.locator("main").innerText(), /Sign in/);
  await page.getByLabel("Access token").fill(tokens.alice);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/portal\/declarations\/new$/);
  await page.locator(".draft-restored").waitFor();
  assert.equal(await page.inputValue("#header-lrn"), "LOST-1");
  assert.equal(await page.inputValue("#items-1-description"), "Tablets");
  assert.equal(await page.inputValue("#header-transportMode"), "4");
  await context.close();
});

test("typing words in the tariff code field offers matching codes", async () => {
  const { context, page } = await signIn(tokens.alice);
  await page.goto(`${baseUrl}/portal/declarations/new`);
  await page.locator("#items-0-hsCode").pressSequentially("portable", { delay: 20 });
  const option = page.locator('#tariff-codes option[value="8471300000"]');
  await option.waitFor({ state: "attached" });
  assert.match(await option.textContent(), /portable/i);
  await context.close();
});

test("the form is usable on a narrow screen and every input has a label", async () => {
  const { context, page } = await signIn(tokens.alice);
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto(`${baseUrl}/portal/declarations/new`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
      .filter((el) => !(el.labels && el.labels.length))
      .map((el) => el.name || el.id));
  assert.deepEqual(unlabelled, []);
  // The keyboard reaches the first field from the skip link.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await shot(page, "07-narrow-form");
  await context.close();
});

test("the sign-in page explains an expired or refused token", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${baseUrl}/portal/sign-in`);
  await shot(page, "00-sign-in");
  await page.getByLabel("Access token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  assert.match(await page.locator(".error-summary").innerText(), /not valid or has expired/);
  await context.close();
});

test("an officer reads the warehouse as four charts drawn within the page's policy", async () => {
  const { context, page } = await signIn(tokens.officer);
  const refused = [];
  page.on("console", (message) => {
    if (/Content.Security.Policy|Refused to/i.test(message.text())) refused.push(message.text());
  });
  await page.getByRole("link", { name: "Warehouse" }).click();
  await page.waitForURL(/\/portal\/warehouse$/);
  // The warehouse projection follows the store beside the server: wait for the cleared imports.
  for (let i = 0; i < 50 && (await page.locator("svg.chart").count()) === 0; i++) {
    await page.waitForTimeout(200);
    await page.reload();
  }
  for (const name of ["Customs value of imports by month", "Top 10 countries of origin", "Top 10 HS chapters", "Lane mix"]) {
    await page.getByRole("img", { name }).waitFor();
  }
  // Drawn at a readable size and coloured by the stylesheet (SVG's default fill is black).
  const box = await page.locator("#chart-months").boundingBox();
  assert.ok(box.width > 300 && box.height > 100, JSON.stringify(box));
  const fill = await page.locator("#chart-origins rect.bar").first().evaluate((el) => getComputedStyle(el).fill);
  assert.notEqual(fill, "rgb(0, 0, 0)");
  // The figures under a chart open as a table.
  await page.locator("details.figures summary").first().click();
  assert.ok(await page.locator("details.figures table").first().isVisible());
  await shot(page, "08-warehouse");
  assert.deepEqual(refused, []);
  await context.close();
});
