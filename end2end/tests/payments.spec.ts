import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import path from "node:path";
import { ADMIN, OTHER_ADMIN, hydrated, login, watchConsole } from "./helpers";

const fixture = (name: string) => path.join(__dirname, "../../bank/tests/fixtures", name);

test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

test("on a phone: the gérance's account, a bank file in, one tap to approve, and the top-up goes live", async ({ page, browser }) => {
  test.setTimeout(90_000);
  const errors = watchConsole(page);
  await login(page);
  await page.getByRole("navigation").getByRole("link", { name: "Paiements" }).tap();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Paiements");
  await expect(page.getByText("Indiquez d'abord le compte de la gérance")).toBeVisible();

  // The account: a wrong check digit is named, and what was typed stays.
  await page.getByRole("link", { name: "Compte et réglages" }).first().tap();
  await page.getByLabel("IBAN ou QR-IBAN").fill("CH44 3199 9123 0008 8901 3");
  await page.getByLabel("Nom du créancier").fill("Gérance test SA");
  await page.getByLabel("Rue").fill("Rue du Lac");
  await page.getByLabel("N°", { exact: true }).fill("12");
  await page.getByLabel("NPA").fill("1950");
  await page.getByLabel("Localité").fill("Sion");
  await page.getByTestId("save-creditor").tap();
  await expect(page.locator("#iban-error")).toHaveText(/chiffres de contrôle/);
  await expect(page.getByLabel("Rue")).toHaveValue("Rue du Lac");
  await page.getByLabel("IBAN ou QR-IBAN").fill("CH44 3199 9123 0008 8901 2");
  await page.getByTestId("save-creditor").tap();
  await expect(page.getByTestId("payments-notice")).toHaveText("Compte enregistré.");
  await expect(page.locator("#iban-hint")).toContainText("références QR");

  // The bank's file, from the phone's file picker.
  await page.goto("/payments");
  await page.getByTestId("bank-file").setInputFiles(fixture("camt054_v08.xml"));
  await page.getByRole("button", { name: "Importer" }).tap();
  await expect(page.getByTestId("payments-notice")).toHaveText(
    "camt054_v08.xml (camt.054.001.08) : 9 nouveaux, 0 déjà importés — 2 à approuver, 1 à vérifier, 3 exceptions, 3 sans recharge, 0 approuvés automatiquement.",
  );
  const waiting = page.getByTestId("waiting-payment");
  await expect(waiting).toHaveCount(3);
  await expect(page.getByTestId("exception-payment")).toHaveCount(3);
  await expect(page.getByTestId("exception-payment").first()).toContainText(/Aucune clé reconnue|chiffre de contrôle/);
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  // The same file again adds nothing.
  await page.getByTestId("bank-file").setInputFiles(fixture("camt054_v08.xml"));
  await page.getByRole("button", { name: "Importer" }).tap();
  await expect(page.getByTestId("payments-notice")).toContainText("0 nouveaux, 9 déjà importés");
  await expect(waiting).toHaveCount(3);

  // A file that is not a bank's is refused, saying what it found.
  await page.getByTestId("bank-file").setInputFiles({
    name: "notes.xml",
    mimeType: "text/xml",
    buffer: Buffer.from('<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"/>'),
  });
  await page.getByRole("button", { name: "Importer" }).tap();
  await expect(page.getByTestId("payments-notice")).toContainText("Cette version n'est pas prise en charge");
  await expect(page.getByTestId("payments-notice")).toContainText("Trouvé : camt.052.001.08");

  // One tap: the 50.00 CHF paid with key 02524's reference.
  const payment = waiting.filter({ hasText: "50.00 CHF" });
  await expect(payment).toContainText("Référence de la clé");
  await expect(payment).toContainText("02524 · Station Hérémence, Hérémence");
  await payment.getByTestId("approve").tap();
  await expect(page.getByTestId("payments-notice")).toHaveText(/^Recharges approuvées : 1\./);
  await expect(waiting).toHaveCount(2);
  const done = page.getByTestId("done-payment").filter({ hasText: "50.00 CHF" });
  await expect(done).toContainText("Approuvé");
  await expect(done).toContainText("par admin@gerance-test.ch");

  // The payment links to its top-up in the journal, which follows it live.
  await done.getByTestId("top-up-link").tap();
  await expect(page).toHaveURL(/\/transactions\?station=1&key=2524$/);
  await hydrated(page);
  const row = page.locator("tbody tr").first();
  await expect(row).toContainText("50.00 CHF");
  await expect(row).toContainText(/Confirmée|Envoyée/, { timeout: 20_000 });
  const station = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await login(station);
  await station.goto("/station");
  await hydrated(station);
  const card = station.locator("section.station", { hasText: "Station Hérémence" });
  await card.getByLabel("Numéro de clé").fill("2524");
  await card.getByRole("button", { name: "Présenter la clé" }).click();
  await expect(card.getByTestId("lcd")).toContainText("** Fr. 50.00 **", { timeout: 20_000 });
  await expect(row).toContainText("Rechargée", { timeout: 20_000 });
  await station.close();

  // And back: the journal row links to the payment it was paid with.
  await row.getByTestId("paid-by").tap();
  await expect(page).toHaveURL(/\/payments\?payment=\d+#p-\d+$/);
  await expect(page.getByTestId("done-payment").first()).toContainText("50.00 CHF");

  // An exception set aside, with the reason kept.
  await page.goto("/payments");
  const exception = page.getByTestId("exception-payment").filter({ hasText: "Loyer décembre" });
  await exception.locator("summary", { hasText: "Mettre de côté" }).tap();
  await exception.getByLabel("Raison").fill("Loyer, pas une recharge");
  await exception.getByTestId("aside").tap();
  await expect(page.getByTestId("payments-notice")).toHaveText("Paiement mis de côté.");
  await expect(page.getByTestId("done-payment").filter({ hasText: "Loyer, pas une recharge" })).toContainText("Mis de côté");

  // Every money action is in the audit log, newest first.
  await page.getByTestId("audit-link").tap();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Journal d'audit");
  const audit = page.getByTestId("audit-entry");
  await expect(audit.first()).toHaveAttribute("data-action", "set_aside");
  await expect(audit.filter({ hasText: "Fichier bancaire importé" }).first()).toContainText("camt054_v08.xml");
  await expect(audit.filter({ hasText: "Paiement approuvé" })).toHaveCount(1);
  await expect(audit.filter({ hasText: "Compte et réglages modifiés" })).toHaveCount(1);
  expect(errors).toEqual([]);
});

test("another gérance sees none of it, and cannot approve it", async ({ page }) => {
  await login(page, OTHER_ADMIN);
  await page.goto("/payments");
  await expect(page.getByTestId("waiting-payment")).toHaveCount(0);
  await expect(page.getByTestId("exception-payment")).toHaveCount(0);
  // Approving an id it does not see changes nothing.
  const response = await page.request.post("/payments/approve", { form: { ids: "1,2,3,4,5,6,7,8,9" }, maxRedirects: 0 });
  expect(response.status()).toBe(303);
  expect(response.headers()["location"]).toBe("/payments?error=invalid");
  await page.context().clearCookies();
  await login(page, ADMIN);
  await page.goto("/payments");
  await expect(page.getByTestId("waiting-payment")).toHaveCount(2);
});
