//! The scoring spec: every number an evaluation depends on besides the model and the epoch seed,
//! in one versioned value.
//!
//! Validators must agree on it bit for bit, so any change to a field (or to the meaning of one,
//! such as the guard's fixed prompts) bumps [`ScoringSpec::version`]; that version is what
//! validators send as the weights' `version_key`.

use serde::{Deserialize, Serialize};

/// Settings of the degeneration guard (see [`crate::guard`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardSpec {
    /// How many of the guard's fixed prompts are asked (at most [`crate::guard::PROMPTS`]'s
    /// length; 0 switches the guard off, which only tests should do).
    pub prompts: usize,
    /// Greedy tokens allowed per reply; a reply that reaches this without an end token ran away.
    pub max_new_tokens: usize,
    /// Token n-gram size for the looping check.
    pub ngram: usize,
    /// A reply whose share of distinct n-grams falls below this is looping.
    pub min_distinct_ratio: f64,
    /// Whether a runaway reply fails the gate (the prompts ask for one or two sentences, so a
    /// chat model that never stops is broken).
    pub fail_runaway: bool,
}

/// How EQ items are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EqMode {
    /// Expected intensities from the next-token distribution after each `Emotion: ` line (see
    /// [`crate::eq::answer_by_logits`]): no sampling, no parsing. The competitive default.
    #[default]
    Logits,
    /// A greedy reply under the competition's chat template, parsed with the EQ-Bench v2 parser; an
    /// answer that does not parse scores 0 for the item, so dodging hard items does not pay.
    Generate {
        /// Greedy tokens allowed for the four `Emotion: score` lines.
        max_new_tokens: usize,
    },
}

/// How an item's EQ-Bench v2 score (10 best) is mapped to 0..1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EqScale {
    /// `score / 10`, clamped at 0 (spec version 1). It paid hedging: a model with no opinion
    /// answers about 5 to every emotion, which the v2 formula rewards with roughly half marks,
    /// and random tiny models out-scored SmolLM2-135M-Instruct this way.
    #[default]
    Absolute,
    /// Skill over the best constant answer: with `b` the v2 score of the best answer that gives
    /// all four emotions the same intensity, an item's skill is `(score − b) / (10 − b)` within
    /// −1..=1 (its sample is `(1 + skill) / 2`), and the EQ part is the mean skill floored at
    /// 0. A model that does not tell the four emotions apart better than a constant earns
    /// nothing, however cleverly it hedges.
    OverConstant,
}

/// One versioned scoring spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringSpec {
    /// Sent as the weights' `version_key`; bumped on any change.
    pub version: u64,
    /// EQ bank version the spec was written for (`Suites::eq_version` must match).
    pub eq_suite: String,
    /// Dialogue set version (`Suites::dialogue_version` must match).
    pub dialogue_suite: String,
    /// EQ items drawn per epoch.
    pub eq_items: usize,
    /// How EQ items are answered. Absent in older spec files, which all meant `logits`.
    #[serde(default)]
    pub eq_mode: EqMode,
    /// How an EQ answer's v2 score becomes the item's 0..1 score. Absent in spec files written
    /// before version 2, which all meant `absolute`.
    #[serde(default)]
    pub eq_scale: EqScale,
    /// Dialogue units (one scored reply from each drawn dialogue) per epoch.
    pub dialogue_units: usize,
    /// Weight of the EQ part in the total (normalised with `dialogue_weight`).
    pub eq_weight: f64,
    /// Weight of the dialogue part in the total.
    pub dialogue_weight: f64,
    /// Dialogue units per forward batch. Batch composition changes padding and so the last bits
    /// of the sums, which is why it belongs to the spec.
    pub batch_size: usize,
    pub guard: GuardSpec,
}

