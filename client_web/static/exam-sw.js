// 启航 Qihang — the exam page's service worker (EXAM-1): keeps the page itself (HTML, script, styles)
// so that a phone that lost its connection mid-exam can still reload /exam and find its unsent answers
// in localStorage. Network first, so a new release is picked up as soon as the network is back; the
// API is never cached (answers go to the server or wait in the page's own queue). Served from
// /exam-sw.js and registered with scope /exam: it controls no other page.
const CACHE = "qihang-exam-v1";
const SHELL = ["/exam", "/static/exam.js", "/static/exam.css", "/static/api.js", "/static/style.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("qihang-exam-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function shellKey(url) {
  if (url.origin !== self.location.origin) return null;
  if (url.pathname === "/exam") return "/exam";  // any ?attempt=…: the same page
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const key = shellKey(new URL(req.url));
  if (!key) return;  // the API and everything else: straight to the network
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const resp = await fetch(req);
      if (resp.ok) await cache.put(key, resp.clone());
      return resp;
    } catch (err) {
      const kept = await cache.match(key);
      if (kept) return kept;
      throw err;
    }
  })());
});
