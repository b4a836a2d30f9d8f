//! From evaluations to weights: a pure function every validator computes identically.
//!
//! Per competition, every pair of entries is compared. The newer submission must beat the older
//! one by more than a relative margin ε (the first-mover advantage), which shrinks linearly with
//! the age of the older submission so a stale leader can be dethroned by ever smaller gains.
//! When both entries were evaluated on the same seed and spec, the comparison is sample by
//! sample and each sample is one win; otherwise the totals are one sample. An entry's win rate
//! is its mean share of wins over its opponents; a softmax with a low temperature turns win
//! rates into near winner-take-all weights; an exponential moving average across rounds damps
//! flapping; competitions split the emission by configured shares.
//!
//! Copies: identical content under several hotkeys is deduplicated upstream, but a later entry
//! whose scores are identical to an earlier one's is additionally capped at the earlier one's
//! weight, because the decaying ε can otherwise let the younger copy beat a third model that
//! the older original loses to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One scored submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Hotkey or uid; unique among the entries.
    pub key: String,
    pub competition: String,
    pub commit_block: u64,
    pub seed_hex: String,
    pub spec_version: u64,
    /// Per-sample scores, higher better (see [`crate::evaluate::Evaluation::samples`]).
    pub samples: Vec<f64>,
    pub total: f64,
}

/// The first-mover margin as a function of the older submission's age in blocks: linear from
/// `start` at age 0 to `end` at `decay_blocks`, then `end`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpsilonSchedule {
    pub start: f64,
    pub end: f64,
    pub decay_blocks: u64,
}

impl EpsilonSchedule {
    pub fn at(&self, age_blocks: u64) -> f64 {
        if self.decay_blocks == 0 || age_blocks >= self.decay_blocks {
            return self.end;
        }
        let t = age_blocks as f64 / self.decay_blocks as f64;
        self.start + (self.end - self.start) * t
    }
}

/// How weights are computed; validators must share it (it belongs with the scoring spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeighConfig {
    pub epsilon: EpsilonSchedule,
    /// Softmax temperature over win rates (0..1); lower is closer to winner-take-all.
    pub temperature: f64,
    /// Weight of this round in the moving average (1 = no memory).
    pub ema_alpha: f64,
    /// Emission share per competition; competitions not listed get nothing.
    pub shares: BTreeMap<String, f64>,
}

impl Default for WeighConfig {
    /// ε from 0.5% to 0.01% over a week of 12-second blocks (the taoverse subnets' schedule),
    /// temperature 0.01 (a win-rate lead of 0.05 is worth e^5 ≈ 150× the weight), EMA α 0.5,
    /// and the whole emission to `small`.
    fn default() -> Self {
        Self {
            epsilon: EpsilonSchedule {
                start: 0.005,
                end: 0.0001,
                decay_blocks: 50_400,
            },
            temperature: 0.01,
            ema_alpha: 0.5,
            shares: BTreeMap::from([("small".to_string(), 1.0)]),
        }
    }
}

/// The moving average carried from round to round, by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeighState {
    pub ema: BTreeMap<String, f64>,
}

/// One round's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weighing {
    /// Weight per entry key; sums to 1, or all 0 when no entry is in a competition with a share.
    pub weights: BTreeMap<String, f64>,
    /// This round's win rate per key (before softmax), for display.
    pub win_rates: BTreeMap<String, f64>,
    /// Pass to the next round.
    pub state: WeighState,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeighError {
    #[error("key {0} appears in more than one entry")]
    DuplicateKey(String),
    #[error("entry {0} has a score that is not a finite number")]
    NonFinite(String),
    #[error("invalid weighing configuration: {0}")]
    Config(&'static str),
}

fn check(entries: &[Entry], config: &WeighConfig) -> Result<(), WeighError> {
    let t = config.temperature;
    if !(t.is_finite() && t > 0.0) {
        return Err(WeighError::Config("the temperature must be positive"));
    }
    let a = config.ema_alpha;
    if !(a > 0.0 && a <= 1.0) {
        return Err(WeighError::Config("ema_alpha must be within (0, 1]"));
    }
    let e = &config.epsilon;
    if ![e.start, e.end].iter().all(|v| v.is_finite() && *v >= 0.0) {
        return Err(WeighError::Config("epsilon must be finite and non-negative"));
    }
    if config.shares.values().any(|s| !s.is_finite() || *s < 0.0) {
        return Err(WeighError::Config("shares must be finite and non-negative"));
    }
    let mut keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(WeighError::DuplicateKey(w[0].to_string()));
    }
    if let Some(e) = entries
        .iter()
        .find(|e| !e.total.is_finite() || e.samples.iter().any(|s| !s.is_finite()))
    {
        return Err(WeighError::NonFinite(e.key.clone()));
    }
    Ok(())
}

