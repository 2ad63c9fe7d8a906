//! The two digests of the image format, implemented here (no extra crate;
//! both use the host's instructions for them when present):
//! SHA-256 identifies the guest ELF an image was built from, CRC-32C
//! (Castagnoli) checks the integrity of the whole image.
//!
//! CRC-32C detects every error burst of up to 32 bits, so any single
//! flipped byte is always caught (not merely with high probability). Long
//! inputs are folded with 512-bit carry-less multiplies where the host
//! has them (AVX-512 VPCLMULQDQ), else checksummed with the SSE4.2
//! `crc32` instruction in three streams; both check fib's 50 KB image in
//! one to two microseconds.

/// SHA-256 round constants.
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

fn sha256_block(h: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 64];
    for (i, c) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *x = x.wrapping_add(v);
    }
}

/// SHA-256 compression of whole 64-byte blocks with the x86 SHA
/// extensions (Intel's reference schedule: four rounds per step, the
/// message schedule carried in four rotating vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn sha256_blocks_shani(h: &mut [u32; 8], blocks: &[u8]) {
    // SAFETY: the caller guarantees the SHA/SSE features this function is
    // compiled for (`target_feature`, checked at run time before the call);
    // every unaligned 16-byte load or store stays inside `h` (8 words, read
    // and written at word 0 and 4), one 64-byte chunk of `blocks`, or `K`
    // (64 words, read at 4 * i for i < 16).
    unsafe {
        use std::arch::x86_64::*;
        let mask = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let tmp = _mm_shuffle_epi32(_mm_loadu_si128(h.as_ptr() as *const __m128i), 0xb1);
        let efgh = _mm_shuffle_epi32(_mm_loadu_si128(h.as_ptr().add(4) as *const __m128i), 0x1b);
        let mut s0 = _mm_alignr_epi8(tmp, efgh, 8); // ABEF
        let mut s1 = _mm_blend_epi16(efgh, tmp, 0xf0); // CDGH
        for block in blocks.chunks_exact(64) {
            let (save0, save1) = (s0, s1);
            let mut msg = [_mm_setzero_si128(); 4];
            for i in 0..16 {
                if i < 4 {
                    let m = _mm_loadu_si128(block.as_ptr().add(16 * i) as *const __m128i);
                    msg[i] = _mm_shuffle_epi8(m, mask);
                }
                let mut m = _mm_add_epi32(
                    msg[i % 4],
                    _mm_loadu_si128(K.as_ptr().add(4 * i) as *const __m128i),
                );
                s1 = _mm_sha256rnds2_epu32(s1, s0, m);
                if (3..=14).contains(&i) {
                    let t = _mm_alignr_epi8(msg[i % 4], msg[(i + 3) % 4], 4);
                    let n = _mm_add_epi32(msg[(i + 1) % 4], t);
                    msg[(i + 1) % 4] = _mm_sha256msg2_epu32(n, msg[i % 4]);
                }
                m = _mm_shuffle_epi32(m, 0x0e);
                s0 = _mm_sha256rnds2_epu32(s0, s1, m);
                if (1..=12).contains(&i) {
                    msg[(i + 3) % 4] = _mm_sha256msg1_epu32(msg[(i + 3) % 4], msg[i % 4]);
                }
            }
            s0 = _mm_add_epi32(s0, save0);
            s1 = _mm_add_epi32(s1, save1);
        }
        let tmp = _mm_shuffle_epi32(s0, 0x1b); // FEBA
        let s1 = _mm_shuffle_epi32(s1, 0xb1); // DCHG
        let abcd = _mm_blend_epi16(tmp, s1, 0xf0);
        let efgh = _mm_alignr_epi8(s1, tmp, 8);
        _mm_storeu_si128(h.as_mut_ptr() as *mut __m128i, abcd);
        _mm_storeu_si128(h.as_mut_ptr().add(4) as *mut __m128i, efgh);
    }
}

