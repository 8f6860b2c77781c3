import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { ADMIN, OPERATOR, fillTopUp, hydrated, login } from "./helpers";

/** What axe-core finds wrong on the page as it is now (WCAG 2.1 A and AA, and best practices). */
async function axe(page: Page, where: string): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations.map((v) => `${where}: ${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

for (const [name, viewport, mobile] of [
  ["a phone", { width: 360, height: 740 }, true],
  ["a desktop", { width: 1366, height: 768 }, false],
] as const) {
  test.describe(`on ${name}`, () => {
    test.use({ viewport, isMobile: mobile, hasTouch: mobile });

    test("axe finds nothing wrong on any page, nor on the top-up's check, receipt and repeat question", async ({ page }) => {
      test.setTimeout(60_000);
      const found: string[] = [];
      await page.goto("/login");
      found.push(...(await axe(page, "/login")));
      await login(page, OPERATOR);
      for (const path of ["/", "/recharge", "/transactions", "/payments", "/payments/account", "/keys", "/payments/audit", "/alerts", "/stations", "/admin", "/account", "/station", "/no-such-page"]) {
        await page.goto(path);
        await hydrated(page);
        found.push(...(await axe(page, path)));
      }
      // The administration's questions, open.
      await page.goto("/admin");
      await hydrated(page);
      const row = page.getByTestId("account-admin@gerance-test.ch");
      await row.getByText("Désactiver", { exact: true }).click();
      await row.getByText("Nouveau mot de passe", { exact: true }).click();
      await expect(row.getByTestId("disable-warning")).toBeVisible();
      found.push(...(await axe(page, "/admin, questions open")));

      // The top-up: checked, sent, then the same again.
      await page.context().clearCookies();
      await login(page, ADMIN);
      const key = String(40000 + Math.floor(Math.random() * 20000));
      await fillTopUp(page, "Station Hérémence, Gérance test, Hérémence", key, "13.40");
      await page.getByRole("button", { name: "Envoyer", exact: true }).click();
      await expect(page.getByTestId("check")).toBeVisible();
      found.push(...(await axe(page, "/recharge, check")));
      await page.getByRole("button", { name: "Confirmer et envoyer" }).click();
      await expect(page.getByTestId("progress")).toBeVisible();
      found.push(...(await axe(page, "/recharge, receipt")));
      await page.getByLabel("Numéro de clé (0 à 65535)").fill(key);
      await page.getByLabel("Montant (CHF)").fill("13.40");
      await page.getByRole("button", { name: "Envoyer", exact: true }).click();
      await page.getByRole("button", { name: "Confirmer et envoyer" }).click();
      await expect(page.getByTestId("repeat")).toBeVisible();
      found.push(...(await axe(page, "/recharge, repeat question")));
      // Bad input, explained.
      await page.getByTestId("change").click();
      await page.getByLabel("Numéro de clé (0 à 65535)").fill("70000");
      await page.getByRole("button", { name: "Envoyer", exact: true }).click();
      await expect(page.locator("#key-error")).toBeVisible();
      found.push(...(await axe(page, "/recharge, errors")));
      expect(found).toEqual([]);
    });
  });
}
