//! The EQ part must not pay answers that ignore the dialogue. Pure arithmetic over the bundled
//! bank: every item under every one of the 24 emotion orders an epoch's shuffle can produce.

use kindred_scoring::eq::EqItem;
use kindred_scoring::suites;
use kindred_scoring::{ScoringSpec, eqbench};

fn every_order(item: &EqItem) -> Vec<EqItem> {
    (0..256usize)
        .map(|n| [n % 4, n / 4 % 4, n / 16 % 4, n / 64])
        .filter(|o| (0..4).all(|i| o.contains(&i)))
        .map(|order| {
            let mut shuffled = item.clone();
            shuffled.emotions = order.map(|i| item.emotions[i].clone());
            shuffled.reference = order.map(|i| item.reference[i]);
            shuffled
        })
        .collect()
}

#[test]
fn fixed_answers_earn_nothing_under_the_current_spec() {
    let bank = suites::eq_bank().expect("bank");
    let items: Vec<EqItem> = bank.iter().flat_map(every_order).collect();
    assert_eq!(items.len(), bank.len() * 24);
    let spec = ScoringSpec::current();
    // A hedge, SmolLM2-135M's habit on this bank (rising by position), and a few others.
    let patterns: [[f32; 4]; 6] = [
        [5.0; 4],
        [3.1, 7.2, 5.6, 8.3],
        [0.0, 10.0, 0.0, 10.0],
        [2.0, 4.0, 6.0, 8.0],
        [0.0, 5.0, 5.0, 7.0],
        [1.0, 6.0, 4.0, 3.0],
    ];
    for pattern in patterns {
        let samples: Vec<f64> = items
            .iter()
            .map(|i| spec.eq_item_score(i, eqbench::intensity_score(i, &pattern)))
            .collect();
        // Flooring each item instead of the mean would have paid the non-constant patterns:
        // they line up with the reference under some orders and are never charged otherwise.
        let floored: f64 =
            samples.iter().map(|s| (2.0 * s - 1.0).max(0.0)).sum::<f64>() / samples.len() as f64;
        let part = spec.eq_part(&samples);
        eprintln!(
            "{pattern:?}: EQ part {part:.2}, per-item floored {:.2}",
            100.0 * floored
        );
        assert_eq!(part, 0.0, "{pattern:?}");
    }
    // The reference itself earns the whole part, so the scale is not simply always 0.
    let exact: Vec<f64> = items
        .iter()
        .map(|i| spec.eq_item_score(i, eqbench::intensity_score(i, &i.reference)))
        .collect();
    assert_eq!(spec.eq_part(&exact), 100.0);
}