fn comparable(a: &Entry, b: &Entry) -> bool {
    a.seed_hex == b.seed_hex
        && a.spec_version == b.spec_version
        && !a.samples.is_empty()
        && a.samples.len() == b.samples.len()
}

/// `a`'s share of wins against `b` (0..=1). The newer side wins a sample only by beating the
/// older side's score times `1 + ε`; at the same block, ties split.
fn win_share(a: &Entry, b: &Entry, current_block: u64, schedule: &EpsilonSchedule) -> f64 {
    let (sa, sb): (&[f64], &[f64]) = if comparable(a, b) {
        (&a.samples, &b.samples)
    } else {
        (std::slice::from_ref(&a.total), std::slice::from_ref(&b.total))
    };
    let older_block = a.commit_block.min(b.commit_block);
    let eps = schedule.at(current_block.saturating_sub(older_block));
    let mut wins = 0.0;
    for (&x, &y) in sa.iter().zip(sb) {
        wins += match a.commit_block.cmp(&b.commit_block) {
            std::cmp::Ordering::Less => {
                if y > x * (1.0 + eps) {
                    0.0
                } else {
                    1.0
                }
            }
            std::cmp::Ordering::Greater => {
                if x > y * (1.0 + eps) {
                    1.0
                } else {
                    0.0
                }
            }
            std::cmp::Ordering::Equal => match x.partial_cmp(&y) {
                Some(std::cmp::Ordering::Greater) => 1.0,
                Some(std::cmp::Ordering::Less) => 0.0,
                _ => 0.5,
            },
        };
    }
    wins / sa.len() as f64
}

/// Win rates and softmax weights (summing to 1) of one competition's entries, sorted by key.
fn competition_round(
    entries: &[&Entry],
    current_block: u64,
    config: &WeighConfig,
) -> Vec<(String, f64, f64)> {
    let n = entries.len();
    let rates: Vec<f64> = entries
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if n == 1 {
                return 1.0;
            }
            let sum: f64 = entries
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| win_share(a, b, current_block, &config.epsilon))
                .sum();
            sum / (n - 1) as f64
        })
        .collect();
    let max = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = rates
        .iter()
        .map(|r| ((r - max) / config.temperature).exp())
        .collect();
    let z: f64 = exps.iter().sum();
    entries
        .iter()
        .zip(rates.iter().zip(&exps))
        .map(|(e, (r, x))| (e.key.clone(), *r, x / z))
        .collect()
}

fn normalise(weights: &mut BTreeMap<String, f64>) {
    let sum: f64 = weights.values().sum();
    if sum > 0.0 {
        weights.values_mut().for_each(|w| *w /= sum);
    }
}

/// One round of weighing at `current_block`, continuing the moving average in `state`.
/// The result does not depend on the order of `entries`.
pub fn weigh(
    entries: &[Entry],
    current_block: u64,
    config: &WeighConfig,
    state: &WeighState,
) -> Result<Weighing, WeighError> {
    check(entries, config)?;
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut by_competition: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in &sorted {
        by_competition.entry(e.competition.as_str()).or_default().push(e);
    }
    // Shares of the competitions present, renormalised so the emission is always fully used.
    let present: f64 = by_competition
        .keys()
        .map(|c| config.shares.get(*c).copied().unwrap_or(0.0))
        .sum();
    let mut round: BTreeMap<String, f64> = BTreeMap::new();
    let mut win_rates = BTreeMap::new();
    for (competition, members) in &by_competition {
        let share = match config.shares.get(*competition) {
            Some(s) if present > 0.0 => s / present,
            _ => 0.0,
        };
        for (key, rate, w) in competition_round(members, current_block, config) {
            win_rates.insert(key.clone(), rate);
            round.insert(key, w * share);
        }
    }
    let mut ema: BTreeMap<String, f64> = round
        .iter()
        .map(|(k, w)| {
            let prev = state.ema.get(k).copied().unwrap_or(0.0);
            (k.clone(), config.ema_alpha * w + (1.0 - config.ema_alpha) * prev)
        })
        .collect();
    normalise(&mut ema);
    cap_copies(&sorted, &mut ema);
    normalise(&mut ema);
    if present <= 0.0 {
        ema.values_mut().for_each(|w| *w = 0.0);
    }
    Ok(Weighing {
        weights: ema.clone(),
        win_rates,
        state: WeighState { ema },
    })
}

