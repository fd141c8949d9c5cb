//! Summary statistics of measured series.

/// The `q`-quantile (0 ≤ q ≤ 1) of `sorted` by nearest rank; 0 for an empty series.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Coefficient of variation: population standard deviation ÷ mean (0 for fewer than 2 values
/// or a zero mean).
pub fn cv(v: &[f64]) -> f64 {
    let m = mean(v);
    if v.len() < 2 || m == 0.0 {
        return 0.0;
    }
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
    var.sqrt() / m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_nearest_ranks() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn cv_is_zero_for_constant_series_and_scale_free() {
        assert_eq!(cv(&[3.0, 3.0, 3.0]), 0.0);
        let a = cv(&[1.0, 2.0, 3.0]);
        let b = cv(&[10.0, 20.0, 30.0]);
        assert!((a - b).abs() < 1e-12);
        assert!((a - (2.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-12);
    }
}
