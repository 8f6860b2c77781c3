import { expect, test } from "@playwright/test";
import { ADMIN, OPERATOR, fillTopUp, hydrated, login, sendTopUp, watchConsole } from "./helpers";

// An operator on a phone sets up a new property manager from scratch: gérance, administrator, station.
test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

test("an operator creates a gérance, its administrator and a station that answers", async ({ page, browser }) => {
  test.setTimeout(90_000);
  const errors = watchConsole(page);
  await login(page, OPERATOR);
  await expect(page.getByTestId("who")).toContainText("Opérateur");
  await page.getByRole("link", { name: "Administration" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await hydrated(page);

  await page.getByLabel("Nouvelle gérance").fill("Gérance Valais");
  await page.getByRole("button", { name: "Ajouter" }).click();
  await expect(page.getByTestId("gerances")).toContainText("Gérance Valais");
  await page.getByLabel("Nouvelle gérance").fill("Gérance Valais");
  await page.getByRole("button", { name: "Ajouter" }).click();
  await expect(page.getByText("Une gérance porte déjà ce nom.")).toBeVisible();

  const form = page.getByTestId("new-account");
  await form.getByLabel("E-mail").fill("chef@valais.ch");
  await form.getByLabel("Rôle").selectOption({ label: "Administrateur" });
  await form.getByLabel("Gérance (pour un administrateur)").selectOption({ label: "Gérance Valais" });
  await form.getByRole("button", { name: "Créer le compte" }).click();
  const shown = page.getByTestId("new-password");
  await expect(shown).toContainText("chef@valais.ch");
  const password = (await shown.getByTestId("password").textContent())!.trim();
  expect(password).toHaveLength(16);
  await expect(page.getByTestId("account-chef@valais.ch")).toContainText("Gérance Valais");

  // The station: bad input is named next to its field, then the provisioning string is shown once.
  await page.getByRole("link", { name: "Stations" }).first().click();
  await expect(page).toHaveURL(/\/stations$/);
  await hydrated(page);
  await expect(page.getByTestId("modem-state")).toHaveText(/^connecté/);
  const create = page.getByTestId("new-station");
  await create.getByLabel("Gérance").selectOption({ label: "Gérance Valais" });
  await create.getByLabel("Nom").fill("Station Hérémence");
  await create.getByLabel("Lieu").fill("Hérémence");
  await create.getByLabel("Numéro de la carte SIM").fill("12345");
  await create.getByLabel("Maximum par recharge (CHF)").fill("200");
  await create.getByRole("button", { name: "Créer la station" }).click();
  await expect(create.getByText("Numéro international attendu")).toBeVisible();
  await create.getByLabel("Numéro de la carte SIM").fill("079 000 09 09");
  await create.getByRole("button", { name: "Créer la station" }).click();
  const provisioning = page.getByTestId("provisioning-string");
  await expect(provisioning).toContainText("RC1-PROV:");
  await expect(provisioning).toContainText("+41790000001");
  const secretString = (await provisioning.textContent())!;
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("provisioning-string")).toHaveCount(0);
  expect(await page.content()).not.toContain(secretString);
  expect(errors).toEqual([]);

  // The new administrator logs in with the generated password and sees the new station, alone, live.
  const admin = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await login(admin, { email: "chef@valais.ch", password });
  // The header knows the account (the same answer decides the Administration link) before we look.
  await expect(admin.getByTestId("who")).toContainText("Gérance Valais");
  await expect(admin.getByRole("link", { name: "Administration" })).toHaveCount(0);
  await admin.goto("/stations");
  await hydrated(admin);
  const cards = admin.locator("section.station");
  await expect(cards).toHaveCount(1);
  const card = cards.first();
  await expect(card).toContainText("Station Hérémence");
  await expect(card).toContainText("Gérance Valais, Hérémence");
  await card.getByRole("button", { name: "Demander l'état" }).click();
  await expect(card.getByTestId("asked")).toContainText("Demande envoyée");
  await expect(card.getByTestId("pending")).toHaveText("0", { timeout: 30_000 });
  await expect(card.getByTestId("last-heard")).toHaveText(/\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d/);
  await expect(card.getByTestId("firmware")).toContainText("sim-");
  // Asked again within the minute: each request is an SMS on the server's SIM credit, so none is sent.
  await card.getByRole("button", { name: "Demander l'état" }).click();
  await expect(card.getByTestId("asked")).toContainText("Déjà demandé");

  // An administrator cannot open the administration page.
  await admin.goto("/admin");
  await hydrated(admin);
  await expect(admin.getByText("Cette page est réservée aux opérateurs.")).toBeVisible();

  // A new password and disabling both end the account's sessions: each asks first, saying so.
  await page.goto("/admin");
  await hydrated(page);
  const row = page.getByTestId("account-chef@valais.ch");
  await expect(row.getByTestId("reset")).toBeHidden();
  await row.getByText("Nouveau mot de passe", { exact: true }).click();
  await expect(row.getByTestId("reset-warning")).toContainText("chef@valais.ch");
  await expect(row.getByTestId("reset-warning")).toContainText("sessions ouvertes se terminent");
  await row.getByRole("button", { name: "Créer un nouveau mot de passe" }).click();
  await expect(row.getByTestId("password")).toHaveText(/\S{12,}/);
  // The operator disables the account: its session ends.
  await expect(row.getByTestId("toggle")).toBeHidden();
  await row.getByText("Désactiver", { exact: true }).click();
  await expect(row.getByTestId("disable-warning")).toContainText("ne pourra plus se connecter");
  await row.getByRole("button", { name: "Désactiver le compte" }).click();
  await expect(row.getByTestId("disabled")).toBeVisible();
  await admin.goto("/stations");
  await expect(admin).toHaveURL(/\/login/);
});

test("an administrator sees its stations' facts but no administration", async ({ page }) => {
  await login(page, ADMIN);
  await expect(page.getByTestId("who")).toContainText("Gérance test");
  await expect(page.getByRole("link", { name: "Administration" })).toHaveCount(0);
  await page.goto("/stations");
  await hydrated(page);
  await expect(page.locator("section.station")).toHaveCount(1);
  await expect(page.locator("section.station")).toContainText("Station Hérémence");
  await expect(page.getByTestId("new-station")).toHaveCount(0);
  await expect(page.getByTestId("modem")).toHaveCount(0);
});

test("a name that looks like markup is shown as text on every page, in the islands too", async ({ page }) => {
  test.setTimeout(60_000);
  const errors = watchConsole(page);
  // Names travel to the browser inside the islands' properties (JSON in an attribute) and in events.
  const name = `Gare "><img src=x onerror=alert(1)></leptos-island><script>alert(2)</script>`;
  await page.addInitScript(() => (window.alert = () => { throw new Error("markup ran"); }));
  await login(page, OPERATOR);
  await page.goto("/admin");
  await hydrated(page);
  await page.getByLabel("Nouvelle gérance").fill("Gérance témoin");
  await page.getByRole("button", { name: "Ajouter" }).click();
  await expect(page.getByTestId("gerances")).toContainText("Gérance témoin");

  await page.goto("/stations");
  await hydrated(page);
  const create = page.getByTestId("new-station");
  await create.getByLabel("Gérance").selectOption({ label: "Gérance témoin" });
  await create.getByLabel("Nom").fill(name);
  await create.getByLabel("Lieu").fill("<b>Sion</b>");
  await create.getByLabel("Numéro de la carte SIM").fill("079 000 09 10");
  await create.getByRole("button", { name: "Créer la station" }).click();
  await expect(page.getByTestId("provisioning")).toContainText(name);

  // Rendered by the server, then by the island in the browser.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("heading", { name, exact: true })).toBeVisible();
  await expect(page.getByText("Gérance témoin, <b>Sion</b>")).toBeVisible();

  const label = `${name}, Gérance témoin, <b>Sion</b>`;
  await fillTopUp(page, label, "777", "1.00");
  await sendTopUp(page);
  await expect(page.getByTestId("progress")).toContainText(`${label} · 00777 · 1.00 CHF`);

  await page.goto("/transactions?key=777");
  await hydrated(page);
  await expect(page.getByTestId("journal")).toContainText(label);
  for (const path of ["/stations", "/recharge", "/transactions?key=777"]) {
    await page.goto(path);
    await hydrated(page);
    await expect(page.locator("img[src=x], b")).toHaveCount(0);
  }
  expect(errors).toEqual([]);
});

test.describe("on a desktop", () => {
  test.use({ viewport: { width: 1366, height: 768 }, isMobile: false, hasTouch: false });

  test("the stations' cards line up, and the new station's card stands apart", async ({ page }) => {
    await login(page, OPERATOR);
    await page.goto("/stations");
    await hydrated(page);
    const cards = page.locator(".stations > section.station");
    expect(await cards.count()).toBeGreaterThanOrEqual(2);
    const boxes = await cards.evaluateAll((all) => all.map((c) => c.getBoundingClientRect().toJSON()));
    const firstRow = boxes.filter((b) => Math.abs(b.top - boxes[0].top) < 100);
    expect(firstRow.length).toBeGreaterThanOrEqual(2);
    for (const b of firstRow) expect(b.top).toBe(boxes[0].top);
    const lowest = Math.max(...boxes.map((b) => b.bottom));
    const form = (await page.getByTestId("new-station").boundingBox())!;
    expect(form.y - lowest).toBeGreaterThanOrEqual(12);
  });
});
