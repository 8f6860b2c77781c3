import { test, expect, type Page } from "@playwright/test";
import { ADMIN, OPERATOR, hydrated, login, watchConsole } from "./helpers";

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

/** Controls smaller than a thumb (44 × 44 px) on the page, measured from the layout; a link inside a
 * sentence is exempt, as WCAG's target-size rule has it. */
async function smallTargets(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll("a, button, select, input:not([type=hidden]), summary, label.chip")]
      .filter((e) => !(e.tagName === "A" && e.parentElement?.tagName === "P"))
      .map((e) => ({ e, r: e.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > -10000)
      .filter(({ r }) => r.height < 43.5 || r.width < 43.5)
      .map(({ e, r }) => `${e.tagName} "${(e.textContent || "").trim().slice(0, 30)}" ${Math.round(r.width)}×${Math.round(r.height)}`),
  );
}

/** Opens `path` and checks what a thumb on a 360 px phone needs: its title, nothing wider than the
 * screen, no control under 44 × 44 px, a compact header, no main option's name cut. */
async function fitsThePhone(page: Page, path: string, title: string) {
  await page.goto(path);
  await hydrated(page);
  await expect(page).toHaveTitle(title);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, path).toBeLessThanOrEqual(0);
  expect(await smallTargets(page), path).toEqual([]);
  const header = (await page.locator("header.topbar").boundingBox())!;
  expect(header.height, path).toBeLessThanOrEqual(100);
  const cut = await page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>(".mainnav a")]
      .filter((a) => a.offsetWidth > 0 && a.scrollWidth > a.clientWidth)
      .map((a) => a.textContent),
  );
  expect(cut, path).toEqual([]);
}

test.describe("on a phone", () => {
  test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

  test("the three main options are one tap away and nothing scrolls sideways", async ({ page }) => {
    const errors = watchConsole(page);
    await page.goto("/login");
    const card = (await page.locator(".login-card").boundingBox())!;
    expect(card.x).toBeGreaterThanOrEqual(0);
    expect(card.x + card.width).toBeLessThanOrEqual(360);
    await expect(page).toHaveTitle("Connexion — Recharge");

    await login(page);
    for (const name of ["Recharger une clé", "Transactions", "Paiements"]) {
      const link = page.getByRole("navigation").getByRole("link", { name });
      await expect(link).toBeVisible();
      const box = (await link.boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(360);
      // On one line: no option's name wraps or is cut.
      expect(box.height).toBeLessThan(60);
      expect(await link.evaluate((a) => a.scrollWidth <= a.clientWidth)).toBe(true);
    }
    // A compact header: the person's controls and the options in two rows of a thumb each.
    const header = (await page.locator("header.topbar").boundingBox())!;
    expect(header.height).toBeLessThanOrEqual(100);
    await expect(page.getByRole("button", { name: "Déconnexion" })).toBeVisible();
    await expect(page.getByTestId("who")).toBeVisible();
    await expect(page.getByTestId("who")).toContainText("admin@gerance-test.ch");
    // The stations are an icon of a thumb in the row above.
    const stations = (await page.getByTestId("stations-icon").boundingBox())!;
    expect(stations.width).toBeGreaterThanOrEqual(44);
    expect(stations.x + stations.width).toBeLessThanOrEqual(360);
    await page.getByTestId("stations-icon").tap();
    await expect(page).toHaveURL(/\/stations$/);

    await page.getByTestId("who").tap();
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Mon compte");
    await expect(page.getByLabel("Mot de passe actuel")).toBeVisible();

    await page.getByRole("navigation").getByRole("link", { name: "Transactions" }).tap();
    await expect(page).toHaveURL(/\/transactions$/);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Transactions");
    expect(errors).toEqual([]);
  });

  for (const who of [ADMIN, OPERATOR]) {
    test(`every page of ${who === ADMIN ? "an admin" : "the operator"} fits the screen, with thumb-sized controls and its own title`, async ({ page }) => {
      const errors = watchConsole(page);
      await login(page, who);
      const pages: [string, string][] = [
        ["/", "Recharge"],
        ["/recharge", "Recharger une clé — Recharge"],
        ["/transactions", "Transactions — Recharge"],
        ["/stations", "Stations — Recharge"],
        ["/payments", "Paiements — Recharge"],
        ["/payments/account", "Compte de la gérance — Recharge"],
        ["/keys", "Clés — Recharge"],
        ["/payments/audit", "Journal d'audit — Recharge"],
        ["/alerts", "Alertes — Recharge"],
        ["/account", "Mon compte — Recharge"],
      ];
      if (who === OPERATOR) pages.push(["/admin", "Administration — Recharge"], ["/station", "Stations simulées — Recharge"]);
      for (const [path, title] of pages) await fitsThePhone(page, path, title);
      if (who === OPERATOR) {
        // The operator's administration is one tap away too, from the header's row.
        await page.getByTestId("admin-icon").tap();
        await expect(page).toHaveURL(/\/admin$/);
      }
      expect(errors).toEqual([]);
    });
  }
});

test.describe("in German on a phone", () => {
  test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: "de-CH" });

  test("every page of the operator fits the screen, its longer words too", async ({ page }) => {
    const errors = watchConsole(page);
    await page.goto("/login");
    await page.getByLabel("E-Mail-Adresse").fill(OPERATOR.email);
    await page.getByLabel("Passwort").fill(OPERATOR.password);
    await page.getByLabel("Passwort").press("Enter");
    await expect(page).toHaveURL(/\/$/);
    // The login restores the account's language (another test left it French): German on this device.
    await page.context().addCookies([{ name: "i18n_pref_locale", value: "de", url: page.url() }]);
    for (const [path, title] of [
      ["/recharge", "Schlüssel aufladen — Recharge"],
      ["/transactions", "Transaktionen — Recharge"],
      ["/stations", "Stationen — Recharge"],
      ["/payments", "Zahlungen — Recharge"],
      ["/keys", "Schlüssel — Recharge"],
      ["/payments/audit", "Prüfprotokoll — Recharge"],
      ["/alerts", "Alarme — Recharge"],
      ["/admin", "Administration — Recharge"],
      ["/account", "Mein Konto — Recharge"],
    ]) {
      // German's words are the longest ("Transaktionen", "Schlüssel aufladen").
      await fitsThePhone(page, path, title);
    }
    expect(errors).toEqual([]);
  });
});

test("an unknown address answers 404 inside the app's frame, with a way back", async ({ page }) => {
  await login(page);
  const response = await page.goto("/no-such-page");
  expect(response!.status()).toBe(404);
  await expect(page).toHaveTitle("Page introuvable — Recharge");
  await expect(page.getByRole("navigation").getByRole("link", { name: "Transactions" })).toBeVisible();
  await page.getByTestId("not-found").getByRole("link", { name: "Retour à l'accueil" }).click();
  await expect(page).toHaveURL(/\/$/);
});

test("offline, a page shows the app's offline page, which comes back by itself with the network", async ({ page, context }) => {
  await login(page);
  await page.goto("/transactions");
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    // The worker has the offline page once its installation finished.
    for (let i = 0; i < 50 && !(await caches.match("/offline.js")); i++) await new Promise((r) => setTimeout(r, 100));
  });
  await context.setOffline(true);
  await page.reload().catch(() => {});
  await expect(page.getByTestId("offline-page")).toBeVisible();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Hors ligne");
  await expect(page.getByRole("button", { name: "Réessayer" })).toBeVisible();
  await expect(page.locator(".topbar .brand")).toContainText("Recharge");
  await context.setOffline(false);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Transactions", { timeout: 15_000 });
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
