// The screenshots in docs/screens/ (scripts/screens): the same browser and server as the end-to-end
// tests, another folder of specs.
import config from "./playwright.config";

export default { ...config, testDir: "./screens", timeout: 120_000 };
