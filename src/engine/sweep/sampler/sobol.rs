//! Scrambled Sobol points: low-discrepancy coverage of the unit cube, one dimension per parameter.
//!
//! Theory of operation: point `i` of the unscrambled sequence is the XOR of the direction numbers
//! selected by the bits of `gray(i) = i ^ (i >> 1)` (the same order as SciPy's), computed directly
//! from the index, so any point is available without generating its predecessors and the sampler
//! stays a pure function of (seed, number of trials so far). Direction numbers come from Joe and
//! Kuo's table (embedded for [`MAX_DIMENSIONS`] dimensions; that is the sampler's limit).
//!
//! Scrambling is Owen-style nested uniform scrambling done with a hash (Burley, "Practical
//! hash-based Owen scrambling", 2020, with Vegdahl's improved permutation): reversing the bits
//! turns "each bit is permuted depending only on the bits above it" into "each bit depends only
//! on the bits below it", which multiplication by even constants, addition and multiplication by
//! odd numbers all respect. Each dimension gets its own seed. Scrambling keeps the sequence's
//! balance (every power-of-two prefix fills the dyadic boxes evenly) while removing the
//! unscrambled sequence's artefacts, such as the first point at the origin.

pub use super::sobol_directions::MAX_DIMENSIONS;
use super::sobol_directions::{M_INIT, POLY};
use crate::engine::sweep::rng::mix;

const BITS: usize = 32;

/// The 32 direction numbers of dimension `d` (`d < MAX_DIMENSIONS`).
pub fn directions(d: usize) -> [u32; BITS] {
    let mut v = [0u32; BITS];
    if d == 0 {
        for (k, slot) in v.iter_mut().enumerate() {
            *slot = 1 << (BITS - 1 - k);
        }
        return v;
    }
    let poly = POLY[d];
    let s = (32 - poly.leading_zeros() - 1) as usize;
    let mut m = [0u32; BITS];
    m[..s].copy_from_slice(&M_INIT[d][..s]);
    for k in s..BITS {
        // m_k = 2^s m_{k-s} ^ m_{k-s} ^ sum over the polynomial's inner coefficients a_i of 2^i a_i m_{k-i}.
        let mut value = m[k - s] ^ (m[k - s] << s);
        for i in 1..s {
            if (poly >> (s - i)) & 1 == 1 {
                value ^= m[k - i] << i;
            }
        }
        m[k] = value;
    }
    for k in 0..BITS {
        v[k] = m[k] << (BITS - 1 - k);
    }
    v
}

/// Unscrambled point `index` in dimension `d`, as a 32-bit fraction.
pub fn raw(index: u64, d: usize) -> u32 {
    let dirs = directions(d);
    raw_with(index, &dirs)
}

fn raw_with(index: u64, dirs: &[u32; BITS]) -> u32 {
    let gray = index ^ (index >> 1);
    let mut x = 0u32;
    for (k, v) in dirs.iter().enumerate() {
        if (gray >> k) & 1 == 1 {
            x ^= v;
        }
    }
    x
}

/// Nested uniform (Owen) scramble of a 32-bit fraction, keyed by `seed`.
pub fn owen_scramble(x: u32, seed: u32) -> u32 {
    let mut x = x.reverse_bits();
    x ^= x.wrapping_mul(0x3d20_adea);
    x = x.wrapping_add(seed);
    x = x.wrapping_mul((seed >> 16) | 1);
    x ^= x.wrapping_mul(0x0552_6c56);
    x ^= x.wrapping_mul(0x53a2_2864);
    x.reverse_bits()
}

/// Scrambled point `index` of a `dims`-dimensional sequence, in [0, 1)^dims.
pub fn point(index: u64, dims: usize, seed: u64) -> Vec<f64> {
    (0..dims)
        .map(|d| {
            let key = mix(seed, d as u64) as u32;
            let x = owen_scramble(raw(index, d), key);
            // The cell's centre: a scrambled point is uniform within its 2^-32 cell.
            (x as f64 + 0.5) / 4_294_967_296.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscrambled_points_match_scipy() {
        // scipy.stats.qmc.Sobol(d=6, scramble=False, bits=32).random(8) * 2**32
        let want: [[u32; 6]; 8] = [
            [0, 0, 0, 0, 0, 0],
            [2147483648, 2147483648, 2147483648, 2147483648, 2147483648, 2147483648],
            [3221225472, 1073741824, 1073741824, 1073741824, 3221225472, 3221225472],
            [1073741824, 3221225472, 3221225472, 3221225472, 1073741824, 1073741824],
            [1610612736, 1610612736, 2684354560, 3758096384, 1610612736, 536870912],
            [3758096384, 3758096384, 536870912, 1610612736, 3758096384, 2684354560],
            [2684354560, 536870912, 3758096384, 2684354560, 2684354560, 3758096384],
            [536870912, 2684354560, 1610612736, 536870912, 536870912, 1610612736],
        ];
        for (i, row) in want.iter().enumerate() {
            for (d, x) in row.iter().enumerate() {
                assert_eq!(raw(i as u64, d), *x, "point {i} dim {d}");
            }
        }
        // Dimensions 250..256, point 4, from the same SciPy call with d=256.
        let tail = [536870912u32, 536870912, 2684354560, 2684354560, 1610612736, 1610612736];
        for (j, x) in tail.iter().enumerate() {
            assert_eq!(raw(4, 250 + j), *x);
        }
    }

    #[test]
    fn every_dimension_is_balanced_over_a_power_of_two() {
        // Each dimension of a Sobol sequence is a (0,m,1)-net: 256 points, one per 1/256 cell.
        for d in [0, 1, 7, 100, MAX_DIMENSIONS - 1] {
            let mut cells = [false; 256];
            for i in 0..256 {
                cells[(raw(i, d) >> 24) as usize] = true;
            }
            assert!(cells.iter().all(|c| *c), "dimension {d}");
        }
    }

    #[test]
    fn scrambling_keeps_balance_depends_on_seed_and_is_deterministic() {
        let a: Vec<Vec<f64>> = (0..64).map(|i| point(i, 3, 11)).collect();
        let b: Vec<Vec<f64>> = (0..64).map(|i| point(i, 3, 11)).collect();
        let c: Vec<Vec<f64>> = (0..64).map(|i| point(i, 3, 12)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a[0].iter().all(|x| *x > 0.0), "the origin is scrambled away");
        for d in 0..3 {
            let mut cells = [0; 64];
            for p in &a {
                cells[(p[d] * 64.0) as usize] += 1;
            }
            assert!(cells.iter().all(|c| *c == 1), "dimension {d}: {cells:?}");
        }
        // Two-dimensional balance of the first pair: 64 points, one per 8x8 box.
        let mut boxes = [0; 64];
        for p in &a {
            boxes[(p[0] * 8.0) as usize * 8 + (p[1] * 8.0) as usize] += 1;
        }
        assert!(boxes.iter().all(|c| *c == 1), "{boxes:?}");
    }
}
