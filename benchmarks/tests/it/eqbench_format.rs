//! Format conformance against the public EQ-Bench v2 questions in `../shared/eqbench`
//! (read from `$KINDRED_SHARED`; missing data fails the test, it never skips).

use kindred_benchmarks::shared_dir;
use kindred_scoring::eq;

fn read(name: &str) -> String {
    let path = shared_dir().join("eqbench").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is required (set KINDRED_SHARED): {e}", path.display()))
}

#[test]
fn every_english_eqbench_v2_question_parses_into_an_item() {
    let items = eq::parse_eqbench(&read("eq_bench_v2_questions_171.json")).expect("all 171 parse");
    assert_eq!(items.len(), 171);
    // Spot facts of the public file: question 1 asks about Robert, reference 0/6/0/7.
    let first = &items[0];
    assert_eq!(first.id, "1");
    assert_eq!(first.subject, "Robert");
    assert_eq!(
        first.emotions,
        ["Remorseful", "Indifferent", "Affectionate", "Annoyed"]
    );
    assert_eq!(first.reference, [0.0, 6.0, 0.0, 7.0]);
    assert!(first.dialogue.starts_with("Robert: Claudia"));
    assert!(items.iter().all(|i| i.characters.contains(&i.subject)));
}

#[test]
fn perturbed_eqbench_items_stay_consistent() {
    let items = eq::parse_eqbench(&read("eq_bench_v2_questions_171.json")).expect("parse");
    let epoch = eq::epoch_items(&items, b"\x01\x02block", 40);
    assert_eq!(epoch.len(), 40);
    for (p, id) in epoch.iter().map(|p| (p, &p.id)) {
        let original = items.iter().find(|i| &i.id == id).expect("from the bank");
        assert!(!p.dialogue.contains(&format!("{}:", original.subject)) || original.characters.len() > 48);
        let mut a: Vec<(String, u32)> = p
            .emotions
            .iter()
            .cloned()
            .zip(p.reference.map(|r| r as u32))
            .collect();
        let mut b: Vec<(String, u32)> = original
            .emotions
            .iter()
            .cloned()
            .zip(original.reference.map(|r| r as u32))
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{id}");
    }
}
