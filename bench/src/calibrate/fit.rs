//! The linear cost model: non-negative least squares of time on counts, k-fold splits and the
//! accuracy measures (coefficient of variation, log-ratio error).
//!
//! NNLS is Lawson–Hanson on the normal equations of column-scaled data: the problems here have a
//! few dozen columns and rows, so a dense solve is exact and instant, and no matrix crate is
//! needed for it.

/// Why a fit could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("no rows to fit")]
    Empty,
    #[error("row {row} has {got} features, expected {expected}")]
    Ragged {
        row: usize,
        got: usize,
        expected: usize,
    },
    #[error("{what} has {got} entries for {rows} rows")]
    Length {
        what: &'static str,
        got: usize,
        rows: usize,
    },
    #[error("a value is not finite (row {row})")]
    NotFinite { row: usize },
}

/// Rows of features (`x[i][j]`: how many times sample `i` did thing `j`) and their targets.
#[derive(Debug, Clone, Default)]
pub struct Design {
    pub x: Vec<Vec<f64>>,
    pub y: Vec<f64>,
}

impl Design {
    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Design {
        let mut d = Design::default();
        for &i in idx {
            if let (Some(x), Some(y)) = (self.x.get(i), self.y.get(i)) {
                d.x.push(x.clone());
                d.y.push(*y);
            }
        }
        d
    }

    fn check(&self) -> Result<usize, FitError> {
        let cols = self.x.first().ok_or(FitError::Empty)?.len();
        if self.y.len() != self.x.len() {
            return Err(FitError::Length {
                what: "targets",
                got: self.y.len(),
                rows: self.x.len(),
            });
        }
        for (row, (x, y)) in self.x.iter().zip(&self.y).enumerate() {
            if x.len() != cols {
                return Err(FitError::Ragged {
                    row,
                    got: x.len(),
                    expected: cols,
                });
            }
            if !y.is_finite() || x.iter().any(|v| !v.is_finite()) {
                return Err(FitError::NotFinite { row });
            }
        }
        Ok(cols)
    }
}

/// `Σ_j x_j · w_j`.
pub fn dot(x: &[f64], w: &[f64]) -> f64 {
    x.iter().zip(w).map(|(a, b)| a * b).sum()
}

/// Non-negative least squares with *relative* residuals: minimises
/// `Σ_i ((x_i · w − y_i) / y_i)² + ridge · Σ_j (s_j w_j)²` over `w ≥ 0`, where `s_j` scales
/// column `j` to unit norm. Relative residuals make a 10 µs workload count as much as a 10 ms
/// one, which is what the coefficient of variation of ns/gas measures. A column that is zero in
/// every row gets weight 0. `ridge` (≥ 0) regularises nearly collinear columns.
///
/// Errors: an empty, ragged or non-finite design.
pub fn nnls_relative(d: &Design, ridge: f64) -> Result<Vec<f64>, FitError> {
    let cols = d.check()?;
    // Weighted, column-scaled rows: a_ij = x_ij / (y_i s_j), b_i = 1.
    let weight = |y: f64| if y.abs() > 0.0 { 1.0 / y } else { 1.0 };
    let mut scale = vec![0.0f64; cols];
    for (x, &y) in d.x.iter().zip(&d.y) {
        for (s, v) in scale.iter_mut().zip(x) {
            *s += (v * weight(y)).powi(2);
        }
    }
    for s in &mut scale {
        *s = s.sqrt();
    }
    let mut g = vec![vec![0.0f64; cols]; cols];
    let mut h = vec![0.0f64; cols];
    for (x, &y) in d.x.iter().zip(&d.y) {
        let w = weight(y);
        let a: Vec<f64> = x
            .iter()
            .zip(&scale)
            .map(|(v, s)| if *s > 0.0 { v * w / s } else { 0.0 })
            .collect();
        for (j, aj) in a.iter().enumerate() {
            h[j] += aj * y * w;
            for (k, ak) in a.iter().enumerate() {
                g[j][k] += aj * ak;
            }
        }
    }
    for (j, row) in g.iter_mut().enumerate() {
        row[j] += ridge.max(0.0) + 1e-12;
    }
    let active: Vec<bool> = scale.iter().map(|s| *s > 0.0).collect();
    let z = lawson_hanson(&g, &h, &active);
    Ok(z.iter()
        .zip(&scale)
        .map(|(z, s)| if *s > 0.0 { z / s } else { 0.0 })
        .collect())
}

