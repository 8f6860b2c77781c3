// Registers the service worker that makes Recharge installable and usable offline (see /sw.js).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => {
    console.warn("Recharge: service worker not registered", err);
  });
}
