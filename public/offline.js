// The offline page (/offline.html, shown by the service worker when a page cannot be fetched): in the
// person's language, and back to the page they asked for by itself once the server answers again.
(() => {
  const texts = {
    fr: ["Hors ligne", "Réessayer"],
    de: ["Offline", "Erneut versuchen"],
    it: ["Offline", "Riprova"],
    en: ["Offline", "Try again"],
  };
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("i18n_pref_locale="));
  const wanted = [cookie && cookie.split("=")[1], ...navigator.languages.map((l) => l.slice(0, 2))];
  const lang = wanted.find((l) => l in texts) || "fr";
  document.documentElement.lang = lang;
  for (const p of document.querySelectorAll("[data-lang]")) p.hidden = p.dataset.lang !== lang;
  document.querySelector("h1").textContent = texts[lang][0];
  const retry = document.getElementById("retry");
  retry.textContent = texts[lang][1];
  const again = () => location.reload();
  retry.addEventListener("click", again);
  addEventListener("online", again);
  // The device may be online while the server is away (no "online" event then): ask the server now and
  // then, past the service worker's cache (a HEAD request is never answered from it).
  setInterval(() => {
    fetch("/login", { method: "HEAD", cache: "no-store" }).then((r) => r.ok && again(), () => {});
  }, 10000);
})();
