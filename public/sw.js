// Recharge's service worker.
//
// - The app shell's static files (WebAssembly, JavaScript, CSS, icons, manifest) and an offline page are
//   cached at install, and kept up to date: each is fetched from the network first, and the cached copy is
//   used only when the network fails, so a new release is never mixed with an old one.
// - Pages are always fetched from the network (they hold one person's data and must be current); when the
//   network is down, the offline page is shown.
// - Server functions (/api/), event streams, login and logout are never cached or answered from a cache.
const CACHE = "recharge-shell-v2";
const SHELL = [
  "/offline.html",
  "/offline.js",
  "/pkg/recharge.js",
  "/pkg/recharge.wasm",
  "/pkg/recharge.css",
  "/manifest.webmanifest",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function neverCached(request, url) {
  return (
    request.method !== "GET" ||
    url.origin !== self.location.origin ||
    url.pathname.startsWith("/api/") ||
    url.pathname.startsWith("/events") ||
    url.pathname === "/login" ||
    url.pathname === "/logout" ||
    (request.headers.get("accept") || "").includes("text/event-stream")
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (neverCached(request, url)) {
    return; // straight to the network, as if there were no service worker
  }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match("/offline.html")));
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(request, copy));
          }
          return response;
        })
        .catch(() => caches.match(request)),
    );
  }
});