/// Lawson–Hanson active-set NNLS on normal equations `G z = h` (G symmetric positive
/// definite). Only columns marked `usable` may become positive. At most `3·n` outer steps.
fn lawson_hanson(g: &[Vec<f64>], h: &[f64], usable: &[bool]) -> Vec<f64> {
    let n = h.len();
    let mut z = vec![0.0f64; n];
    let mut passive = vec![false; n];
    let tol = 1e-12;
    for _ in 0..n.saturating_mul(3).max(1) {
        let grad: Vec<f64> = (0..n).map(|j| h[j] - dot(&g[j], &z)).collect();
        let pick = (0..n)
            .filter(|&j| usable[j] && !passive[j] && grad[j] > tol)
            .max_by(|&a, &b| grad[a].total_cmp(&grad[b]));
        let Some(j) = pick else { break };
        passive[j] = true;
        // Inner loop: each step removes at least one column, so n steps bound it.
        for _ in 0..=n {
            let s = solve_passive(g, h, &passive);
            if (0..n).all(|k| !passive[k] || s[k] > tol) {
                z = s;
                break;
            }
            let mut alpha = 1.0f64;
            for k in 0..n {
                if passive[k] && s[k] <= tol {
                    let denom = z[k] - s[k];
                    if denom > 0.0 {
                        alpha = alpha.min(z[k] / denom);
                    }
                }
            }
            for k in 0..n {
                if passive[k] {
                    z[k] += alpha * (s[k] - z[k]);
                    if z[k] <= tol {
                        z[k] = 0.0;
                        passive[k] = false;
                    }
                }
            }
        }
    }
    z
}

/// The unconstrained solution over the passive columns (others 0).
fn solve_passive(g: &[Vec<f64>], h: &[f64], passive: &[bool]) -> Vec<f64> {
    let idx: Vec<usize> = (0..h.len()).filter(|&j| passive[j]).collect();
    let m: Vec<Vec<f64>> = idx
        .iter()
        .map(|&r| idx.iter().map(|&c| g[r][c]).collect())
        .collect();
    let rhs: Vec<f64> = idx.iter().map(|&r| h[r]).collect();
    let sol = solve(m, rhs);
    let mut out = vec![0.0; h.len()];
    for (k, &j) in idx.iter().enumerate() {
        out[j] = sol[k];
    }
    out
}

/// Gaussian elimination with partial pivoting; a (numerically) singular pivot gives 0 for its
/// unknown rather than a division by zero.
fn solve(mut m: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&a, &c| m[a][col].abs().total_cmp(&m[c][col].abs()))
            .unwrap_or(col);
        m.swap(col, pivot);
        b.swap(col, pivot);
        let p = m[col][col];
        if p.abs() < 1e-300 {
            continue;
        }
        for r in col + 1..n {
            let f = m[r][col] / p;
            if f != 0.0 {
                let pivot_row = m[col].clone();
                for (dst, src) in m[r].iter_mut().zip(&pivot_row).skip(col) {
                    *dst -= f * src;
                }
                b[r] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let p = m[r][r];
        if p.abs() < 1e-300 {
            continue;
        }
        let rest: f64 = (r + 1..n).map(|c| m[r][c] * x[c]).sum();
        x[r] = (b[r] - rest) / p;
    }
    x
}

/// `k` disjoint folds covering `0..n`: row `i` is held out in fold `i % k`. Deterministic, so
/// a report can be reproduced; `k` is clamped to `1..=n`.
pub fn folds(n: usize, k: usize) -> Vec<Vec<usize>> {
    let k = k.clamp(1, n.max(1));
    let mut out = vec![Vec::new(); k];
    for i in 0..n {
        out[i % k].push(i);
    }
    out
}

/// The rows not in `held_out`.
pub fn complement(n: usize, held_out: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !held_out.contains(i)).collect()
}

