//! The Synthetic-Persona-Chat sample in `$KINDRED_SHARED/datasets` loads as held-out dialogues
//! (missing data fails the test, it never skips).

use kindred_benchmarks::shared_dir;
use kindred_scoring::suites;

#[test]
fn shared_persona_chat_sample_loads() {
    let path = shared_dir().join("datasets/Synthetic-Persona-Chat_test.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is required (set KINDRED_SHARED): {e}", path.display()));
    let (dialogues, skipped) = suites::persona_chat(&text).expect("parses");
    // 968 rows, a few of them empty or too short to score.
    assert_eq!(dialogues.len() + skipped, 968);
    assert!(dialogues.len() > 900, "{} usable", dialogues.len());
    let units: usize = dialogues
        .iter()
        .map(|d| kindred_scoring::dialogue::units(d).len())
        .sum();
    assert!(units > 5_000, "{units} scored replies");
    assert!(dialogues.iter().all(|d| !d.turns[0].text.is_empty()));
}
