//! From a cost model (nanoseconds per counted unit) to an integer [`GasSchedule`]: prices are
//! the model's costs at a chosen rate of gas per nanosecond, rounded, every price ≥ 1
//! (structure may stay free), the version one above the current schedule's. Prices the data
//! could not inform keep the current schedule's, rescaled to the new rate.

use super::counts::{CLASSES, Counts, HOSTS, gas_of, with_class};
use keel_vm::schedule::{GasSchedule, OpClass, ScheduleError};

/// Column of the feature vector of [`features`]: classes, host calls, calls, code bytes.
pub const COL_CALLS: usize = CLASSES + HOSTS;
pub const COL_CODE: usize = COL_CALLS + 1;
pub const COLUMNS: usize = COL_CODE + 1;

/// The model's features of one workload.
pub fn features(c: &Counts) -> Vec<f64> {
    let mut f = Vec::with_capacity(COLUMNS);
    f.extend(c.classes.iter().map(|&n| n as f64));
    f.extend(c.host_calls.iter().map(|&n| n as f64));
    f.push(c.calls as f64);
    f.push(c.code_bytes as f64);
    f
}

/// Why no schedule could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    #[error("the current schedule's version is the last one")]
    VersionExhausted,
    #[error("the proposed schedule is invalid: {0}")]
    Invalid(#[from] ScheduleError),
    #[error("expected {expected} weights, got {got}")]
    Weights { expected: usize, got: usize },
    #[error("the rate of gas per nanosecond must be positive and finite")]
    Rate,
}

/// What the rounding needs.
pub struct PriceInput<'a> {
    /// Nanoseconds per unit of each column.
    pub weights: &'a [f64],
    /// Whether the data informed each column (some row counted it).
    pub supported: &'a [bool],
    pub current: &'a GasSchedule,
    /// Gas per nanosecond of the new schedule.
    pub rate: f64,
    /// Gas per nanosecond of the current schedule (rescales the prices kept).
    pub current_rate: f64,
}

fn round(v: f64, floor: u64) -> u64 {
    // `as` saturates (and maps NaN to 0): the floor then applies.
    (v.round() as u64).max(floor)
}

/// The integer schedule for `p`; it passes [`GasSchedule::validate`].
///
/// Errors: a malformed input, or a current version of `u32::MAX`.
pub fn to_schedule(p: &PriceInput<'_>) -> Result<GasSchedule, PriceError> {
    if p.weights.len() != COLUMNS || p.supported.len() != COLUMNS {
        return Err(PriceError::Weights {
            expected: COLUMNS,
            got: p.weights.len().min(p.supported.len()),
        });
    }
    let ok = |r: f64| r.is_finite() && r > 0.0;
    if !ok(p.rate) || !ok(p.current_rate) {
        return Err(PriceError::Rate);
    }
    let rescale = p.rate / p.current_rate;
    let price = |col: usize, old: u64, floor: u64| {
        if p.supported[col] {
            round(p.weights[col] * p.rate, floor)
        } else {
            round(old as f64 * rescale, floor)
        }
    };
    let mut s = p.current.clone();
    s.version = p
        .current
        .version
        .checked_add(1)
        .ok_or(PriceError::VersionExhausted)?;
    for (col, class) in OpClass::ALL.into_iter().enumerate() {
        let floor = u64::from(class != OpClass::Structural);
        s = with_class(&s, class, price(col, p.current.class_cost(class), floor));
    }
    for (i, h) in s.host.iter_mut().enumerate() {
        h.base = price(CLASSES + i, h.base, 1);
        h.per_byte = round(h.per_byte as f64 * rescale, 0);
    }
    s.call_base = price(COL_CALLS, p.current.call_base, 1);
    let den = p.current.per_code_byte_denominator.max(1);
    s.per_code_byte_denominator = den;
    s.per_code_byte_numerator = if p.supported[COL_CODE] {
        round(p.weights[COL_CODE] * p.rate * den as f64, 0)
    } else {
        round(p.current.per_code_byte_numerator as f64 * rescale, 0)
    };
    s.validate()?;
    Ok(s)
}

/// Rates tried, as multiples of the current rate: a coarse rate rounds cheap prices badly, a
/// fine one inflates every figure; the search keeps the one with the smallest spread.
pub const RATE_STEPS: std::ops::RangeInclusive<i32> = -8..=16;