/// Coefficient of variation (population standard deviation over mean) of `v`; `None` for an
/// empty set or a non-positive mean.
pub fn coefficient_of_variation(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if mean <= 0.0 || !mean.is_finite() {
        return None;
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    Some(var.sqrt() / mean)
}

/// Root mean square of `ln(predicted / actual)`: a scale-free prediction error (0.1 ≈ 10 %).
/// Pairs with a non-positive side are skipped; `None` if none is left.
pub fn rms_log_error(predicted: &[f64], actual: &[f64]) -> Option<f64> {
    let errs: Vec<f64> = predicted
        .iter()
        .zip(actual)
        .filter(|(p, a)| **p > 0.0 && **a > 0.0)
        .map(|(p, a)| (p / a).ln().powi(2))
        .collect();
    (!errs.is_empty()).then(|| (errs.iter().sum::<f64>() / errs.len() as f64).sqrt())
}

/// The median of `v` (mean of the middle two for an even length); `None` when empty or when a
/// value is not a number.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => s.get(n / 2).copied(),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream (splitmix64) so the tests hold for every run.
    fn stream(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Counts spanning orders of magnitude, like the workloads', and times from known
    /// per-unit costs with multiplicative noise of ±`noise`.
    fn synthetic(truth: &[f64], rows: usize, noise: f64, seed: u64) -> Design {
        let mut r = stream(seed);
        let mut d = Design::default();
        for i in 0..rows {
            let x: Vec<f64> = (0..truth.len())
                .map(|j| {
                    // Each row is dominated by one feature, as a microbenchmark is.
                    let base = if j == i % truth.len() { 1e6 } else { 1e3 };
                    (base * (0.5 + r())).round()
                })
                .collect();
            let y = dot(&x, truth) * (1.0 + noise * (2.0 * r() - 1.0));
            d.x.push(x);
            d.y.push(y);
        }
        d
    }

    #[test]
    fn nnls_recovers_known_coefficients_within_five_percent() {
        let truth = [0.6, 1.9, 4.7, 0.05, 12.0, 2.2, 0.9, 30.0];
        let d = synthetic(&truth, 64, 0.01, 7);
        let w = nnls_relative(&d, 0.0).expect("fit");
        for (j, (got, want)) in w.iter().zip(&truth).enumerate() {
            assert!(
                (got - want).abs() <= 0.05 * want,
                "coefficient {j}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn nnls_is_exact_on_noise_free_data_and_never_negative() {
        let truth = [3.0, 0.0, 1.5];
        let d = synthetic(&truth, 12, 0.0, 11);
        let w = nnls_relative(&d, 0.0).expect("fit");
        for (got, want) in w.iter().zip(&truth) {
            assert!((got - want).abs() < 1e-6, "{w:?}");
        }
        // A target that a negative weight would fit better is clamped at zero instead.
        let d = Design {
            x: vec![vec![1.0, 1.0], vec![2.0, 1.0], vec![3.0, 1.0]],
            y: vec![3.0, 2.0, 1.0],
        };
        let w = nnls_relative(&d, 0.0).expect("fit");
        assert!(w.iter().all(|v| *v >= 0.0), "{w:?}");
        assert_eq!(w[0], 0.0);
    }

    #[test]
    fn a_column_never_seen_gets_weight_zero_and_bad_designs_are_refused() {
        let d = Design {
            x: vec![vec![1.0, 0.0], vec![2.0, 0.0]],
            y: vec![2.0, 4.0],
        };
        let w = nnls_relative(&d, 0.0).expect("fit");
        assert!((w[0] - 2.0).abs() < 1e-9);
        assert_eq!(w[1], 0.0);
        assert_eq!(nnls_relative(&Design::default(), 0.0), Err(FitError::Empty));
        let ragged = Design {
            x: vec![vec![1.0], vec![1.0, 2.0]],
            y: vec![1.0, 1.0],
        };
        assert!(matches!(
            nnls_relative(&ragged, 0.0),
            Err(FitError::Ragged { row: 1, .. })
        ));
        let nan = Design {
            x: vec![vec![f64::NAN]],
            y: vec![1.0],
        };
        assert_eq!(
            nnls_relative(&nan, 0.0),
            Err(FitError::NotFinite { row: 0 })
        );
    }

    #[test]
    fn folds_partition_the_rows() {
        let f = folds(10, 3);
        assert_eq!(f.len(), 3);
        let mut all: Vec<usize> = f.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(complement(10, &f[0]).len(), 10 - f[0].len());
        assert!(complement(10, &f[0]).iter().all(|i| !f[0].contains(i)));
        assert_eq!(folds(2, 5).len(), 2);
    }

    #[test]
    fn coefficient_of_variation_matches_its_definition() {
        assert_eq!(coefficient_of_variation(&[2.0, 2.0, 2.0]), Some(0.0));
        // mean 2, population std 1.
        let cv = coefficient_of_variation(&[1.0, 3.0]).expect("cv");
        assert!((cv - 0.5).abs() < 1e-12);
        // Scale-free: multiplying every value by a constant changes nothing.
        let a = coefficient_of_variation(&[1.0, 2.0, 4.0]).expect("cv");
        let b = coefficient_of_variation(&[10.0, 20.0, 40.0]).expect("cv");
        assert!((a - b).abs() < 1e-12);
        assert_eq!(coefficient_of_variation(&[]), None);
        assert_eq!(coefficient_of_variation(&[-1.0, -2.0]), None);
    }

    #[test]
    fn log_error_and_median() {
        let e = rms_log_error(&[2.0, 1.0], &[1.0, 2.0]).expect("error");
        assert!((e - 2f64.ln()).abs() < 1e-12);
        assert_eq!(rms_log_error(&[0.0], &[1.0]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
