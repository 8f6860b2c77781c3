import { test, expect, type Page } from "@playwright/test";
import { ADMIN, fillTopUp, hydrated, login, sendTopUp, watchConsole } from "./helpers";

test("a wrong password is refused, then the right one logs in", async ({ page }) => {
  const errors = watchConsole(page);
  await page.goto("/login");
  await page.getByLabel("Adresse e-mail").fill(ADMIN.email);
  await page.getByLabel("Mot de passe").fill("not the password");
  await page.getByRole("button", { name: "Connexion" }).click();
  await expect(page.getByTestId("login-notice")).toHaveText("Adresse e-mail ou mot de passe incorrect.");
  await expect(page).toHaveURL(/\/login\?error=credentials/);

  await page.getByLabel("Adresse e-mail").fill(ADMIN.email.toUpperCase());
  await page.getByLabel("Mot de passe").fill(ADMIN.password);
  await page.getByRole("button", { name: "Connexion" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Que souhaitez-vous faire ?");
  await expect(page.getByTestId("who")).toContainText(ADMIN.email);
  await expect(page.getByTestId("who")).toContainText("Gérance test");
  expect(errors).toEqual([]);
});

test("the login form works before any WebAssembly has loaded", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Adresse e-mail").fill(ADMIN.email);
  await page.getByLabel("Mot de passe").fill(ADMIN.password);
  await page.getByRole("button", { name: "Connexion" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("link", { name: "Recharger une clé" }).first()).toBeVisible();
  await context.close();
});

test("logout ends the session and protected pages lead back to the login", async ({ page }) => {
  await login(page);
  await page.goto("/transactions");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Transactions");
  await page.getByRole("button", { name: "Déconnexion" }).click();
  await expect(page).toHaveURL(/\/login\?reason=logged-out/);
  await expect(page.getByTestId("login-notice")).toHaveText("Vous êtes déconnecté.");

  await page.goto("/transactions");
  await expect(page).toHaveURL(/\/login\?next=%2Ftransactions$/);
  await page.getByLabel("Adresse e-mail").fill(ADMIN.email);
  await page.getByLabel("Mot de passe").fill(ADMIN.password);
  await page.getByRole("button", { name: "Connexion" }).click();
  await expect(page).toHaveURL(/\/transactions$/);
});

/** The same person logs out in another tab: the open page's session is gone. */
async function logOutElsewhere(page: Page) {
  const other = await page.context().newPage();
  await other.goto("/");
  await other.getByRole("button", { name: "Déconnexion" }).click();
  await expect(other).toHaveURL(/\/login\?reason=logged-out/);
}

/** The login page, saying that the session expired; logging in leads back to `path` (letters and `/`). */
async function loginAgainBackTo(page: Page, path: string) {
  await expect(page).toHaveURL(new RegExp(`/login\\?reason=expired&next=${encodeURIComponent(path)}$`));
  await expect(page.getByTestId("login-notice")).toHaveText("Votre session a expiré. Veuillez vous reconnecter.");
  await page.getByLabel("Adresse e-mail").fill(ADMIN.email);
  await page.getByLabel("Mot de passe").fill(ADMIN.password);
  await page.getByRole("button", { name: "Connexion" }).click();
  await expect(page).toHaveURL(new RegExp(`${path}$`));
}

test("a session that ends while a page is open leads to the login, then back to the page", async ({ page }) => {
  await login(page);
  await fillTopUp(page, "Station Hérémence, Gérance test, Hérémence", "34586", "10.00");
  await logOutElsewhere(page);

  // The filled form is sent: rather than a generic error, the login page, saying why.
  await sendTopUp(page);
  await loginAgainBackTo(page, "/recharge");
});

test("a journal left open follows its session: when it ends, the page goes to the login by itself", async ({ page }) => {
  await login(page);
  await page.goto("/transactions");
  await hydrated(page);
  await logOutElsewhere(page);
  // Nobody touches the journal: its live stream ends with the session, the browser's reconnection is
  // refused, and the page says why rather than going on showing a journal that no longer updates.
  await loginAgainBackTo(page, "/transactions");
});
