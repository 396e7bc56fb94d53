// Solves a Floodgate proof-of-work challenge with Web Crypto, off the page's main thread:
// finds a nonce such that SHA-256(challenge ‖ nonce) begins with `bits` zero bits.
'use strict';

function zeroBits(bytes) {
  let bits = 0;
  for (const b of bytes) {
    if (b === 0) { bits += 8; continue; }
    return bits + Math.clz32(b) - 24;
  }
  return bits;
}

self.onmessage = async (e) => {
  const { challenge, bits } = e.data;
  const enc = new TextEncoder();
  const prefix = enc.encode(challenge);
  const expected = Math.pow(2, bits);
  const batch = 256;
  for (let n = 0; ; n += batch) {
    const tries = [];
    for (let i = n; i < n + batch; i++) {
      const nonce = String(i);
      const tail = enc.encode(nonce);
      const buf = new Uint8Array(prefix.length + tail.length);
      buf.set(prefix);
      buf.set(tail, prefix.length);
      tries.push(crypto.subtle.digest('SHA-256', buf).then((d) => [nonce, new Uint8Array(d)]));
    }
    for (const [nonce, digest] of await Promise.all(tries)) {
      if (zeroBits(digest) >= bits) {
        self.postMessage({ nonce });
        return;
      }
    }
    // Progress against the expected work (it can run past it: then it shows 99 %).
    self.postMessage({ progress: Math.min(99, Math.floor(((n + batch) / expected) * 100)) });
  }
};
