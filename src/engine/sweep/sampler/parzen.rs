//! Parzen estimators: a weighted mixture of product kernels over the space's internal coordinates.
//!
//! Theory of operation: TPE models "where good trials are" and "where the others are" as two
//! densities, each a mixture with one kernel per observed trial plus one broad *prior* kernel.
//! A kernel is a product over dimensions: a Gaussian truncated to the parameter's (widened,
//! maybe logarithmic) interval for numeric parameters, and a smoothed one-hot distribution for
//! categorical ones. Multivariate kernels (one kernel covers all dimensions of one trial) keep
//! the dependencies between parameters that independent per-parameter estimators lose.
//!
//! Bandwidths follow the usual TPE heuristic: a kernel's width in a dimension is the larger gap to
//! its neighbours among the sorted observations, clipped below by range / min(100, n + 1) so a
//! few close points do not collapse into spikes, and above by the range. The prior kernel sits at
//! the centre with the full range as width, keeping every region reachable.

use crate::engine::sweep::rng::Rng;
use crate::engine::sweep::space::Kind;

/// Settings of one estimator.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub prior_weight: f64,
    /// Lower clip of bandwidths: range / min(`min_bandwidth_divisor`, n + 1).
    pub min_bandwidth_divisor: f64,
    /// Every bandwidth is multiplied by this (below 1: sharper, more exploiting estimators).
    pub bandwidth_factor: f64,
}

enum DimKernels {
    Numeric {
        mu: Vec<f64>,
        sigma: Vec<f64>,
        low: f64,
        high: f64,
        log_norm: Vec<f64>,
    },
    /// Every observed kernel's distribution depends only on its observed option, so the
    /// distinct rows are kept once (`p[c]`: a kernel that observed option c; `p[n]`: the prior)
    /// and each kernel points at its row: building costs the options squared, not the trials.
    Categorical {
        row: Vec<usize>,
        log_p: Vec<Vec<f64>>,
        p: Vec<Vec<f64>>,
    },
}

/// A mixture of product kernels. Besides the per-dimension kernels (for sampling), density
/// evaluation uses a kernel-major copy: each kernel's constant (log weight minus its
/// normalisers) and its numeric centres and inverse widths side by side, which keeps the inner
/// loop a few multiply-adds over contiguous memory.
pub struct Mixture {
    cumulative: Vec<f64>,
    dims: Vec<DimKernels>,
    constant: Vec<f64>,
    numeric_dims: Vec<usize>,
    centres: Vec<f64>,
    inverse_widths: Vec<f64>,
    categorical_dims: Vec<usize>,
}

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Kernels further than this (in log density) below the nearest one add less than 1e-16 of it.
const NEGLIGIBLE: f64 = 37.0;

impl Mixture {
    /// `observations[i][d]`: trial i's internal coordinate in dimension d; `weights[i]` its weight.
    pub fn new<X: AsRef<[f64]>>(observations: &[X], weights: &[f64], kinds: &[Kind], settings: Settings) -> Mixture {
        let n = observations.len();
        let mut w: Vec<f64> = weights.to_vec();
        w.push(if n == 0 { 1.0 } else { settings.prior_weight });
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        let cumulative = w
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        let dims: Vec<DimKernels> = kinds
            .iter()
            .enumerate()
            .map(|(d, kind)| {
                let column: Vec<f64> = observations.iter().map(|o| o.as_ref()[d]).collect();
                match *kind {
                    Kind::Numeric { low, high, .. } => numeric(&column, low, high, settings),
                    Kind::Categorical { n: choices } => categorical(&column, choices, settings.prior_weight),
                }
            })
            .collect();
        let kernels = w.len();
        let mut constant: Vec<f64> = w.iter().map(|x| (x / total).ln()).collect();
        let numeric_dims: Vec<usize> =
            dims.iter().enumerate().filter(|(_, d)| matches!(d, DimKernels::Numeric { .. })).map(|(i, _)| i).collect();
        let categorical_dims: Vec<usize> = (0..dims.len()).filter(|i| !numeric_dims.contains(i)).collect();
        let nd = numeric_dims.len();
        let mut centres = vec![0.0; kernels * nd];
        let mut inverse_widths = vec![0.0; kernels * nd];
        for (j, &d) in numeric_dims.iter().enumerate() {
            if let DimKernels::Numeric { mu, sigma, log_norm, .. } = &dims[d] {
                for k in 0..kernels {
                    centres[k * nd + j] = mu[k];
                    inverse_widths[k * nd + j] = 1.0 / sigma[k];
                    constant[k] -= log_norm[k];
                }
            }
        }
        Mixture { cumulative, dims, constant, numeric_dims, centres, inverse_widths, categorical_dims }
    }

