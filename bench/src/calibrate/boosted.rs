//! The learned cost model: gradient-boosted trees (the `gbdt` crate) on top of the linear
//! model. Trees cannot extrapolate to counts larger than they saw, so they do not predict time
//! itself: they predict the linear model's *relative* error, `ln(time / linear)`, from
//! scale-free features (each feature's share of the linear prediction, and the prediction's
//! magnitude), and the model predicts `linear · exp(trees)`. Interactions that a per-unit price
//! cannot express (cache effects of big working sets, a class that is cheaper in a tight loop)
//! are what the trees can learn.

use super::fit::{Design, dot};
use gbdt::config::Config;
use gbdt::decision_tree::{Data, DataVec};
use gbdt::gradient_boost::GBDT;

/// Boosting parameters: small trees, many shrunken steps (the data are a few dozen rows).
#[derive(Debug, Clone, Copy)]
pub struct BoostParams {
    pub trees: usize,
    pub depth: u32,
    pub shrinkage: f32,
    pub min_leaf: usize,
}

impl Default for BoostParams {
    fn default() -> Self {
        BoostParams {
            trees: 60,
            depth: 3,
            shrinkage: 0.1,
            min_leaf: 2,
        }
    }
}

/// A fitted boosted model over a linear base.
pub struct Boosted {
    linear: Vec<f64>,
    gbt: GBDT,
    /// False when no row was usable: a GBDT without its trees must not predict (it asserts).
    fitted: bool,
}

/// The trees' features of a row: each column's share of the linear prediction, then the
/// prediction's log-magnitude.
fn features(x: &[f64], linear: &[f64]) -> Vec<f32> {
    let pred = dot(x, linear).max(f64::MIN_POSITIVE);
    let mut f: Vec<f32> = x
        .iter()
        .zip(linear)
        .map(|(v, w)| (v * w / pred) as f32)
        .collect();
    f.push(pred.ln() as f32);
    f
}

impl Boosted {
    /// Fits the trees on `d`'s residuals relative to `linear` (weights per column of `d`).
    /// Deterministic: every row and feature is used at every step (no sampling). Rows whose
    /// linear prediction or target is not positive are left out of the trees' data.
    pub fn fit(d: &Design, linear: &[f64], p: BoostParams) -> Boosted {
        let n_features = linear.len().saturating_add(1);
        let mut cfg = Config::new();
        cfg.set_feature_size(n_features);
        cfg.set_max_depth(p.depth);
        cfg.set_iterations(p.trees);
        cfg.set_shrinkage(p.shrinkage);
        cfg.set_min_leaf_size(p.min_leaf);
        cfg.set_loss("SquaredError");
        cfg.set_data_sample_ratio(1.0);
        cfg.set_feature_sample_ratio(1.0);
        let mut data: DataVec =
            d.x.iter()
                .zip(&d.y)
                .filter_map(|(x, &y)| {
                    let pred = dot(x, linear);
                    (pred > 0.0 && y > 0.0).then(|| {
                        let label = (y / pred).ln() as f32;
                        Data::new_training_data(features(x, linear), 1.0, label, None)
                    })
                })
                .collect();
        let mut gbt = GBDT::new(&cfg);
        let fitted = !data.is_empty();
        if fitted {
            gbt.fit(&mut data);
        }
        Boosted {
            linear: linear.to_vec(),
            gbt,
            fitted,
        }
    }

    /// Predicted time of each row of `x`.
    pub fn predict(&self, x: &[Vec<f64>]) -> Vec<f64> {
        let data: DataVec = x
            .iter()
            .map(|r| Data::new_test_data(features(r, &self.linear), None))
            .collect();
        let corr = if self.fitted && !data.is_empty() {
            self.gbt.predict(&data)
        } else {
            vec![0.0; x.len()]
        };
        x.iter()
            .zip(corr)
            .map(|(r, c)| dot(r, &self.linear) * f64::from(c).clamp(-10.0, 10.0).exp())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::fit::{nnls_relative, rms_log_error};

    #[test]
    fn trees_learn_an_effect_a_linear_price_cannot_express() {
        // Feature 1 costs 2 per unit alone but 4 per unit in rows where it dominates (a
        // working set falling out of cache): one price cannot fit both.
        let mut d = Design::default();
        for i in 1..=40u32 {
            let a = f64::from(i) * 1_000.0;
            let b = f64::from(41 - i) * 1_000.0;
            let per_b = if b > a { 4.0 } else { 2.0 };
            d.x.push(vec![a, b]);
            d.y.push(a + per_b * b);
        }
        let linear = nnls_relative(&d, 0.0).expect("fit");
        let lin_pred: Vec<f64> = d.x.iter().map(|x| dot(x, &linear)).collect();
        let boosted = Boosted::fit(&d, &linear, BoostParams::default());
        let pred = boosted.predict(&d.x);
        let lin_err = rms_log_error(&lin_pred, &d.y).expect("error");
        let gbt_err = rms_log_error(&pred, &d.y).expect("error");
        assert!(
            gbt_err < lin_err / 2.0,
            "trees {gbt_err} vs linear {lin_err}"
        );
        // Deterministic: a second fit predicts the same.
        let again = Boosted::fit(&d, &linear, BoostParams::default()).predict(&d.x);
        assert_eq!(pred, again);
    }

    #[test]
    fn an_empty_design_predicts_the_linear_model() {
        let b = Boosted::fit(&Design::default(), &[2.0], BoostParams::default());
        assert_eq!(b.predict(&[vec![3.0]]), vec![6.0]);
    }
}
