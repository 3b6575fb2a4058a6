// Solves the platform's proof-of-work puzzle (ALTCHA's scheme, see
// crates/kit/src/challenge.rs) in a web worker when the screening layer
// asks for one:
// - [data-challenge-page]: a page the screening layer refused; the answer
//   goes into the tt_challenge cookie, then the page reloads (GET) or says
//   to send the form again.
// - form[data-challenge]: a form a service asked a puzzle for; the answer
//   goes into its "challenge" field and the form is sent again.
"use strict";

async function solvePuzzle() {
  const res = await fetch("/api/challenge", { cache: "no-store" });
  const c = await res.json();
  const number = await new Promise((done) => {
    const worker = new Worker("/challenge-worker.js");
    worker.onmessage = (e) => { done(e.data); worker.terminate(); };
    worker.postMessage(c);
  });
  if (number === null) throw new Error("the puzzle has no solution");
  return btoa(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge, number, salt: c.salt, signature: c.signature }));
}

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.querySelector("[data-challenge-page]");
  if (page) {
    const answer = await solvePuzzle();
    document.cookie = `tt_challenge=${answer}; path=/; max-age=300; samesite=strict`;
    if (page.dataset.challengePage === "GET") location.reload();
    else page.querySelector("[data-solved]").hidden = false;
  }
  for (const form of document.querySelectorAll("form[data-challenge]")) {
    form.elements.challenge.value = await solvePuzzle();
    form.submit();
  }
});