    /// Draw one point: pick a kernel by weight, then each coordinate from it.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let u = rng.uniform() * self.cumulative.last().copied().unwrap_or(1.0);
        let k = self.cumulative.partition_point(|c| *c <= u).min(self.cumulative.len() - 1);
        self.dims
            .iter()
            .map(|dim| match dim {
                DimKernels::Numeric { mu, sigma, low, high, .. } => truncated_normal(rng, mu[k], sigma[k], *low, *high),
                DimKernels::Categorical { row, p, .. } => rng.weighted(&p[row[k]]) as f64,
            })
            .collect()
    }

    /// Log density at `x` (log-sum-exp over kernels).
    pub fn log_pdf(&self, x: &[f64]) -> f64 {
        let nd = self.numeric_dims.len();
        let xs: Vec<f64> = self.numeric_dims.iter().map(|&d| x[d]).collect();
        let mut terms = self.constant.clone();
        for (k, term) in terms.iter_mut().enumerate() {
            let centres = &self.centres[k * nd..(k + 1) * nd];
            let inverse = &self.inverse_widths[k * nd..(k + 1) * nd];
            let mut sq = 0.0;
            for j in 0..nd {
                let z = (xs[j] - centres[j]) * inverse[j];
                sq += z * z;
            }
            *term -= 0.5 * sq;
        }
        for &d in &self.categorical_dims {
            if let DimKernels::Categorical { row, log_p, .. } = &self.dims[d] {
                let c = x[d] as usize;
                let at: Vec<f64> = log_p.iter().map(|r| r[c]).collect();
                for (term, r) in terms.iter_mut().zip(row) {
                    *term += at[*r];
                }
            }
        }
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return max;
        }
        // Most kernels are far from any one point; skipping their exp() changes nothing visible.
        let sum: f64 = terms.iter().filter(|t| **t > max - NEGLIGIBLE).map(|t| (t - max).exp()).sum();
        max + sum.ln()
    }
}

fn numeric(column: &[f64], low: f64, high: f64, settings: Settings) -> DimKernels {
    let n = column.len();
    let range = high - low;
    // Sorted as integers: `total_key` orders like `f64::total_cmp`, and comparing (u64, usize)
    // pairs is much cheaper than comparing floats through it (this runs per dimension per ask).
    let mut pairs: Vec<(u64, usize)> = column.iter().map(|x| total_key(*x)).zip(0..).collect();
    pairs.sort_unstable();
    let sorted: Vec<f64> = pairs.iter().map(|p| column[p.1]).collect();
    let mut sigma = vec![0.0; n];
    for (rank, &(_, i)) in pairs.iter().enumerate() {
        let left = if rank == 0 { low } else { sorted[rank - 1] };
        let right = if rank + 1 == n { high } else { sorted[rank + 1] };
        let x = sorted[rank];
        // The end points are not observations: at the edges use the inner neighbour only.
        sigma[i] = match (rank == 0, rank + 1 == n) {
            (true, false) if n >= 2 => right - x,
            (false, true) if n >= 2 => x - left,
            _ => (x - left).max(right - x),
        };
    }
    let min_sigma = range / settings.min_bandwidth_divisor.min(1.0 + (n + 1) as f64);
    for s in &mut sigma {
        *s = s.clamp(min_sigma, range) * settings.bandwidth_factor;
    }
    let mut mu = column.to_vec();
    mu.push(0.5 * (low + high));
    sigma.push(range);
    let log_norm = mu
        .iter()
        .zip(&sigma)
        .map(|(&m, &s)| {
            let (a, b) = ((low - m) / s, (high - m) / s);
            // Beyond 8.3 sigmas the tail is below 1e-16: skip the erfc calls (most kernels, once
            // there are many observations and the widths are small).
            let mass = if a < -8.3 && b > 8.3 { 1.0 } else { normal_cdf(b) - normal_cdf(a) };
            LN_SQRT_2PI + s.ln() + mass.max(1e-300).ln()
        })
        .collect();
    DimKernels::Numeric { mu, sigma, low, high, log_norm }
}