/// Compresses whole 64-byte blocks, with the SHA extensions when present.
fn sha256_blocks(h: &mut [u32; 8], blocks: &[u8], allow_hw: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if allow_hw
            && std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("ssse3")
        {
            // SAFETY: the features were just detected.
            unsafe { sha256_blocks_shani(h, blocks) };
            return;
        }
    }
    let _ = allow_hw;
    for c in blocks.chunks_exact(64) {
        sha256_block(h, c);
    }
}

/// SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha256_impl(data, true)
}

/// SHA-256 without the SHA extensions (the reference in tests).
pub fn sha256_soft(data: &[u8]) -> [u8; 32] {
    sha256_impl(data, false)
}

fn sha256_impl(data: &[u8], allow_hw: bool) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let whole = data.len() / 64 * 64;
    sha256_blocks(&mut h, &data[..whole], allow_hw);
    let rest = &data[whole..];
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let n = if rest.len() < 56 { 64 } else { 128 };
    tail[n - 8..n].copy_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    sha256_blocks(&mut h, &tail[..n], allow_hw);
    let mut out = [0u8; 32];
    for (o, v) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// Reflected CRC-32C polynomial.
const CRC32C_POLY: u32 = 0x82f6_3b78;

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ CRC32C_POLY
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32C by table (hosts without SSE4.2, and the reference in tests).
pub fn crc32c_soft(data: &[u8]) -> u32 {
    crc32c_soft_from(0, data)
}

/// [`crc32c_soft`] of the bytes before `data` (whose CRC-32C is `crc`)
/// followed by `data`.
fn crc32c_soft_from(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Bytes per stream of the interleaved hardware CRC: three streams of
/// this many bytes are checksummed side by side, then combined.
const CRC_STREAM: usize = 1024;

/// The CRC register operator "feed [`CRC_STREAM`] zero bytes", as one
/// table per register byte (the operator is linear over GF(2), so a
/// register is shifted with four lookups). Built once per process.
#[cfg(target_arch = "x86_64")]
fn crc_shift_tables() -> &'static [[u32; 256]; 4] {
    static TABLES: std::sync::OnceLock<Box<[[u32; 256]; 4]>> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        // The image of each basis vector: the register 1 << bit after
        // CRC_STREAM zero bytes (table-driven, raw register update).
        let shift = |mut c: u32| {
            for _ in 0..CRC_STREAM {
                c = CRC_TABLE[(c & 0xff) as usize] ^ (c >> 8);
            }
            c
        };
        let basis: Vec<u32> = (0..32).map(|bit| shift(1 << bit)).collect();
        let mut t = Box::new([[0u32; 256]; 4]);
        for (k, table) in t.iter_mut().enumerate() {
            for (v, e) in table.iter_mut().enumerate() {
                *e = (0..8)
                    .filter(|b| v >> b & 1 != 0)
                    .fold(0, |acc, b| acc ^ basis[8 * k + b]);
            }
        }
        t
    })
}

#[cfg(target_arch = "x86_64")]
fn crc_shift(t: &[[u32; 256]; 4], c: u32) -> u32 {
    t[0][(c & 0xff) as usize]
        ^ t[1][(c >> 8 & 0xff) as usize]
        ^ t[2][(c >> 16 & 0xff) as usize]
        ^ t[3][(c >> 24) as usize]
}

