// Finds the number n ≤ maxnumber with hex(SHA-256(salt ‖ n)) = challenge.
"use strict";

self.onmessage = async (event) => {
  const c = event.data;
  const encoder = new TextEncoder();
  for (let n = 0; n <= c.maxnumber; n++) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(c.salt + n)));
    let hex = "";
    for (const b of digest) hex += b.toString(16).padStart(2, "0");
    if (hex === c.challenge) { self.postMessage(n); return; }
  }
  self.postMessage(null);
};
