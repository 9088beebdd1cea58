// The page's service worker: keeps every file the page has fetched (page, bundle, WebAssembly, models) in a cache
// and answers from it when the network fails, so the page works offline once loaded. The API is never cached.
const CACHE = "lenet5-page-v1";

// What the page needs to start, fetched when the worker installs: the page itself loaded before the worker ran.
const CORE = [
  "./",
  "index.html",
  "app.js",
  "train_worker.js",
  "eval_worker.js",
  "parallel_worker.js",
  "style.css",
  "ort-wasm-simd-threaded.asyncify.wasm",
  "ort-wasm-simd-threaded.asyncify.mjs",
  "models/index.json",
];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(CORE);
    const models = await (await fetch("models/index.json")).json();
    await cache.addAll(models.map((m) => `models/${m.name}.layers.onnx`));
    await self.skipWaiting();
  })());
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // The API is never cached; the Train tab keeps the MNIST files in its own cache.
  if (
    event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/") ||
    url.pathname.startsWith("/mnist/")
  ) return;
  event.respondWith(
    fetch(event.request)
      .then(async (response) => {
        if (response.ok) await (await caches.open(CACHE)).put(event.request, response.clone());
        return response;
      })
      .catch(async () => (await caches.match(event.request)) ?? Response.error()),
  );
});
