import { expect, Page } from "@playwright/test";

export const ADMIN = { email: "admin@gerance-test.ch", password: "e2e admin password" };
export const OPERATOR = { email: "operator@recharge.ch", password: "e2e operator password" };
export const OTHER_ADMIN = { email: "admin@voisine.ch", password: "e2e other admin password" };

/** Fails the test on any console error, such as a Content-Security-Policy violation or a hydration panic. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

export async function login(page: Page, who = ADMIN) {
  await page.goto("/login");
  await page.getByLabel("Adresse e-mail").fill(who.email);
  await page.getByLabel("Mot de passe").fill(who.password);
  await page.getByRole("button", { name: "Connexion" }).click();
  await expect(page).toHaveURL(/\/$/);
}

/** Waits until the WebAssembly has taken over the page (the language menu reacts only then). */
export async function hydrated(page: Page) {
  await page.waitForLoadState("networkidle");
}

/** Sends the filled top-up form: "Envoyer", then, once the top-up is shown for checking, its confirmation. */
export async function sendTopUp(page: Page) {
  await page.getByRole("button", { name: "Envoyer", exact: true }).click();
  await expect(page.getByTestId("check")).toBeVisible();
  await page.getByRole("button", { name: "Confirmer et envoyer" }).click();
}

/** Opens the top-up page and fills its form (not sent): the station by its label, the key, the amount. */
export async function fillTopUp(page: Page, station: string, key: string, amount: string) {
  await page.goto("/recharge");
  await hydrated(page);
  await page.getByLabel("Station", { exact: true }).selectOption({ label: station });
  await page.getByLabel("Numéro de clé (0 à 65535)").fill(key);
  await page.getByLabel("Montant (CHF)").fill(amount);
}
