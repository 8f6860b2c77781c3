import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import { login, OTHER_ADMIN, watchConsole } from "./helpers";

// The server runs with a station silent after 1 minute and a minute's grace after its STATUS question
// (end2end/serve.sh): a station powered off is reported within about two minutes.
test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

test("on a phone: a station powered off raises the header's count live; the alert is listed, seen, and clears", async ({ page, browser }) => {
  test.setTimeout(240_000);
  const errors = watchConsole(page);
  await login(page);
  const count = page.getByTestId("alert-count");
  await expect(count).toBeHidden();

  // Powered off in the demo's simulated stations.
  await page.goto("/station");
  const station = page.locator("section.station", { hasText: "Station Hérémence" });
  await station.getByTestId("power").tap();
  await expect(station.getByTestId("power")).toHaveText("Allumer");

  // Nothing is reloaded: the count comes over the event stream.
  await expect(count).toHaveText("1", { timeout: 200_000 });
  await page.getByTestId("alerts-link").tap();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Alertes");
  const alert = page.locator('[data-testid="alert"][data-kind="station_silent"]');
  await expect(alert).toContainText("Station Hérémence ne répond plus");
  await expect(alert).toContainText("elle n'a pas répondu à une demande d'état");
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  // The neighbouring gérance sees nothing of it.
  const other = await browser.newPage();
  await login(other, OTHER_ADMIN);
  await other.goto("/alerts");
  await expect(other.getByTestId("alerts-none")).toBeVisible();
  await expect(other.getByTestId("alert-count")).toBeHidden();
  await other.close();

  // Seen: out of the count, still open, with who saw it.
  await alert.getByTestId("alert-ack").tap();
  await expect(page.getByTestId("alerts-notice")).toHaveText("C'est noté : l'alerte est marquée comme vue.");
  await expect(count).toBeHidden();
  await expect(alert.getByTestId("alert-seen")).toContainText("Vue par admin@gerance-test.ch");

  // Thresholds that make no sense are refused; sensible ones kept. The digest chosen.
  await page.getByLabel("Crédit SIM d'une station sous (CHF)").fill("-3");
  await page.getByTestId("alerts-thresholds").getByRole("button", { name: "Enregistrer" }).tap();
  await expect(page.getByTestId("alerts-notice")).toHaveText("Le seuil de crédit doit être un montant de 0.00 à 500.00 CHF.");
  await page.getByLabel("Crédit SIM d'une station sous (CHF)").fill("4.50");
  await page.getByTestId("alerts-thresholds").getByRole("button", { name: "Enregistrer" }).tap();
  await expect(page.getByTestId("alerts-notice")).toHaveText("Les seuils de votre gérance sont enregistrés.");
  await expect(page.getByLabel("Crédit SIM d'une station sous (CHF)")).toHaveValue("4.50");
  await page.getByLabel("Chaque matin à 7 h, un résumé des alertes ouvertes").check();
  await page.getByTestId("alerts-mails").getByRole("button", { name: "Enregistrer" }).tap();
  await expect(page.getByTestId("alerts-notice")).toHaveText("Vos choix d'e-mails sont enregistrés.");
  await expect(page.getByLabel("Chaque matin à 7 h, un résumé des alertes ouvertes")).toBeChecked();

  // Powered on: it reads the question that waited for it, answers, and the alert clears.
  await page.goto("/station");
  await station.getByTestId("power").tap();
  await expect(station.getByTestId("power")).toHaveText("Éteindre");
  await expect(async () => {
    await page.goto("/alerts");
    await expect(page.locator('[data-testid="alerts-cleared"] [data-kind="station_silent"]')).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 60_000 });
  expect(errors).toEqual([]);
});
