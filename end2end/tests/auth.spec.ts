import { test, expect } from "@playwright/test";
import { ADMIN, login, watchConsole } from "./helpers";

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