/// The schedule, over the rates `current_rate · 2^(k/4)` for `k` in [`RATE_STEPS`], whose
/// ns/gas has the smallest coefficient of variation on `(counts, time)` (the training rows).
/// Among rates within 2 % of that smallest spread, the one nearest the current rate wins: a
/// block's compute limit is in gas, so the rate decides how much time a block may take.
pub fn best_schedule(
    weights: &[f64],
    supported: &[bool],
    current: &GasSchedule,
    current_rate: f64,
    rows: &[(&Counts, f64)],
) -> Result<GasSchedule, PriceError> {
    let mut tried: Vec<(f64, i32, GasSchedule)> = Vec::new();
    for k in RATE_STEPS {
        let rate = current_rate * 2f64.powf(f64::from(k) / 4.0);
        let s = to_schedule(&PriceInput {
            weights,
            supported,
            current,
            rate,
            current_rate,
        })?;
        let ratios: Vec<f64> = rows
            .iter()
            .map(|(c, t)| t / (gas_of(c, &s).max(1) as f64))
            .collect();
        let cv = super::fit::coefficient_of_variation(&ratios).unwrap_or(f64::INFINITY);
        tried.push((cv, k, s));
    }
    let best = tried.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
    tried
        .into_iter()
        .filter(|(cv, _, _)| *cv <= best * 1.02 + 1e-12)
        .min_by_key(|(_, k, _)| k.abs())
        .map(|(_, _, s)| s)
        .ok_or(PriceError::Rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(classes: [u64; CLASSES]) -> Counts {
        Counts {
            classes,
            host_calls: vec![0; HOSTS],
            host_bytes: vec![0; HOSTS],
            calls: 1,
            code_bytes: 100,
        }
    }

    #[test]
    fn rounding_keeps_every_price_at_least_one_and_the_schedule_valid() {
        let current = GasSchedule::v1();
        // Tiny and zero costs everywhere: rounding gives 0, the floor lifts them to 1.
        let weights = vec![1e-9; COLUMNS];
        let supported = vec![true; COLUMNS];
        let s = to_schedule(&PriceInput {
            weights: &weights,
            supported: &supported,
            current: &current,
            rate: 1.0,
            current_rate: 1.0,
        })
        .expect("schedule");
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.version, current.version + 1);
        for class in OpClass::ALL {
            let want = u64::from(class != OpClass::Structural);
            assert_eq!(s.class_cost(class), want, "{class:?}");
        }
        assert!(s.host.iter().all(|h| h.base >= 1));
        assert!(s.call_base >= 1);
    }

    #[test]
    fn prices_are_the_rounded_costs_at_the_rate_and_unsupported_ones_are_rescaled() {
        let current = GasSchedule::v1();
        let mut weights = vec![0.0; COLUMNS];
        weights[1] = 0.74; // Simple: 0.74 ns
        weights[4] = 3.26; // Div
        weights[COL_CALLS] = 2_000.0;
        let mut supported = vec![false; COLUMNS];
        supported[1] = true;
        supported[4] = true;
        supported[COL_CALLS] = true;
        let s = to_schedule(&PriceInput {
            weights: &weights,
            supported: &supported,
            current: &current,
            rate: 2.0,
            current_rate: 1.0,
        })
        .expect("schedule");
        assert_eq!(s.instructions.simple, 1); // 1.48
        assert_eq!(s.instructions.div, 7); // 6.52
        assert_eq!(s.call_base, 4_000);
        // Not informed: the current price at twice the rate.
        assert_eq!(s.instructions.mul, current.instructions.mul * 2);
        assert_eq!(s.host[0].base, current.host[0].base * 2);
        assert_eq!(s.host[0].per_byte, current.host[0].per_byte * 2);
        assert_eq!(
            s.per_code_byte_numerator,
            current.per_code_byte_numerator * 2
        );
    }

    #[test]
    fn malformed_inputs_are_refused() {
        let mut current = GasSchedule::v1();
        let w = vec![1.0; COLUMNS];
        let sup = vec![true; COLUMNS];
        let input = |current: &GasSchedule, rate: f64| {
            to_schedule(&PriceInput {
                weights: &w,
                supported: &sup,
                current,
                rate,
                current_rate: 1.0,
            })
        };
        assert_eq!(input(&current, 0.0), Err(PriceError::Rate));
        assert_eq!(input(&current, f64::NAN), Err(PriceError::Rate));
        current.version = u32::MAX;
        assert_eq!(input(&current, 1.0), Err(PriceError::VersionExhausted));
        let short = to_schedule(&PriceInput {
            weights: &w[1..],
            supported: &sup,
            current: &GasSchedule::v1(),
            rate: 1.0,
            current_rate: 1.0,
        });
        assert!(matches!(short, Err(PriceError::Weights { .. })));
    }

    #[test]
    fn the_rate_search_finds_a_schedule_proportional_to_time() {
        // Simple costs 0.3 ns and Div 2.1 ns (ratio 7): at a fine enough rate the integer
        // prices keep that ratio and ns/gas is the same for both workloads.
        let mut weights = vec![0.0; COLUMNS];
        weights[1] = 0.3;
        weights[4] = 2.1;
        let mut supported = vec![false; COLUMNS];
        supported[1] = true;
        supported[4] = true;
        let mut a = [0u64; CLASSES];
        a[1] = 1_000_000;
        let mut b = [0u64; CLASSES];
        b[4] = 1_000_000;
        let (ca, cb) = (counts(a), counts(b));
        let rows = [(&ca, 300_000.0), (&cb, 2_100_000.0)];
        let s =
            best_schedule(&weights, &supported, &GasSchedule::v1(), 1.0, &rows).expect("schedule");
        assert_eq!(s.instructions.div, 7 * s.instructions.simple);
        assert_eq!(s.validate(), Ok(()));
    }
}
