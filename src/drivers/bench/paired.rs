//! Comparisons measured in alternating pairs of rounds (the baseline, then sharesim,
//! again and again), judged by the median of the pairs' ratios.
//!
//! On a shared machine the rate a server reaches moves by a third between rounds a few
//! seconds apart, with the load of other processes. The two rounds of one pair run one
//! after the other, so they meet nearly the same load, and their ratio carries little of
//! it; a pair that a burst of load hit in one of its halves is an outlier that the
//! median of several pairs sets aside, where the ratio of the totals would take it in.
//! So the ratio a target judges is the median of the pairs' ratios, and the results keep
//! every pair's ratio beside it, and the ratio of the totals, for a reader to see the
//! spread.

use serde::Serialize;

/// The ratios of a comparison's pairs of rounds, and what is judged of them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Paired {
    /// Each pair's ratio (sharesim's rate over the baseline's), in the order they ran.
    pub pair_ratios: Vec<f64>,
    /// Their median: what a target judges.
    pub median: f64,
}

impl Paired {
    /// The pairs of `ours` and `theirs` (rates of the rounds, in the order they ran).
    pub(crate) fn of(ours: &[f64], theirs: &[f64]) -> Paired {
        let pair_ratios: Vec<f64> = ours
            .iter()
            .zip(theirs)
            .map(|(ours, theirs)| ours / theirs.max(1e-9))
            .collect();
        Paired {
            median: median(&pair_ratios),
            pair_ratios,
        }
    }

    /// Ratios as the table prints them: `0.91 0.84 0.88`.
    pub(crate) fn spell(ratios: &[f64]) -> String {
        ratios
            .iter()
            .map(|ratio| format!("{ratio:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The median of `values` (the mean of the middle two for an even count; 0 for none).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_sets_an_outlying_pair_aside() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[0.8]), 0.8);
        assert_eq!(median(&[0.9, 0.5, 0.8]), 0.8);
        assert_eq!(median(&[0.9, 0.7, 0.5, 0.8]), 0.75);
        // A burst of load during one round of one pair moves the median little.
        let paired = Paired::of(&[90.0, 40.0, 88.0, 86.0, 91.0], &[100.0; 5]);
        assert_eq!(paired.pair_ratios, [0.9, 0.4, 0.88, 0.86, 0.91]);
        assert_eq!(paired.median, 0.88);
        assert_eq!(
            Paired::spell(&paired.pair_ratios),
            "0.90 0.40 0.88 0.86 0.91"
        );
    }

    #[test]
    fn pairs_are_taken_in_order_and_a_stopped_baseline_does_not_divide_by_zero() {
        let paired = Paired::of(&[50.0, 20.0], &[100.0, 0.0]);
        assert_eq!(paired.pair_ratios[0], 0.5);
        assert!(paired.pair_ratios[1].is_finite() && paired.pair_ratios[1] > 1.0);
        assert_eq!(paired.median, (0.5 + paired.pair_ratios[1]) / 2.0);
    }
}
