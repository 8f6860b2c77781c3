// Screenshots of the main pages on a phone (360 × 740) and a desktop (1366 × 768), in French, written to
// docs/screens/ for the README. Run by scripts/screens after `make build`; not a test.
import { expect, test, type Page } from "@playwright/test";
import { ADMIN, OPERATOR, fillTopUp, hydrated, login } from "../tests/helpers";

const OUT = "../docs/screens";

async function someHistory(page: Page) {
  await page.goto("/recharge");
  await hydrated(page);
  const station = await page.getByLabel("Station", { exact: true }).locator("option").first().getAttribute("value");
  const amounts = ["20.00", "50.00", "35.50", "20.00", "100.00", "42.00", "20.00", "60.00"];
  for (const [i, amount] of amounts.entries()) {
    const r = await page.request.post("/api/topup", {
      form: { station: station!, key: String(2520 + i), amount, token: `screens-token-${i}-${Date.now()}` },
    });
    expect(await r.json()).toHaveProperty("Created");
  }
  // One reloaded: a tenant presents a key at the simulated station.
  await page.goto("/station");
  await hydrated(page);
  const card = page.locator("section.station", { hasText: "Station Hérémence" });
  // The station loads it once it has confirmed it (a few seconds on the emulated network).
  await expect(async () => {
    await card.getByLabel("Numéro de clé").fill("2520");
    await card.getByRole("button", { name: "Présenter la clé" }).click();
    await expect(card.getByTestId("lcd")).toContainText("Fr. 20.00", { timeout: 3_000 });
  }).toPass({ timeout: 60_000 });
}

for (const [name, viewport, mobile] of [
  ["phone", { width: 360, height: 740 }, true],
  ["desktop", { width: 1366, height: 768 }, false],
] as const) {
  test.describe(name, () => {
    test.use({ viewport, isMobile: mobile, hasTouch: mobile });

    test(`the main pages on a ${name}`, async ({ page, browser }) => {
      await page.goto("/login");
      await page.screenshot({ path: `${OUT}/login-${name}.png` });
      await login(page, ADMIN);
      if (name === "phone") await someHistory(page);
      await page.goto("/");
      await page.screenshot({ path: `${OUT}/home-${name}.png` });

      await fillTopUp(page, "Station Hérémence, Gérance test, Hérémence", name === "phone" ? "2530" : "2531", "25.00");
      await page.getByRole("button", { name: "Envoyer", exact: true }).click();
      await expect(page.getByTestId("check")).toBeVisible();
      await page.screenshot({ path: `${OUT}/topup-check-${name}.png` });
      await page.getByRole("button", { name: "Confirmer et envoyer" }).click();
      await expect(page.getByTestId("step-confirmed")).toHaveClass(/done/, { timeout: 20_000 });
      await page.screenshot({ path: `${OUT}/topup-receipt-${name}.png` });

      await page.goto("/transactions");
      await hydrated(page);
      await page.screenshot({ path: `${OUT}/journal-${name}.png` });
      await page.goto("/stations");
      await hydrated(page);
      await page.screenshot({ path: `${OUT}/stations-${name}.png` });

      const operator = await browser.newPage({ viewport, isMobile: mobile, hasTouch: mobile, locale: "fr-CH" });
      await login(operator, OPERATOR);
      await operator.goto("/admin");
      await hydrated(operator);
      await operator.screenshot({ path: `${OUT}/admin-${name}.png` });
      await operator.close();
    });
  });
}
