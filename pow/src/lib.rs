//! Proof of work as Floodgate asks it of a join: find a nonce such that
//! SHA-256(challenge ‖ nonce) begins with `bits` zero bits.
//!
//! A crate of its own so that the server's check and every solver outside the browser (the
//! server's tests, the load test) are one piece of code, and the load test links only `sha2`
//! for it, not the server. The browser solves the same puzzle in `static/pow-worker.js`.

use sha2::{Digest, Sha256};

/// Leading zero bits of a digest.
pub fn digest_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Leading zero bits of SHA-256(challenge ‖ nonce).
pub fn zero_bits(challenge: &str, nonce: &str) -> u32 {
    let digest = Sha256::new()
        .chain_update(challenge.as_bytes())
        .chain_update(nonce.as_bytes())
        .finalize();
    digest_zero_bits(&digest)
}

/// Whether `nonce` solves `challenge` at `bits`.
pub fn solves(challenge: &str, nonce: &str, bits: u8) -> bool {
    zero_bits(challenge, nonce) >= u32::from(bits)
}

/// The first decimal nonce that solves `challenge` at `bits` (expected 2^bits tries).
pub fn solve(challenge: &str, bits: u8) -> String {
    // The challenge's part of the hash is computed once and cloned per try.
    let mut prefix = Sha256::new();
    prefix.update(challenge.as_bytes());
    let mut buf = [0u8; 20];
    for nonce in 0u64.. {
        let text = decimal(nonce, &mut buf);
        let mut hash = prefix.clone();
        hash.update(text.as_bytes());
        if digest_zero_bits(&hash.finalize()) >= u32::from(bits) {
            return text.to_owned();
        }
    }
    unreachable!("a 64-bit counter runs out only after 2^64 tries")
}

/// Decimal text of `n` in `buf`, without allocating on every try.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leading_zero_bits() {
        assert_eq!(digest_zero_bits(&[0x00, 0x00, 0x80]), 16);
        assert_eq!(digest_zero_bits(&[0x0f]), 4);
        assert_eq!(digest_zero_bits(&[0x00, 0x01]), 15);
        assert_eq!(digest_zero_bits(&[0xff]), 0);
    }

    #[test]
    fn known_vector() {
        // SHA-256("abc") = ba7816bf…: no leading zero bits.
        assert!(solves("ab", "c", 0));
        assert!(!solves("ab", "c", 1));
        // SHA-256("floodgate" ‖ "238") = 00740b05…, checked with `printf floodgate238 | sha256sum`.
        assert!(solves("floodgate", "238", 8));
        assert!(!solves("floodgate", "237", 8));
    }

    #[test]
    fn the_solution_has_the_bits_and_is_the_first() {
        for bits in [0u8, 4, 8, 12] {
            let nonce = solve("challenge-token.sig", bits);
            assert!(solves("challenge-token.sig", &nonce, bits));
            let n: u64 = nonce.parse().unwrap();
            assert!((0..n).all(|m| !solves("challenge-token.sig", &m.to_string(), bits)));
        }
    }

    #[test]
    fn formats_decimals() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), "0");
        assert_eq!(decimal(1234567890, &mut buf), "1234567890");
        assert_eq!(decimal(u64::MAX, &mut buf), "18446744073709551615");
    }
}
