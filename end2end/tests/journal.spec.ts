import { expect, test } from "@playwright/test";
import { hydrated, login, watchConsole } from "./helpers";

test("the journal pages, sorts, filters, keeps its state in the URL, updates live and exports CSV", async ({ page, browser }) => {
  test.setTimeout(90_000);
  const errors = watchConsole(page);
  await login(page);
  // Twelve top-ups on keys 1000 to 1011, through the same server function the form uses.
  await page.goto("/recharge");
  await hydrated(page);
  const station = await page.getByLabel("Station").locator("option").first().getAttribute("value");
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
  expect(text.startsWith("\ufeffN°;Date;Distributeur;Numéro de clé;Montant (CHF);Statut;Solde (CHF)")).toBe(true);
  expect(text).toContain(";01005;6.00;");
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
  const station = await other.getByLabel("Station").locator("option").first().getAttribute("value");
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
