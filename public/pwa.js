// Registers the service worker that makes Recharge installable and usable offline (see /sw.js).
// After the page has loaded: its install fetches the app's files, which must not compete with the page.
if ("serviceWorker" in navigator) {
  addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => {
      console.warn("Recharge: service worker not registered", err);
    });
  });
}
