import { expect, test } from "@playwright/test";
import { hydrated, login, watchConsole } from "./helpers";

test("the journal pages, sorts, filters, keeps its state in the URL, updates live and exports CSV", async ({ page, browser }) => {
  test.setTimeout(90_000);
  const errors = watchConsole(page);
  await login(page);
  // Twelve top-ups on keys 1000 to 1011, through the same server function the form uses.
  await page.goto("/recharge");
  await hydrated(page);
  const station = await page.getByLabel("Station", { exact: true }).locator("option").first().getAttribute("value");
  for (let i = 0; i < 12; i++) {
    const r = await page.request.post("/api/topup", {
      form: { station: station!, key: String(1000 + i), amount: `${i + 1}.00`, token: `journal-test-token-${i}-${Date.now()}` },
    });
    expect(await r.json()).toHaveProperty("Created");
  }

  await page.goto("/transactions?size=10");
  await hydrated(page);
  const results = page.getByTestId("results");
  const total = Number((await results.textContent())!.match(/sur (\d+)/)![1]);
  expect(total).toBeGreaterThanOrEqual(12);
  await expect(results).toHaveText(`Résultats 1 à 10 sur ${total}`);
  await expect(page.getByTestId("journal").locator("tbody tr")).toHaveCount(10);
  await page.getByRole("link", { name: "Suivante" }).click();
  await expect(page).toHaveURL(/page=2/);
  await expect(results).toHaveText(`Résultats 11 à ${Math.min(20, total)} sur ${total}`);
  await page.goBack();
  await expect(results).toHaveText(`Résultats 1 à 10 sur ${total}`);

  // Sorting by key, both ways.
  await page.getByTestId("sort-key").click();
  await expect(page).toHaveURL(/sort=key&dir=asc$/);
  const firstKey = () => page.getByTestId("journal").locator("tbody tr").first().locator("td").nth(3).textContent();
  const ascending = await firstKey();
  await page.getByTestId("sort-key").click();
  await expect(page).toHaveURL(/sort=key$/);
  await expect.poll(firstKey).not.toBe(ascending);

  // A filter, reproduced by its link.
  await page.goto("/transactions?key=1005");
  await expect(results).toHaveText("Résultats 1 à 1 sur 1");
  await expect(page.getByTestId("journal")).toContainText("01005");
  await expect(page.getByTestId("journal")).toContainText("6.00 CHF");

  // The CSV of the filtered journal.
  const download = page.waitForEvent("download");
  await page.getByTestId("csv").click();
  const file = await download;
  const csv = await (await file.createReadStream()).toArray();
  const text = Buffer.concat(csv).toString("utf8");
  expect(text.startsWith("\ufeffN°;Date;Station;Numéro de clé;Montant (CHF);Statut;Solde (CHF);Rechargée le;Saisie par\r\n")).toBe(true);
  expect(text).toContain(";01005;6.00;");
  // Who entered it, for the accountant.
  expect(text.trim().split("\r\n")[1]).toMatch(/;admin@gerance-test\.ch$/);
  expect(text.trim().split("\r\n")).toHaveLength(2);
  expect(errors).toEqual([]);
});

test("an open journal says when it is offline, and shows what changed meanwhile as soon as it is back", async ({ browser }) => {
  test.setTimeout(90_000);
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchConsole(page);
  await login(page);
  await page.goto("/transactions");
  await hydrated(page);
  await expect(page.getByTestId("offline")).toHaveCount(0);

  await context.setOffline(true);
  await expect(page.getByTestId("offline")).toContainText("Hors ligne depuis", { timeout: 15_000 });

  // Meanwhile, on another device, a top-up.
  const other = await browser.newPage();
  await login(other);
  await other.goto("/recharge");
  await hydrated(other);
  const station = await other.getByLabel("Station", { exact: true }).locator("option").first().getAttribute("value");
  const r = await other.request.post("/api/topup", {
    form: { station: station!, key: "4242", amount: "7.00", token: `offline-test-token-${Date.now()}` },
  });
  const id = (await r.json()).Created.id;
  await page.waitForTimeout(3_000);

  // Back online: the row is there at once, not with the next change, and the notice is gone.
  await context.setOffline(false);
  await expect(page.getByTestId(`tx-${id}`)).toContainText("04242", { timeout: 10_000 });
  await expect(page.getByTestId("offline")).toHaveCount(0);
  // The browser's own "failed to load" for the stream while offline is the only error allowed.
  expect(errors.filter((e) => !e.includes("/api/events") && !e.includes("ERR_INTERNET_DISCONNECTED"))).toEqual([]);
  await context.close();
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

  test("the journal's rows are cards below folded filters, within the screen and the thumb", async ({ page }) => {
    const errors = watchConsole(page);
    await login(page);
    await page.goto("/recharge");
    await hydrated(page);
    const station = await page.getByLabel("Station", { exact: true }).locator("option").first().getAttribute("value");
    for (let i = 0; i < 30; i++) {
      const r = await page.request.post("/api/topup", {
        form: { station: station!, key: String(7000 + i), amount: "5.00", token: `phone-journal-token-${i}-${Date.now()}` },
      });
      expect(await r.json()).toHaveProperty("Created");
    }
    await page.goto("/transactions?size=50&key=");
    await hydrated(page);

    // The filters are one line saying what they are; the first rows are on the first screen.
    const filters = page.getByTestId("filters");
    await expect(filters).not.toHaveAttribute("open", "");
    const first = page.getByTestId("journal").locator("tbody tr").first();
    expect((await first.boundingBox())!.y).toBeLessThan(740);
    // Each row a card: its fields stacked, none cut off.
    await expect(first).toHaveCSS("display", "grid");
    await expect(first).toContainText("5.00 CHF");
    await expect(first.getByTestId("sent-by")).toContainText("admin@gerance-test.ch");
    // Nothing wider than the screen, with 30 rows and more.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // Every control of the page is big enough for a thumb (44 × 44 px), measured from the layout.
    const small = await page.locator("#main").evaluate((main) =>
      [...main.querySelectorAll("a, button, select, input, summary")]
        .map((e) => ({ e, r: e.getBoundingClientRect() }))
        .filter(({ r }) => r.width > 0 && r.height > 0 && r.right > 0)
        .filter(({ r }) => r.height < 44 || r.width < 44)
        .map(({ e, r }) => `${e.tagName} "${e.textContent?.trim()}" ${Math.round(r.width)}×${Math.round(r.height)}`),
    );
    expect(small).toEqual([]);

    // Opened, the filters say how many are set.
    await filters.locator("summary").click();
    await page.getByLabel("Numéro de clé").fill("7003");
    await page.getByRole("button", { name: "Filtrer" }).click();
    await expect(page.getByTestId("filters").locator("summary")).toHaveText("Filtres et tri (1)");
    await expect(page.getByTestId("results")).toContainText("sur 1");
    expect(errors).toEqual([]);
  });
});