impl ScoringSpec {
    /// The competitive spec. Sample sizes are chosen so a 135M model is evaluated in well
    /// under three minutes on two CPU cores.
    ///
    /// Spec 3 has spec 2's numbers; what changed is who renders prompts: the validator, with the
    /// competition's own chat template, never the package's (a miner's template could print the
    /// answers into the prompt). Its version changes because the same model can score
    /// differently under it.
    pub fn current() -> Self {
        Self {
            version: 3,
            ..Self::v2()
        }
    }

    /// EQ scored as skill over the best constant answer. Evaluations recorded under it rendered
    /// prompts with the package's template, which this build no longer runs: a replay here
    /// reproduces them only where the two templates render alike.
    pub fn v2() -> Self {
        Self {
            version: 2,
            eq_scale: EqScale::OverConstant,
            ..Self::v1()
        }
    }

    /// The first competitive spec: EQ answers scored on the absolute scale, which paid hedging.
    /// Kept so evaluations recorded under it can still be replayed.
    pub fn v1() -> Self {
        Self {
            version: 1,
            eq_suite: crate::suites::EQ_BANK_VERSION.into(),
            dialogue_suite: crate::suites::DIALOGUE_VERSION.into(),
            eq_items: 32,
            eq_mode: EqMode::Logits,
            eq_scale: EqScale::Absolute,
            dialogue_units: 48,
            eq_weight: 0.5,
            dialogue_weight: 0.5,
            batch_size: 8,
            guard: GuardSpec {
                prompts: 3,
                max_new_tokens: 64,
                ngram: 4,
                min_distinct_ratio: 0.5,
                fail_runaway: true,
            },
        }
    }

    /// Tiny sample sizes for tests and the demo: fast, but far too few samples to rank real
    /// models. Not competitive; its version is offset so it can never be mistaken for
    /// [`Self::current`].
    pub fn quick() -> Self {
        let current = Self::current();
        Self {
            version: 1_000_000 + current.version,
            eq_items: 3,
            dialogue_units: 3,
            guard: GuardSpec {
                prompts: 1,
                max_new_tokens: 16,
                ..current.guard.clone()
            },
            ..current
        }
    }

    /// The quick samples without the degeneration guard and with more dialogue units: for
    /// demos and pipeline tests with tiny models trained for seconds, which repeat themselves
    /// and would all fail the guard, and whose order shows in the dialogue part (they have no
    /// EQ skill to measure, so EQ samples only add noise to pairwise wins). Its own version, so
    /// a stored evaluation says which of these produced it.
    pub fn demo() -> Self {
        let quick = Self::quick();
        Self {
            version: 2_000_000 + Self::current().version,
            dialogue_units: 12,
            guard: GuardSpec {
                prompts: 0,
                ..quick.guard.clone()
            },
            ..quick
        }
    }

    /// Every spec this build knows, to redo an evaluation recorded under any of them.
    pub fn by_version(version: u64) -> Option<Self> {
        [
            Self::current(),
            Self::quick(),
            Self::demo(),
            Self::v2(),
            Self::v1(),
        ]
        .into_iter()
        .find(|s| s.version == version)
    }

    /// A dialogue bits-per-byte figure as a 0..1 score, higher better: `2^(−bpb)`, the geometric
    /// mean probability the model gives each byte of the reference replies. Monotone
    /// decreasing, 1 at a perfect model, 0.5 at one bit per byte, never negative and with no
    /// cut-off constant to tune.
    pub fn bpb_score(bpb: f64) -> f64 {
        (-bpb.max(0.0)).exp2()
    }

    /// An EQ-Bench per-question score (10 best, unbounded below) as the item's 0..1 sample
    /// under this spec's [`EqScale`], the figure pairwise comparisons use. One absurd answer
    /// costs at most that item.
    pub fn eq_item_score(&self, item: &crate::eq::EqItem, question_score: f64) -> f64 {
        match self.eq_scale {
            EqScale::Absolute => (question_score / 10.0).clamp(0.0, 1.0),
            EqScale::OverConstant => (1.0 + Self::skill(item, question_score)) / 2.0,
        }
    }