/// Hardware CRC-32C, three independent streams at a time: the `crc32`
/// instruction has a latency of three cycles and a throughput of one, so
/// one stream uses a third of it. Each chunk of three streams is folded
/// into the running register with two table-driven shifts (the CRC
/// register update is linear: `crc(r, A || B) = shift_|B|(crc(r, A)) ^
/// crc(0, B)`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_sse42(data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let word = |b: &[u8], i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8"));
    let mut c = !0u32;
    let mut chunks = data.chunks_exact(3 * CRC_STREAM);
    if data.len() >= 3 * CRC_STREAM {
        let t = crc_shift_tables();
        for chunk in &mut chunks {
            let (a, rest) = chunk.split_at(CRC_STREAM);
            let (b, d) = rest.split_at(CRC_STREAM);
            let (mut ca, mut cb, mut cd) = (c as u64, 0u64, 0u64);
            for i in 0..CRC_STREAM / 8 {
                ca = _mm_crc32_u64(ca, word(a, i));
                cb = _mm_crc32_u64(cb, word(b, i));
                cd = _mm_crc32_u64(cd, word(d, i));
            }
            let ab = crc_shift(t, ca as u32) ^ cb as u32;
            c = crc_shift(t, ab) ^ cd as u32;
        }
    }
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(8);
    let mut c = c as u64;
    for w in &mut words {
        c = _mm_crc32_u64(c, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut c = c as u32;
    for &b in words.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    !c
}

/// [`crc32c_sse42`] of `src` while copying it into `dst` (same length):
/// every word is checksummed from the register it is stored from, so the
/// copy costs no second pass over memory.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_copy_sse42(crc: u32, src: &[u8], dst: &mut [u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let word = |b: &[u8], i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8"));
    let put =
        |b: &mut [u8], i: usize, w: u64| b[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    let mut c = !crc;
    let mut chunks = src.chunks_exact(3 * CRC_STREAM);
    let mut out = dst.chunks_exact_mut(3 * CRC_STREAM);
    if src.len() >= 3 * CRC_STREAM {
        let t = crc_shift_tables();
        for (chunk, to) in (&mut chunks).zip(&mut out) {
            let (a, rest) = chunk.split_at(CRC_STREAM);
            let (b, d) = rest.split_at(CRC_STREAM);
            let (ta, rest) = to.split_at_mut(CRC_STREAM);
            let (tb, td) = rest.split_at_mut(CRC_STREAM);
            let (mut ca, mut cb, mut cd) = (c as u64, 0u64, 0u64);
            for i in 0..CRC_STREAM / 8 {
                let (wa, wb, wd) = (word(a, i), word(b, i), word(d, i));
                put(ta, i, wa);
                put(tb, i, wb);
                put(td, i, wd);
                ca = _mm_crc32_u64(ca, wa);
                cb = _mm_crc32_u64(cb, wb);
                cd = _mm_crc32_u64(cd, wd);
            }
            let ab = crc_shift(t, ca as u32) ^ cb as u32;
            c = crc_shift(t, ab) ^ cd as u32;
        }
    }
    let rest = chunks.remainder();
    let rest_out = out.into_remainder();
    rest_out.copy_from_slice(rest);
    let mut words = rest.chunks_exact(8);
    let mut c = c as u64;
    for w in &mut words {
        c = _mm_crc32_u64(c, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut c = c as u32;
    for &b in words.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    !c
}

/// CRC-32C's polynomial in normal bit order (bit i: coefficient of x^i).
const CRC32C_NORMAL: u64 = 0x1_1edc_6f41;

/// x^n mod the CRC-32C polynomial (normal bit order).
const fn xpow_mod(n: u32) -> u32 {
    let mut r: u64 = 1;
    let mut i = 0;
    while i < n {
        r <<= 1;
        if r & (1 << 32) != 0 {
            r ^= CRC32C_NORMAL;
        }
        i += 1;
    }
    r as u32
}

/// The two carry-less multipliers that move a 128-bit chunk of message
/// `bits` bits further along it, modulo the polynomial: for a chunk whose
/// low quadword L holds the polynomial's higher coefficients and high
/// quadword H the lower ones (reflected order, as loaded little-endian),
/// `clmul(L, k.0) ^ clmul(H, k.1)` is congruent to the chunk times
/// `x^bits`. The reflected product of two 64-bit operands carries one
/// extra factor x, hence the exponents one lower: x^(64+bits-1) and
/// x^(bits-1), each stored reflected in the high half of a quadword.
const fn fold_key(bits: u32) -> (u64, u64) {
    (
        (xpow_mod(64 + bits - 1).reverse_bits() as u64) << 32,
        (xpow_mod(bits - 1).reverse_bits() as u64) << 32,
    )
}

/// Bytes folded per step by [`crc32c_fold_avx512`]: four 64-byte vectors.
#[cfg(target_arch = "x86_64")]
const FOLD_STEP: usize = 256;

/// Inputs at least this long take the folding path (shorter ones would
/// spend more on the final reduction than folding saves).
#[cfg(target_arch = "x86_64")]
const FOLD_MIN: usize = 2 * FOLD_STEP;

/// Whether the host can fold with 512-bit carry-less multiplies.
#[cfg(target_arch = "x86_64")]
fn has_vpclmul512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("vpclmulqdq")
        && std::arch::is_x86_feature_detected!("sse4.2")
}

/// CRC-32C of `src` by folding with 512-bit carry-less multiplies,
/// copying it to `dst` in the same pass when `COPY` (Intel's "fast CRC
/// computation with PCLMULQDQ", four 512-bit accumulators). The `crc32`
/// instruction handles 8 bytes per cycle at best; four independent
/// folds of 64 bytes each keep the multiplier busy at several times
/// that, so the checksum costs little more than the copy.
///
/// The message (with the initial register XORed into its first four
/// bytes) is folded into one 128-bit value congruent to it modulo the
/// polynomial, times the right power of x; the CRC register after the
/// folded part is then the register after feeding those 16 bytes to
/// `crc32` from zero, and the tail continues from it.
///
/// # Safety
///
/// The host must have AVX-512F, VPCLMULQDQ and SSE4.2 ([`has_vpclmul512`]);
/// `src.len() >= FOLD_MIN`; with `COPY`, `dst` must be valid for
/// `src.len()` bytes of writes and not overlap `src`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq,sse4.2")]
unsafe fn crc32c_fold_avx512<const COPY: bool>(crc: u32, src: &[u8], dst: *mut u8) -> u32 {
    use std::arch::x86_64::*;
    const K2048: (u64, u64) = fold_key(2048);
    const K1536: (u64, u64) = fold_key(1536);
    const K1024: (u64, u64) = fold_key(1024);
    const K512: (u64, u64) = fold_key(512);
    const K384: (u64, u64) = fold_key(384);
    const K256: (u64, u64) = fold_key(256);
    const K128: (u64, u64) = fold_key(128);
    #[inline(always)]
    fn key((l, h): (u64, u64)) -> __m512i {
        // SAFETY: AVX-512F, enabled in the one caller; no memory access.
        unsafe {
            _mm512_set_epi64(
                h as i64, l as i64, h as i64, l as i64, h as i64, l as i64, h as i64, l as i64,
            )
        }
    }
    /// `x * k ^ y` in each 128-bit lane.
    #[inline]
    #[target_feature(enable = "avx512f,vpclmulqdq")]
    fn fold(x: __m512i, k: __m512i, y: __m512i) -> __m512i {
        _mm512_ternarylogic_epi64(
            _mm512_clmulepi64_epi128(x, k, 0x00),
            _mm512_clmulepi64_epi128(x, k, 0x11),
            y,
            0x96,
        )
    }
    let n = src.len();
    debug_assert!(n >= FOLD_MIN);
    let sp = src.as_ptr();
    // SAFETY: every 64-byte load is at an offset `o` with `o + 64 <= n`
    // (the loop runs while a whole step of 256 bytes is left), and with
    // COPY every store goes to the same offset of `dst`, valid for `n`
    // bytes (the caller's contract). The tail loop reads and writes
    // below `n` too.
    unsafe {
        macro_rules! load {
            ($o:expr) => {{
                let v = _mm512_loadu_si512(sp.add($o) as *const __m512i);
                if COPY {
                    _mm512_storeu_si512(dst.add($o) as *mut __m512i, v);
                }
                v
            }};
        }
        let (mut a0, mut a1, mut a2, mut a3) = (load!(0), load!(64), load!(128), load!(192));
        a0 = _mm512_xor_si512(a0, _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, (!crc) as i64));
        let k = key(K2048);
        let mut o = FOLD_STEP;
        while n - o >= FOLD_STEP {
            a0 = fold(a0, k, load!(o));
            a1 = fold(a1, k, load!(o + 64));
            a2 = fold(a2, k, load!(o + 128));
            a3 = fold(a3, k, load!(o + 192));
            o += FOLD_STEP;
        }
        // Four vectors into the last one, its four lanes into one.
        let z = fold(a0, key(K1536), a3);
        let z = fold(a1, key(K1024), z);
        let z = fold(a2, key(K512), z);
        let lanes = _mm512_set_epi64(
            0,
            0,
            K128.1 as i64,
            K128.0 as i64,
            K256.1 as i64,
            K256.0 as i64,
            K384.1 as i64,
            K384.0 as i64,
        );
        let t = _mm512_xor_si512(
            _mm512_clmulepi64_epi128(z, lanes, 0x00),
            _mm512_clmulepi64_epi128(z, lanes, 0x11),
        );
        let v = _mm_xor_si128(
            _mm_xor_si128(
                _mm512_extracti32x4_epi32(t, 0),
                _mm512_extracti32x4_epi32(t, 1),
            ),
            _mm_xor_si128(
                _mm512_extracti32x4_epi32(t, 2),
                _mm512_extracti32x4_epi32(z, 3),
            ),
        );
        let mut c = _mm_crc32_u64(0, _mm_extract_epi64(v, 0) as u64);
        c = _mm_crc32_u64(c, _mm_extract_epi64(v, 1) as u64);
        while n - o >= 8 {
            let w = std::ptr::read_unaligned(sp.add(o) as *const u64);
            if COPY {
                std::ptr::write_unaligned(dst.add(o) as *mut u64, w);
            }
            c = _mm_crc32_u64(c, u64::from_le(w));
            o += 8;
        }
        let mut c = c as u32;
        while o < n {
            let b = *sp.add(o);
            if COPY {
                *dst.add(o) = b;
            }
            c = _mm_crc32_u8(c, b);
            o += 1;
        }
        !c
    }
}

/// Copies `src` into `dst` (which must have the same length) and returns
/// the CRC-32C of the bytes copied, in one pass where the host has the
/// SSE4.2 instruction.
pub fn crc32c_copy(src: &[u8], dst: &mut [u8]) -> u32 {
    crc32c_copy_from(0, src, dst)
}

/// [`crc32c_copy`] continuing a checksum: returns the CRC-32C of the
/// bytes before `src` (whose CRC-32C is `crc`) followed by `src`, so a
/// file can be copied in pieces to different places and checked as one
/// (`crc32c_copy_from(crc32c(a), b, ..) == crc32c(a ++ b)`).
pub fn crc32c_copy_from(crc: u32, src: &[u8], dst: &mut [u8]) -> u32 {
    assert_eq!(src.len(), dst.len(), "crc32c_copy: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        if src.len() >= FOLD_MIN && has_vpclmul512() {
            // SAFETY: the features were just detected; `dst` has the
            // length of `src` (asserted) and, being a `&mut`, does not
            // overlap it.
            return unsafe { crc32c_fold_avx512::<true>(crc, src, dst.as_mut_ptr()) };
        }
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the feature was just detected.
            return unsafe { crc32c_copy_sse42(crc, src, dst) };
        }
    }
    dst.copy_from_slice(src);
    crc32c_soft_from(crc, src)
}