/// Caps each entry at the weight of any strictly earlier entry with identical scores.
fn cap_copies(sorted: &[&Entry], weights: &mut BTreeMap<String, f64>) {
    let same = |a: &Entry, b: &Entry| {
        a.competition == b.competition
            && a.seed_hex == b.seed_hex
            && a.spec_version == b.spec_version
            && a.total.to_bits() == b.total.to_bits()
            && a.samples.len() == b.samples.len()
            && a.samples
                .iter()
                .zip(&b.samples)
                .all(|(x, y)| x.to_bits() == y.to_bits())
    };
    let mut by_block: Vec<&Entry> = sorted.to_vec();
    by_block.sort_by(|a, b| (a.commit_block, &a.key).cmp(&(b.commit_block, &b.key)));
    for (i, later) in by_block.iter().enumerate() {
        let cap = by_block[..i]
            .iter()
            .filter(|earlier| earlier.commit_block < later.commit_block && same(earlier, later))
            .filter_map(|earlier| weights.get(&earlier.key).copied())
            .fold(f64::INFINITY, f64::min);
        if let Some(w) = weights.get_mut(&later.key)
            && *w > cap
        {
            *w = cap;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::SeedStream;

    const CASES: usize = 250;

    fn entry(key: &str, block: u64, samples: Vec<f64>) -> Entry {
        let total = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
        Entry {
            key: key.into(),
            competition: "small".into(),
            commit_block: block,
            seed_hex: "ab".into(),
            spec_version: 1,
            samples,
            total,
        }
    }

    /// A random field of 1..8 entries: mixed seeds (so some pairs compare totals only), blocks
    /// and scores, sometimes in two competitions.
    fn field(rng: &mut SeedStream) -> Vec<Entry> {
        let n = 1 + rng.below(8);
        let len = 1 + rng.below(12);
        (0..n)
            .map(|i| {
                let samples = (0..len).map(|_| rng.unit()).collect();
                let mut e = entry(&format!("k{i}"), rng.below(100_000) as u64, samples);
                if rng.below(4) == 0 {
                    e.seed_hex = "cd".into();
                }
                if rng.below(5) == 0 {
                    e.competition = "medium".into();
                }
                e
            })
            .collect()
    }

    fn config(rng: &mut SeedStream) -> WeighConfig {
        let mut c = WeighConfig::default();
        c.shares.insert("medium".into(), 0.5 * rng.below(3) as f64);
        c.ema_alpha = [1.0, 0.5, 0.2][rng.below(3)];
        c
    }

    fn random_state(rng: &mut SeedStream, entries: &[Entry]) -> WeighState {
        let mut ema: BTreeMap<String, f64> = entries.iter().map(|e| (e.key.clone(), rng.unit())).collect();
        normalise(&mut ema);
        WeighState { ema }
    }

    #[test]
    fn weights_sum_to_one_or_all_zero() {
        let mut rng = SeedStream::from_u64(1);
        for case in 0..CASES {
            let entries = field(&mut rng);
            let cfg = config(&mut rng);
            let state = random_state(&mut rng, &entries);
            let w = weigh(&entries, 120_000, &cfg, &state).expect("weigh");
            let sum: f64 = w.weights.values().sum();
            assert_eq!(w.weights.len(), entries.len());
            let paid = entries
                .iter()
                .any(|e| cfg.shares.get(&e.competition).is_some_and(|s| *s > 0.0));
            let expected = if paid { 1.0 } else { 0.0 };
            assert!((sum - expected).abs() < 1e-9, "case {case}: sum {sum}");
            assert!(w.weights.values().all(|x| *x >= 0.0));
        }
        let none = weigh(&[], 5, &WeighConfig::default(), &WeighState::default()).expect("weigh");
        assert!(none.weights.is_empty());
        let orphan = vec![entry("x", 1, vec![0.5])];
        let mut cfg = WeighConfig::default();
        cfg.shares.clear();
        let w = weigh(&orphan, 5, &cfg, &WeighState::default()).expect("weigh");
        assert_eq!(w.weights["x"], 0.0);
    }

    #[test]
    fn a_later_copy_never_out_earns_the_original() {
        let mut rng = SeedStream::from_u64(2);
        for case in 0..CASES {
            let mut entries = field(&mut rng);
            let original = entries[rng.below(entries.len())].clone();
            let mut copy = original.clone();
            copy.key = "copy".into();
            copy.commit_block = original.commit_block + 1 + rng.below(60_000) as u64;
            entries.push(copy);
            let cfg = config(&mut rng);
            // Even a copy that had earned more in earlier rounds (under another model) is capped.
            let state = random_state(&mut rng, &entries);
            let w = weigh(&entries, 200_000, &cfg, &state).expect("weigh");
            assert!(
                w.weights["copy"] <= w.weights[&original.key],
                "case {case}: copy {} > original {}",
                w.weights["copy"],
                w.weights[&original.key]
            );
        }
    }

    #[test]
    fn equal_scores_at_equal_blocks_share_equally() {
        let mut rng = SeedStream::from_u64(3);
        for case in 0..CASES {
            let n = 1 + rng.below(8);
            let len = 1 + rng.below(10);
            let samples: Vec<f64> = (0..len).map(|_| rng.unit()).collect();
            let block = rng.below(100_000) as u64;
            let entries: Vec<Entry> = (0..n)
                .map(|i| entry(&format!("k{i}"), block, samples.clone()))
                .collect();
            let w = weigh(&entries, 150_000, &config(&mut rng), &WeighState::default()).expect("weigh");
            for x in w.weights.values() {
                assert!((x - 1.0 / n as f64).abs() < 1e-12, "case {case}: {x}");
            }
        }
    }

    #[test]
    fn a_strictly_better_model_gets_the_most_weight() {
        let mut rng = SeedStream::from_u64(4);
        let start = WeighConfig::default().epsilon.start;
        for case in 0..CASES {
            let mut entries = field(&mut rng);
            for e in &mut entries {
                e.competition = "small".into();
            }
            let len = entries.iter().map(|e| e.samples.len()).max().unwrap_or(1);
            let best: Vec<f64> = (0..len)
                .map(|k| {
                    let top = entries
                        .iter()
                        .filter_map(|e| e.samples.get(k))
                        .copied()
                        .fold(0.0, f64::max);
                    top * (1.0 + start) + 0.001 + 0.01 * rng.unit()
                })
                .collect();
            let mut champion = entry("champion", rng.below(200_000) as u64, best);
            let top_total = entries.iter().map(|e| e.total).fold(0.0, f64::max);
            champion.total = champion.total.max(top_total * (1.0 + start) + 0.001);
            entries.push(champion);
            let w = weigh(&entries, 200_000, &WeighConfig::default(), &WeighState::default()).expect("weigh");
            let champ = w.weights["champion"];
            assert_eq!(w.win_rates["champion"], 1.0, "case {case}");
            assert!(
                w.weights.iter().all(|(k, x)| k == "champion" || *x < champ),
                "case {case}: {:?}",
                w.weights
            );
        }
    }

    #[test]
    fn order_of_entries_does_not_matter_and_epsilon_protects_the_incumbent() {
        let a = entry("a", 100, vec![0.50, 0.50]);
        let b = entry("b", 200, vec![0.501, 0.501]);
        let cfg = WeighConfig::default();
        let w1 = weigh(&[a.clone(), b.clone()], 300, &cfg, &WeighState::default()).expect("weigh");
        let w2 = weigh(&[b.clone(), a.clone()], 300, &cfg, &WeighState::default()).expect("weigh");
        assert_eq!(w1, w2);
        assert!(
            w1.weights["a"] > 0.99,
            "a 0.2% gain does not beat a fresh 0.5% margin"
        );
        // A week later the margin has decayed to 0.01% and the same gain wins.
        let w3 = weigh(&[a, b], 100 + 60_000, &cfg, &WeighState::default()).expect("weigh");
        assert!(w3.weights["b"] > 0.99);
    }

    #[test]
    fn the_moving_average_damps_a_new_leader() {
        let a = entry("a", 100, vec![0.5]);
        let b = entry("b", 90_000, vec![0.9]);
        let cfg = WeighConfig::default();
        let state = WeighState {
            ema: BTreeMap::from([("a".to_string(), 1.0)]),
        };
        let w = weigh(&[a, b], 100_000, &cfg, &state).expect("weigh");
        assert!((w.weights["b"] - 0.5).abs() < 1e-3, "{:?}", w.weights);
        let w = weigh(
            &[entry("a", 100, vec![0.5]), entry("b", 90_000, vec![0.9])],
            100_001,
            &cfg,
            &w.state,
        )
        .expect("weigh");
        assert!((w.weights["b"] - 0.75).abs() < 1e-3, "{:?}", w.weights);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let cfg = WeighConfig::default();
        let s = WeighState::default();
        let dup = [entry("a", 1, vec![0.1]), entry("a", 2, vec![0.2])];
        assert_eq!(
            weigh(&dup, 3, &cfg, &s),
            Err(WeighError::DuplicateKey("a".into()))
        );
        let nan = [entry("a", 1, vec![f64::NAN])];
        assert!(matches!(weigh(&nan, 3, &cfg, &s), Err(WeighError::NonFinite(_))));
        let hot = WeighConfig {
            temperature: 0.0,
            ..cfg
        };
        assert!(matches!(weigh(&[], 3, &hot, &s), Err(WeighError::Config(_))));
    }

    #[test]
    fn epsilon_decays_linearly() {
        let e = WeighConfig::default().epsilon;
        assert_eq!(e.at(0), 0.005);
        assert!((e.at(25_200) - 0.00255).abs() < 1e-12);
        assert_eq!(e.at(50_400), 0.0001);
        assert_eq!(e.at(u64::MAX), 0.0001);
    }
}
