import { expect, test } from "@playwright/test";
import { ADMIN, OTHER_ADMIN, fillTopUp, hydrated, login, sendTopUp, watchConsole } from "./helpers";

// A property manager on a phone.
test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

test("a top-up goes Sent, Confirmed, then Reloaded when the key is presented at the station", async ({ page, browser }) => {
  test.setTimeout(90_000);
  const errors = watchConsole(page);
  await login(page);
  await fillTopUp(page, "Station Hérémence, Gérance test, Hérémence", "34586", "10.00");
  await sendTopUp(page);

  const progress = page.getByTestId("progress");
  await expect(progress).toContainText("Transaction N°");
  await expect(progress).toContainText("Station Hérémence, Gérance test, Hérémence · 34586 · 10.00 CHF");
  // Live, without reloading: the modem sends it, the simulated station confirms it.
  await expect(page.getByTestId("step-sent")).toHaveClass(/done/, { timeout: 20_000 });
  await expect(page.getByTestId("step-confirmed")).toHaveClass(/done/, { timeout: 20_000 });

  // Somebody else has the journal open, on this key.
  const journal = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await login(journal);
  await journal.goto("/transactions?key=34586");
  await hydrated(journal);
  const txNumber = (await progress.locator("h2").textContent())!.match(/\d+/)![0];
  const row = journal.getByTestId(`tx-${txNumber}`);
  await expect(row).toContainText("Confirmée");
  // The view's sum of amounts reloaded, beside its count.
  const rappen = (text: string | null) => Number(text!.replace(/[^0-9]/g, ""));
  const reloadedBefore = rappen(await journal.getByTestId("reloaded-total").textContent());
  // The row's next change is shown where it is: the open journal does not read its page again for it.
  let journalReads = 0;
  journal.on("request", (request) => {
    if (new URL(request.url()).pathname === "/api/journal") journalReads++;
  });

  // At the station (another device): the tenant presents the key.
  const station = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await login(station);
  await station.goto("/station");
  await hydrated(station);
  const card = station.locator("section.station", { hasText: "Station Hérémence" });
  await card.getByLabel("Numéro de clé").fill("34586");
  await card.getByRole("button", { name: "Présenter la clé" }).click();
  const lcd = card.getByTestId("lcd");
  await expect(lcd).toContainText("N° de clé 34586");
  await expect(lcd).toContainText("** Fr. 10.00 **", { timeout: 20_000 });
  await expect(lcd).toHaveText(["ORION SYSTEM", "N° de clé 34586", "SOLDE SUR LA CLE", "** Fr. 10.00 **"].join("\n"));

  // Back on the phone: Reloaded arrived by itself, with the balance now on the key.
  await expect(page.getByTestId("step-reloaded")).toHaveClass(/done/, { timeout: 20_000 });
  await expect(page.getByTestId("balance")).toHaveText("Solde sur la clé : 10.00 CHF");
  // And in the open journal, the row turned Reloaded without a reload.
  await expect(row).toContainText("Rechargée");
  expect(rappen(await journal.getByTestId("reloaded-total").textContent())).toBe(reloadedBefore + 1000);
  await expect(journal.getByTestId("reloaded-total")).toHaveText(/^Rechargé : [0-9']+\.\d\d CHF$/);
  expect(journalReads).toBe(0);
  expect(errors).toEqual([]);
});

test("bad input is explained next to the field, its rule given, and nothing is sent", async ({ page }) => {
  await login(page);
  await page.goto("/recharge");
  await hydrated(page);
  // The app's own check, not the browser's: switch the browser's checks off.
  await page.getByTestId("topup-form").evaluate((f: HTMLFormElement) => (f.noValidate = true));
  const key = page.getByLabel("Numéro de clé (0 à 65535)");
  const amount = page.getByLabel("Montant (CHF)");
  const send = page.getByRole("button", { name: "Envoyer", exact: true });
  // The station's maximum is shown before it is exceeded.
  await expect(page.locator("#amount-hint")).toHaveText("Au plus 500.00 CHF à cette station.");
  for (const [k, a, where, message] of [
    ["65536", "10.00", "#key-error", "Le numéro de clé est un nombre entier de 0 à 65535."],
    ["abc", "10.00", "#key-error", "Le numéro de clé est un nombre entier de 0 à 65535."],
    ["34586", "10.001", "#amount-error", "Le montant doit être supérieur à zéro"],
    ["34586", "0", "#amount-error", "Le montant doit être supérieur à zéro"],
    ["34586", "-5", "#amount-error", "Le montant doit être supérieur à zéro"],
    ["34586", "1e9", "#amount-error", "Le montant doit être supérieur à zéro"],
    ["34586", "900.00", "#amount-error", "Trop élevé : au plus 500.00 CHF à cette station."],
    ["34586", "1'000.50", "#amount-error", "Trop élevé : au plus 500.00 CHF à cette station."],
  ]) {
    await key.fill(k);
    await amount.fill(a);
    await send.click();
    await expect(page.locator(where)).toContainText(message);
    // The wrong field says so to assistive technology and has the focus.
    const field = where === "#key-error" ? key : amount;
    await expect(field).toHaveAttribute("aria-invalid", "true");
    await expect(field).toBeFocused();
    await expect(page.getByTestId("check")).toHaveCount(0);
    await expect(page.getByTestId("progress")).toHaveCount(0);
  }
});

test("an admin of another gérance sees neither the station nor its top-ups", async ({ page }) => {
  await login(page, OTHER_ADMIN);
  await page.goto("/recharge");
  await hydrated(page);
  const options = await page.getByLabel("Station", { exact: true }).locator("option").allTextContents();
  expect(options).toEqual(["Station Sion, Gérance voisine, Sion"]);
  // Asking for the other gérance's transaction 1 by its number gets nothing.
  const answer = await page.request.post("/api/transaction", { form: { id: "1" } });
  expect(answer.status()).toBe(200);
  expect(await answer.json()).toBeNull();
});

test("a top-up not loaded yet can be cancelled; the station agrees", async ({ page }) => {
  test.setTimeout(60_000);
  await login(page);
  await page.goto("/recharge");
  await hydrated(page);
  await page.getByLabel("Numéro de clé (0 à 65535)").fill("4243");
  await page.getByLabel("Montant (CHF)").fill("7.00");
  await sendTopUp(page);
  await expect(page.getByTestId("step-confirmed")).toHaveClass(/done/, { timeout: 20_000 });
  await page.getByTestId("cancel").click();
  await expect(page.getByTestId("failure")).toContainText("Annulée", { timeout: 20_000 });
  await expect(page.getByTestId("cancel")).toHaveCount(0);
});

test("after a top-up, its receipt above a fresh form; a double click sends one", async ({ page }) => {
  await login(page);
  await page.goto("/recharge");
  await hydrated(page);
  const key = page.getByLabel("Numéro de clé (0 à 65535)");
  const amount = page.getByLabel("Montant (CHF)");
  const send = page.getByRole("button", { name: "Envoyer", exact: true });
  const number = async () => (await page.getByTestId("progress").locator("h2").textContent())!.match(/\d+/)![0];

  await key.fill("5101");
  await amount.fill("3.00");
  await send.click();
  await page.getByRole("button", { name: "Confirmer et envoyer" }).dblclick();
  await expect(page.getByTestId("progress")).toContainText("05101 · 3.00 CHF");
  const first = await number();
  // A fresh form, ready for the next key: the same top-up is not one tap away.
  await expect(key).toHaveValue("");
  await expect(amount).toHaveValue("");
  await expect(key).toBeFocused();

  // The page now holds a new form token: the next top-up is recorded as a new one.
  await key.fill("5102");
  await amount.fill("4.00");
  await sendTopUp(page);
  await expect(page.getByTestId("progress")).toContainText("05102 · 4.00 CHF");
  const second = await number();
  expect(Number(second)).toBeGreaterThan(Number(first));

  // In the journal: each once.
  await page.goto("/transactions?key=5101");
  await expect(page.getByTestId("results")).toContainText("sur 1");
  await page.goto("/transactions?key=5102");
  await expect(page.getByTestId("results")).toContainText("sur 1");
});

test("without script, a top-up answers with its receipt and is recorded once", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await login(page);
  await page.goto("/recharge");
  await page.getByLabel("Station", { exact: true }).selectOption({ label: "Station Hérémence, Gérance test, Hérémence" });
  await page.getByLabel("Numéro de clé (0 à 65535)").fill("5151");
  await page.getByLabel("Montant (CHF)").fill("3.50");
  await page.getByRole("button", { name: "Envoyer", exact: true }).click();
  await expect(page).toHaveURL(/\/recharge\?sent=\d+$/);
  const progress = page.getByTestId("progress");
  await expect(progress).toContainText("Station Hérémence, Gérance test, Hérémence · 05151 · 3.50 CHF");
  // A fresh form below the receipt, and one transaction in the journal.
  await expect(page.getByLabel("Numéro de clé (0 à 65535)")).toHaveValue("");
  await page.goto("/transactions?key=5151");
  await expect(page.getByTestId("results")).toContainText("sur 1");
  await context.close();
});

for (const [language, viewport, t] of [
  [
    "fr-CH",
    { width: 360, height: 740 },
    {
      email: "Adresse e-mail", password: "Mot de passe", login: "Connexion", key: "Numéro de clé (0 à 65535)",
      amount: "Montant (CHF)", send: "Envoyer", confirm: "Confirmer et envoyer", anyway: "Envoyer quand même",
      repeat: "La même recharge (même clé, même montant, même station) a déjà été envoyée le",
      keyNumber: "6101",
    },
  ],
  [
    "de-CH",
    { width: 1366, height: 768 },
    {
      email: "E-Mail-Adresse", password: "Passwort", login: "Anmelden", key: "Schlüsselnummer (0 bis 65535)",
      amount: "Betrag (CHF)", send: "Senden", confirm: "Bestätigen und senden", anyway: "Trotzdem senden",
      repeat: "Dieselbe Aufladung (gleicher Schlüssel, gleicher Betrag, gleiche Station) wurde bereits am",
      keyNumber: "6102",
    },
  ],
] as const) {
  test.describe(`in ${language} at ${viewport.width} px`, () => {
    test.use({ locale: language, viewport, isMobile: viewport.width < 400, hasTouch: viewport.width < 400 });

    test("a top-up is checked before it leaves, and the same one again asks first", async ({ page }) => {
      const errors = watchConsole(page);
      await page.goto("/login");
      await page.getByLabel(t.email).fill(ADMIN.email);
      await page.getByLabel(t.password).fill(ADMIN.password);
      await page.getByRole("button", { name: t.login }).click();
      await expect(page).toHaveURL(/\/$/);
      await page.goto("/recharge");
      await hydrated(page);
      const key = page.getByLabel(t.key);
      const amount = page.getByLabel(t.amount);
      const send = page.getByRole("button", { name: t.send, exact: true });

      // The check: what will be sent, at a glance; nothing has left yet.
      await key.fill(t.keyNumber);
      await amount.fill("1'20");
      await send.click();
      await expect(amount).toHaveAttribute("aria-invalid", "true");
      await amount.fill("12.50");
      await send.click();
      const check = page.getByTestId("check");
      await expect(check.getByTestId("check-key")).toHaveText(`0${t.keyNumber}`);
      await expect(check.getByTestId("check-amount")).toHaveText("12.50 CHF");
      await expect(page.getByTestId("progress")).toHaveCount(0);
      await page.getByRole("button", { name: t.confirm }).click();
      const progress = page.getByTestId("progress");
      await expect(progress).toContainText(`0${t.keyNumber} · 12.50 CHF`);
      const first = (await progress.locator("h2").textContent())!.match(/\d+/)![0];
      await expect(page.getByTestId("check")).toHaveCount(0);

      // The same key and amount again: the app says when the first went, and sends only if asked to.
      await key.fill(t.keyNumber);
      await amount.fill("12.50");
      await send.click();
      await page.getByRole("button", { name: t.confirm }).click();
      const repeat = check.getByTestId("repeat");
      await expect(repeat).toContainText(t.repeat);
      await expect(repeat).toContainText(first);
      await expect(progress.locator("h2")).toContainText(first);
      await check.getByRole("button", { name: t.anyway }).click();
      await expect(progress.locator("h2")).not.toContainText(first);
      await expect(progress).toContainText(`0${t.keyNumber} · 12.50 CHF`);

      // Nothing wider than the screen.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      expect(errors).toEqual([]);
    });
  });
}