fn categorical(column: &[f64], choices: usize, prior_weight: f64) -> DimKernels {
    let kernels = column.len() + 1;
    let mut p: Vec<Vec<f64>> = Vec::with_capacity(choices + 1);
    for c in 0..choices {
        let mut row = vec![prior_weight / kernels as f64; choices];
        row[c] += 1.0;
        let total: f64 = row.iter().sum();
        p.push(row.iter().map(|v| v / total).collect());
    }
    p.push(vec![1.0 / choices as f64; choices]);
    let log_p = p.iter().map(|row| row.iter().map(|v| v.ln()).collect()).collect();
    let mut row: Vec<usize> = column.iter().map(|&x| (x as usize).min(choices - 1)).collect();
    row.push(choices);
    DimKernels::Categorical { row, log_p, p }
}

/// An integer that sorts like `x` under `f64::total_cmp`: the sign bit flipped for positives,
/// every bit for negatives.
fn total_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

/// A normal(mu, sigma) draw within [low, high]. The mean is inside the interval and sigma at most
/// its width, so at least a third of draws land inside: rejection is cheap. After many misses
/// (never seen in practice) a uniform draw keeps the result valid.
fn truncated_normal(rng: &mut Rng, mu: f64, sigma: f64, low: f64, high: f64) -> f64 {
    for _ in 0..64 {
        let x = mu + sigma * rng.normal();
        if (low..=high).contains(&x) {
            return x;
        }
    }
    low + rng.uniform() * (high - low)
}

/// Standard normal CDF via erfc.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function, relative error below 1.2e-7 everywhere (Numerical Recipes'
/// Chebyshev fit); plenty for density ratios.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (-1.0, 1.842_700_792_949_715),
        ] {
            assert!((erfc(x) - want).abs() <= 1.2e-7 * want.max(1e-3), "erfc({x}) = {} vs {want}", erfc(x));
        }
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn densities_integrate_to_one_and_peak_at_observations() {
        let kinds = [Kind::Numeric { low: 0.0, high: 1.0, log: false, step: None, base: 0.0, top: 1.0, int: false }];
        let obs = vec![vec![0.2], vec![0.25], vec![0.8]];
        let m = Mixture::new(
            &obs,
            &[1.0, 1.0, 1.0],
            &kinds,
            Settings { prior_weight: 1.0, min_bandwidth_divisor: 100.0, bandwidth_factor: 1.0 },
        );
        let n = 20_000;
        let integral: f64 = (0..n).map(|i| m.log_pdf(&[(i as f64 + 0.5) / n as f64]).exp() / n as f64).sum();
        assert!((integral - 1.0).abs() < 1e-3, "{integral}");
        assert!(m.log_pdf(&[0.22]) > m.log_pdf(&[0.5]));
        let mut rng = Rng::new(0, 0);
        for _ in 0..1000 {
            let x = m.sample(&mut rng)[0];
            assert!((0.0..=1.0).contains(&x));
        }
    }

    #[test]
    fn total_key_orders_like_total_cmp() {
        let xs = [-f64::INFINITY, -2.5, -1e-300, -0.0, 0.0, 1e-300, 0.5, 3.0, f64::INFINITY];
        for a in xs {
            for b in xs {
                assert_eq!(total_key(a).cmp(&total_key(b)), a.total_cmp(&b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn categorical_kernels_favour_observed_choices() {
        let kinds = [Kind::Categorical { n: 3 }];
        let obs = vec![vec![2.0], vec![2.0]];
        let m = Mixture::new(
            &obs,
            &[1.0, 1.0],
            &kinds,
            Settings { prior_weight: 1.0, min_bandwidth_divisor: 100.0, bandwidth_factor: 1.0 },
        );
        let total: f64 = (0..3).map(|c| m.log_pdf(&[c as f64]).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(m.log_pdf(&[2.0]) > m.log_pdf(&[0.0]));
    }
}
