// Progressive enhancement; every page works without it.
// - [data-live-match]: category statuses kept live (see `live`).
// - [data-expires]: a countdown to an ISO time; the page reloads at zero.
// - [data-reload-after]: reload after that many milliseconds (waiting pages).
// - form[data-search]: results replaced as the visitor types.
// - img[data-refresh-every]: the image fetched again every that many seconds
//   (a ticket's live code).
"use strict";

const LABELS = { AVAILABLE: "Available", TEMPORARILY_UNAVAILABLE: "Temporarily unavailable", SOLD_OUT: "Sold out" };
const CLASSES = { AVAILABLE: "ok", TEMPORARILY_UNAVAILABLE: "wait", SOLD_OUT: "out" };

function show(el, categories) {
  for (const c of categories) {
    const row = el.querySelector(`[data-category="${c.category}"]`);
    if (!row) continue;
    const badge = row.querySelector(".badge");
    if (badge && badge.dataset.status !== c.status) {
      badge.dataset.status = c.status;
      badge.textContent = LABELS[c.status] || c.status;
      badge.className = `badge ${CLASSES[c.status] || "wait"}`;
    }
    const left = row.querySelector("[data-sellable]");
    if (left) left.textContent = c.sellable;
  }
}

// One match: its availability every 3 s. A list: every match in one
// request every 5 s.
function live(elements) {
  if (elements.length === 0) return;
  const one = elements.length === 1;
  const refresh = async () => {
    try {
      const url = one ? `/live/matches/${elements[0].dataset.liveMatch}` : "/live/matches";
      const res = await fetch(url, { headers: { accept: "application/json" } });
      if (!res.ok) return;
      const data = await res.json();
      const all = one ? [data] : data;
      for (const m of all) {
        document.querySelectorAll(`[data-live-match="${m.matchNumber}"]`).forEach((el) => show(el, m.categories));
      }
    } catch (_) { /* the next round tries again */ }
  };
  setInterval(refresh, one ? 3000 : 5000);
}

function countdown(el) {
  const end = Date.parse(el.dataset.expires);
  const tick = () => {
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    el.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    if (left === 0) { clearInterval(timer); setTimeout(() => location.reload(), 1500); }
  };
  const timer = setInterval(tick, 1000);
  tick();
}

function search(form) {
  const results = document.getElementById(form.dataset.search);
  let timer = null;
  const run = async () => {
    const query = new URLSearchParams(new FormData(form)).toString();
    try {
      const res = await fetch(`/matches/results?${query}`);
      if (res.ok) {
        results.innerHTML = await res.text();
        history.replaceState(null, "", `/?${query}`);
      }
    } catch (_) { /* keep the last results */ }
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 250); });
}

document.addEventListener("DOMContentLoaded", () => {
  live([...document.querySelectorAll("[data-live-match]")]);
  document.querySelectorAll("[data-expires]").forEach(countdown);
  document.querySelectorAll("form[data-search]").forEach(search);
  document.querySelectorAll("img[data-refresh-every]").forEach((img) => {
    const base = img.getAttribute("src");
    setInterval(() => { img.src = `${base}?t=${Date.now()}`; }, Number(img.dataset.refreshEvery) * 1000);
  });
  const wait = document.querySelector("[data-reload-after]");
  if (wait) setTimeout(() => location.reload(), Number(wait.dataset.reloadAfter));
});
