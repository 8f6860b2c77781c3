import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";
import { login, watchConsole } from "./helpers";

// After payments.spec.ts: the gérance's account is set, so the bills can be drawn.
test.use({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

test("on a phone: a list of keys in, a key's QR-bill and the station's statements downloaded, a key retired", async ({ page }) => {
  test.setTimeout(60_000);
  const errors = watchConsole(page);
  await login(page);
  await page.goto("/payments");
  await page.getByTestId("keys-link").tap();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Clés");

  // A list with a bad row is refused whole, the row named.
  await page.getByText("Importer une liste de clés (CSV)").tap();
  const list = (text: string) => ({ name: "cles.csv", mimeType: "text/csv", buffer: Buffer.from(text) });
  await page.getByLabel("Fichier CSV").setInputFiles(list("clé;titulaire;logement;langue\n777;Lucia Rossi;2.1;it\n70000;X;;\n"));
  await page.getByRole("button", { name: "Importer" }).tap();
  await expect(page.getByTestId("keys-notice")).toHaveText(
    "La liste n'a pas été importée : lignes refusées : ligne 3 : numéro de clé invalide",
  );
  await expect(page.locator('[data-key="00777"]')).toHaveCount(0);
  await page.getByText("Importer une liste de clés (CSV)").tap();
  await page.getByLabel("Fichier CSV").setInputFiles(list("clé;titulaire;logement;langue\n777;Lucia Rossi;2.1;it\n"));
  await page.getByRole("button", { name: "Importer" }).tap();
  await expect(page.getByTestId("keys-notice")).toHaveText("1 clés enregistrées.");
  const key = page.locator('[data-key="00777"]');
  await expect(key).toContainText("Lucia Rossi · 2.1");
  await expect(key).toContainText("Jamais rechargée");
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  // Its QR-bill, as the phone downloads it.
  const download = page.waitForEvent("download");
  await key.getByTestId("key-bill").tap();
  const file = await download;
  expect(file.suggestedFilename()).toBe("qr-bill-1-00777.pdf");
  const pdf = fs.readFileSync((await file.path())!);
  // Kept for the independent decoder the e2e target runs next (scripts/check-qr-bills).
  await file.saveAs(path.join(__dirname, "../../target/tmp/e2e-bills/qr-bill-1-00777.pdf"));
  expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
  expect(pdf.length).toBeLessThan(30_000);

  // The station's statements of the year the bank file's payments were booked in (2026), the one
  // approved in payments.spec.ts among them. The year offered is the current one.
  await expect(page.getByLabel("Relevés annuels : année")).toHaveValue(String(new Date().getFullYear()));
  const year = "2026";
  await page.getByLabel("Relevés annuels : année").fill(year);
  const statements = page.waitForEvent("download");
  await page.getByRole("button", { name: "Relevés de la station (PDF)" }).tap();
  const statementsFile = await statements;
  expect(statementsFile.suggestedFilename()).toBe(`statements-${year}-1.pdf`);
  expect(fs.readFileSync((await statementsFile.path())!).subarray(0, 5).toString()).toBe("%PDF-");
  const csv = page.waitForEvent("download");
  await page.getByRole("button", { name: "Relevés de la station (CSV)" }).tap();
  const csvText = fs.readFileSync((await (await csv).path())!, "utf8");
  expect(csvText).toContain(";02524;");
  expect(csvText).toContain("Paiement reçu;50.00;");

  // Retired: the state shows, and the search finds it by its holder.
  await key.getByText("Modifier").tap();
  await key.getByLabel("État").selectOption("retired");
  await key.getByRole("button", { name: "Enregistrer" }).tap();
  await expect(page.getByTestId("keys-notice")).toHaveText("Clé 00777 enregistrée.");
  await expect(page.locator('[data-key="00777"]')).toHaveAttribute("data-state", "retired");
  await page.getByLabel("Rechercher (numéro, titulaire, logement, e-mail)").fill("rossi");
  await page.getByRole("button", { name: "Afficher" }).tap();
  await expect(page.getByTestId("key")).toHaveCount(1);
  expect(errors).toEqual([]);
});