/// CRC-32C of `data`, with the SSE4.2 instruction when the host has it.
pub fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if data.len() >= FOLD_MIN && has_vpclmul512() {
            // SAFETY: the features were just detected; nothing is copied.
            return unsafe { crc32c_fold_avx512::<false>(0, data, std::ptr::null_mut()) };
        }
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the feature was just detected.
            return unsafe { crc32c_sse42(data) };
        }
    }
    crc32c_soft(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn crc_while_copying_equals_crc_of_the_copy() {
        let data: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 7, 8, 9, 3071, 3072, 3073, 6144, 9000, 20_000] {
            let mut dst = vec![0u8; len];
            let c = crc32c_copy(&data[..len], &mut dst);
            assert_eq!(dst, &data[..len], "len {len}");
            assert_eq!(c, crc32c_soft(&data[..len]), "len {len}");
        }
    }

    #[test]
    fn crc_continued_over_pieces_equals_crc_of_the_whole() {
        let data: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let whole = crc32c_soft(&data);
        // Splits that put each piece on every path (table, crc32, fold).
        for cut in [0, 1, 9, 191, 511, 512, 3073, 10_000, 19_487, 19_999, 20_000] {
            let mut dst = vec![0u8; data.len()];
            let (a, b) = data.split_at(cut);
            let (da, db) = dst.split_at_mut(cut);
            let c = crc32c_copy_from(crc32c_copy(a, da), b, db);
            assert_eq!(c, whole, "cut {cut}");
            assert_eq!(dst, data, "cut {cut}");
            assert_eq!(crc32c_soft_from(crc32c_soft(a), b), whole, "cut {cut}");
        }
    }

    #[test]
    fn folded_crc_agrees_with_the_table_at_every_length_and_alignment() {
        #[cfg(target_arch = "x86_64")]
        {
            if !has_vpclmul512() {
                eprintln!("no AVX-512 VPCLMULQDQ on this host: the folding path is not reachable");
                return;
            }
            let data: Vec<u8> = (0..70_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect();
            let lens = (FOLD_MIN..FOLD_MIN + 300).chain([
                767, 768, 769, 1023, 1024, 4096, 4097, 49_539, 65_536, 69_931,
            ]);
            for len in lens {
                for start in [0, 1, 7, 64] {
                    let src = &data[start..start + len];
                    let want = crc32c_soft(src);
                    // SAFETY: the features were checked; `len >= FOLD_MIN`.
                    let got = unsafe { crc32c_fold_avx512::<false>(0, src, std::ptr::null_mut()) };
                    assert_eq!(got, want, "len {len} start {start}");
                    let mut dst = vec![0u8; len + 1];
                    // SAFETY: as above; `dst` has room for `len` bytes.
                    let got = unsafe { crc32c_fold_avx512::<true>(0, src, dst[1..].as_mut_ptr()) };
                    assert_eq!(got, want, "copy, len {len} start {start}");
                    assert_eq!(&dst[1..], src, "copy, len {len} start {start}");
                }
            }
            // Every single flipped bit of a long input changes the CRC.
            let mut buf = data[..4096].to_vec();
            let base = crc32c(&buf);
            for bit in (0..4096 * 8).step_by(61) {
                buf[bit / 8] ^= 1 << (bit % 8);
                assert_ne!(crc32c(&buf), base, "bit {bit}");
                buf[bit / 8] ^= 1 << (bit % 8);
            }
        }
    }

    #[test]
    fn sha256_matches_fips_180_vectors() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha256(&million_a)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn sha256_hardware_agrees_with_software() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 131 % 257) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4999, 5000] {
            assert_eq!(sha256(&data[..len]), sha256_soft(&data[..len]), "len {len}");
        }
    }

    #[test]
    fn crc32c_check_value_and_hardware_agrees_with_table() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c_soft(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        // Below, at and across the three-stream chunk size (3 KiB).
        for len in [
            0, 1, 7, 8, 9, 63, 64, 65, 999, 1000, 3071, 3072, 3073, 6144, 6151, 9999, 10_000,
        ] {
            assert_eq!(crc32c(&data[..len]), crc32c_soft(&data[..len]), "len {len}");
        }
    }
}
