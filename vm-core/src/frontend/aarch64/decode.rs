//! Field extraction and classification of A64 instruction words.

/// Bits `hi..=lo` of `w`.
#[inline]
pub(crate) fn bits(w: u32, hi: u32, lo: u32) -> u32 {
    (w >> lo) & ((1u32 << (hi - lo + 1)) - 1)
}

/// Sign-extends the low `n` bits of `v`.
#[inline]
pub(crate) fn sext(v: u32, n: u32) -> i64 {
    ((v as i64) << (64 - n)) >> (64 - n)
}

/// `DecodeBitMasks` of the Arm ARM for logical immediates: the immediate
/// for (N, imms, immr) at `datasize` bits, or None if reserved.
pub fn decode_bit_masks(n: u32, imms: u32, immr: u32, datasize: u32) -> Option<u64> {
    let combined = (n << 6) | (!imms & 0x3f);
    if combined == 0 {
        return None;
    }
    let len = 31 - combined.leading_zeros();
    if len < 1 {
        return None;
    }
    let esize = 1u32 << len;
    if esize > datasize {
        return None;
    }
    let levels = esize - 1;
    let s = imms & levels;
    let r = immr & levels;
    if s == levels {
        return None;
    }
    let ones = |k: u32| -> u64 {
        if k >= 64 {
            u64::MAX
        } else {
            (1u64 << k) - 1
        }
    };
    let welem = ones(s + 1);
    let emask = ones(esize);
    let rot = if r == 0 {
        welem
    } else {
        ((welem >> r) | (welem << (esize - r))) & emask
    };
    let mut v = 0u64;
    let mut pos = 0;
    while pos < datasize {
        v |= rot << pos;
        pos += esize;
    }
    Some(v & ones(datasize))
}

/// A short mnemonic for a word, for error messages (best effort: names
/// the instruction class where the exact mnemonic is not tracked).
pub fn mnemonic(w: u32) -> &'static str {
    let op0 = bits(w, 28, 25);
    match op0 {
        0b0000 if w == 0 => "udf",
        0b1000 | 0b1001 => "data-processing (immediate)",
        0b1010 | 0b1011 => {
            if w == 0xd503_201f {
                "nop"
            } else if bits(w, 31, 24) == 0xd5 {
                "system instruction (msr/mrs/hint/barrier)"
            } else if bits(w, 31, 21) == 0b110_1010_0000 {
                "svc/brk/hvc"
            } else {
                "branch"
            }
        }
        0b0101 | 0b1101 => "data-processing (register)",
        0b0111 | 0b1111 => "simd/fp data-processing",
        _ if bit(w, 26) => "simd/fp load/store",
        _ if op0 & 0b0101 == 0b0100 => "load/store",
        _ => "unallocated or unsupported encoding",
    }
}

#[inline]
pub(crate) fn bit(w: u32, n: u32) -> bool {
    (w >> n) & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_masks_match_known_encodings() {
        // and x0, x0, #0xff : N=1 immr=0 imms=7
        assert_eq!(decode_bit_masks(1, 7, 0, 64), Some(0xff));
        // and w0, w0, #0xfffffffe : N=0 immr=31 imms=30
        assert_eq!(decode_bit_masks(0, 30, 31, 32), Some(0xffff_fffe));
        // orr x0, xzr, #0x5555555555555555 : N=0 immr=0 imms=0b111100
        assert_eq!(
            decode_bit_masks(0, 0b111100, 0, 64),
            Some(0x5555_5555_5555_5555)
        );
        // all ones is reserved
        assert_eq!(decode_bit_masks(1, 0b111111, 0, 64), None);
        // and x0, x0, #0xfffffffffffffff0 : N=1 immr=60 imms=59
        assert_eq!(decode_bit_masks(1, 59, 60, 64), Some(0xffff_ffff_ffff_fff0));
    }
}
