import { test, expect } from "@playwright/test";
import { OPERATOR, hydrated, login, watchConsole } from "./helpers";

test("the language switch translates the app and is remembered for the account", async ({ page, browser }) => {
  const errors = watchConsole(page);
  await login(page, OPERATOR);
  await hydrated(page);
  const heading = page.getByRole("heading", { level: 1 });
  await expect(async () => {
    await page.getByTestId("language").selectOption("de");
    await expect(heading).toHaveText("Was möchten Sie tun?", { timeout: 1_000 });
  }).toPass();
  await expect(page.getByRole("link", { name: "Schlüssel aufladen" }).first()).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "de");

  await page.reload();
  await expect(heading).toHaveText("Was möchten Sie tun?");

  // Another device: a fresh browser without the cookie gets the account's language at login.
  const other = await browser.newContext();
  const page2 = await other.newPage();
  await page2.goto("/login");
  await page2.getByLabel("Adresse e-mail").fill(OPERATOR.email);
  await page2.getByLabel("Mot de passe").fill(OPERATOR.password);
  await page2.getByRole("button", { name: "Connexion" }).click();
  await expect(page2.getByRole("heading", { level: 1 })).toHaveText("Was möchten Sie tun?");
  await hydrated(page2);
  await expect(async () => {
    await page2.getByTestId("language").selectOption("fr");
    await expect(page2.getByRole("heading", { level: 1 })).toHaveText("Que souhaitez-vous faire ?", {
      timeout: 1_000,
    });
  }).toPass();
  await other.close();
  expect(errors).toEqual([]);
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

  test("the two main options are one tap away and nothing scrolls sideways", async ({ page }) => {
    const errors = watchConsole(page);
    await page.goto("/login");
    const card = (await page.locator(".login-card").boundingBox())!;
    expect(card.x).toBeGreaterThanOrEqual(0);
    expect(card.x + card.width).toBeLessThanOrEqual(360);
    await page.screenshot({ path: "test-results/phone-login.png" });

    await login(page);
    await page.screenshot({ path: "test-results/phone-home.png" });
    for (const name of ["Recharger une clé", "Transactions"]) {
      const link = page.getByRole("navigation").getByRole("link", { name });
      await expect(link).toBeVisible();
      const box = (await link.boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(360);
    }
    await expect(page.getByRole("button", { name: "Déconnexion" })).toBeVisible();
    await expect(page.getByTestId("who")).toBeVisible();
    await expect(page.getByTestId("who")).toContainText("admin@gerance-test.ch");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(overflow).toBeLessThanOrEqual(360);

    await page.getByTestId("who").tap();
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Mon compte");
    await expect(page.getByLabel("Mot de passe actuel")).toBeVisible();

    await page.getByRole("navigation").getByRole("link", { name: "Transactions" }).tap();
    await expect(page).toHaveURL(/\/transactions$/);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Transactions");
    expect(errors).toEqual([]);
  });
});

test("the app is installable: manifest, icons and a registered service worker", async ({ page, request }) => {
  const errors = watchConsole(page);
  await page.goto("/login");
  const href = await page.locator('link[rel="manifest"]').getAttribute("href");
  expect(href).toBe("/manifest.webmanifest");
  const manifest = await (await request.get(href!)).json();
  expect(manifest.display).toBe("standalone");
  expect(manifest.theme_color).toBe("#0b5d4b");
  for (const icon of manifest.icons) {
    const r = await request.get(icon.src);
    expect(r.status()).toBe(200);
    expect(r.headers()["content-type"]).toBe("image/png");
  }
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  expect(scope).toMatch(/\/$/);
  // The worker answers the shell's files and leaves server functions alone.
  const cached = await page.evaluate(async () => {
    const names = await caches.keys();
    const cache = await caches.open(names[0]);
    return (await cache.keys()).map((r) => new URL(r.url).pathname);
  });
  expect(cached).toContain("/pkg/recharge.wasm");
  expect(cached.some((p: string) => p.startsWith("/api/"))).toBe(false);
  expect(errors).toEqual([]);
});