    /// The score of a generated answer (the generate mode), 0..1: the EQ-Bench v2 per-question
    /// score mapped by [`Self::eq_item_score`], and 0 when the answer does not parse (where the
    /// reference would merely drop the item from its average).
    pub fn generated_answer_score(&self, item: &crate::eq::EqItem, text: &str) -> f64 {
        crate::eqbench::score_answer(item, text, false)
            .score
            .map_or(0.0, |s| self.eq_item_score(item, s))
    }

    /// Skill over the best constant answer, −1..=1 (see [`EqScale::OverConstant`]).
    fn skill(item: &crate::eq::EqItem, question_score: f64) -> f64 {
        let baseline = crate::eqbench::constant_baseline(item);
        // A constant reference leaves no room above the baseline (the bank refuses such
        // items); there only the exact answer shows skill.
        if 10.0 - baseline < 1e-9 {
            return if question_score >= 10.0 - 1e-9 { 1.0 } else { -1.0 };
        }
        ((question_score - baseline) / (10.0 - baseline)).clamp(-1.0, 1.0)
    }

    /// The EQ part, 0..=100, from the items' samples ([`Self::eq_item_score`]).
    ///
    /// Under [`EqScale::OverConstant`] the signed skill is averaged before the floor at 0. Were
    /// each item floored instead, a model answering one fixed non-constant pattern would be
    /// paid whenever the epoch's emotion shuffle happens to line the pattern up with the
    /// reference and never charged when it does not: over the bundled bank, under every
    /// emotion order, such patterns earn 2–14% per-item-floored but average −0.35 to −0.87.
    pub fn eq_part(&self, samples: &[f64]) -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        match self.eq_scale {
            EqScale::Absolute => 100.0 * mean,
            EqScale::OverConstant => 100.0 * (2.0 * mean - 1.0).clamp(0.0, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq_item() -> crate::eq::EqItem {
        crate::eq::example_item()
    }

    #[test]
    fn generated_answers_that_do_not_parse_score_zero() {
        for spec in [ScoringSpec::v1(), ScoringSpec::current()] {
            let score = |text| spec.generated_answer_score(&eq_item(), text);
            assert_eq!(
                score("Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 7"),
                1.0
            );
            let off = score("Remorseful: 0\nIndifferent: 6\nAffectionate: 0\nAnnoyed: 9");
            assert!(off > 0.5 && off < 1.0, "{off}");
            assert_eq!(score("I would rather not say."), 0.0);
            let wrong = score("Remorseful: 10\nIndifferent: 0\nAffectionate: 10\nAnnoyed: 0");
            assert_eq!(wrong, 0.0, "very wrong clamps at 0");
        }
        let hedge = "Remorseful: 3\nIndifferent: 3\nAffectionate: 3\nAnnoyed: 3";
        let part = |spec: ScoringSpec| spec.eq_part(&[spec.generated_answer_score(&eq_item(), hedge)]);
        assert!(part(ScoringSpec::v1()) > 20.0);
        assert_eq!(part(ScoringSpec::current()), 0.0);
    }

    #[test]
    fn every_known_spec_is_found_by_its_own_version() {
        let specs = [ScoringSpec::current(), ScoringSpec::quick(), ScoringSpec::demo()];
        for s in &specs {
            assert_eq!(ScoringSpec::by_version(s.version).as_ref(), Some(s));
        }
        assert_ne!(
            specs[1].version, specs[2].version,
            "quick and demo differ in the guard"
        );
        assert_eq!(ScoringSpec::demo().guard.prompts, 0);
        assert_eq!(ScoringSpec::by_version(7), None);
    }

    #[test]
    fn round_trips_through_json_and_quick_is_distinct() {
        let s = ScoringSpec::current();
        let back: ScoringSpec = serde_json::from_str(&serde_json::to_string(&s).expect("ser")).expect("de");
        assert_eq!(back, s);
        assert_ne!(ScoringSpec::quick().version, s.version);
        let generate = ScoringSpec {
            eq_mode: EqMode::Generate { max_new_tokens: 48 },
            ..s.clone()
        };
        let json = serde_json::to_value(&generate).expect("ser");
        assert_eq!(json["eq_mode"]["generate"]["max_new_tokens"], 48);
        let back: ScoringSpec = serde_json::from_value(json).expect("de");
        assert_eq!(back, generate);
        let mut old = serde_json::to_value(&s).expect("ser");
        old.as_object_mut().expect("object").remove("eq_mode");
        let back: ScoringSpec = serde_json::from_value(old).expect("a spec without eq_mode");
        assert_eq!(back.eq_mode, EqMode::Logits);
    }

    #[test]
    fn score_mappings_are_monotone_and_bounded() {
        let mut last = f64::INFINITY;
        for i in 0..200 {
            let s = ScoringSpec::bpb_score(i as f64 * 0.05);
            assert!(s <= last && (0.0..=1.0).contains(&s));
            last = s;
        }
        assert_eq!(ScoringSpec::bpb_score(1.0), 0.5);
        let item = item([0.0, 6.0, 0.0, 7.0]);
        for spec in [ScoringSpec::v1(), ScoringSpec::current()] {
            assert_eq!(spec.eq_part(&[spec.eq_item_score(&item, -15.0)]), 0.0);
            assert_eq!(spec.eq_item_score(&item, 10.0), 1.0);
            assert_eq!(spec.eq_part(&[1.0, 1.0]), 100.0);
            let mut last = -1.0;
            for q in -40..=20 {
                let s = spec.eq_item_score(&item, q as f64 * 0.5);
                assert!(s >= last && (0.0..=1.0).contains(&s), "{spec:?} at {q}");
                last = s;
            }
        }
    }

    fn item(reference: [f32; 4]) -> crate::eq::EqItem {
        crate::eq::EqItem {
            id: "t".into(),
            characters: vec!["Ana".into()],
            subject: "Ana".into(),
            dialogue: "Ana: fine.".into(),
            emotions: ["Relieved", "Hurt", "Proud", "Wary"].map(String::from),
            reference,
        }
    }

    #[test]
    fn hedging_pays_under_v1_and_nothing_under_the_current_scale() {
        use crate::eqbench::intensity_score;
        let (v1, now) = (ScoringSpec::v1(), ScoringSpec::current());
        for reference in [
            [0.0, 6.0, 0.0, 7.0],
            [2.0, 9.0, 1.0, 4.0],
            [5.0, 5.0, 6.0, 4.0],
            [10.0, 0.0, 3.0, 8.0],
        ] {
            let item = item(reference);
            let hedge = intensity_score(&item, &[5.0; 4]);
            assert!(
                v1.eq_part(&[v1.eq_item_score(&item, hedge)]) > 10.0,
                "{reference:?}"
            );
            // No constant answer, in whole or fractional steps, earns anything now...
            for c in 0..=100 {
                let s = now.eq_item_score(&item, intensity_score(&item, &[c as f32 / 10.0; 4]));
                assert_eq!(now.eq_part(&[s]), 0.0, "{reference:?} at {c}");
            }
            // ...while the reference answer earns everything and one step off it earns part.
            let exact = now.eq_item_score(&item, intensity_score(&item, &reference));
            assert_eq!(now.eq_part(&[exact]), 100.0);
            let mut near = reference;
            near[0] = (near[0] - 1.0).abs();
            let part = now.eq_part(&[now.eq_item_score(&item, intensity_score(&item, &near))]);
            assert!(part > 0.0 && part < 100.0, "{reference:?}: {part}");
            // A wrong answer on one item is charged against a right one on another.
            let wrong = now.eq_item_score(&item, intensity_score(&item, &reference.map(|r| 10.0 - r)));
            assert!(now.eq_part(&[exact, wrong]) < 50.0, "{reference:?}");
        }
    }
}
