//! Kindred's versioned suites, bundled into the binary so everything runs offline.
//!
//! - `suites/eq/kindred-eq-v1.jsonl`: 124 original EQ items (the competitive EQ bank).
//! - `suites/dialogue/kindred-dialogue-v1.jsonl`: 64 original roleplay dialogues (the default
//!   held-out dialogue set).

use kindred_scoring::eq::{self, EqError, EqItem};
use serde::Deserialize;

pub const EQ_BANK_VERSION: &str = "kindred-eq-v1";
const EQ_BANK: &str = include_str!("../suites/eq/kindred-eq-v1.jsonl");

pub const DIALOGUE_VERSION: &str = "kindred-dialogue-v1";
const DIALOGUES: &str = include_str!("../suites/dialogue/kindred-dialogue-v1.jsonl");

/// Kindred's own EQ bank.
pub fn eq_bank() -> Result<Vec<EqItem>, EqError> {
    eq::parse_bank(EQ_BANK)
}

/// Who speaks a turn of a roleplay dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The user's character.
    Partner,
    /// The persona the model plays; its turns are what gets scored.
    Character,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// A persona card and a conversation; the character's replies are scored.
#[derive(Debug, Clone, Deserialize)]
pub struct Dialogue {
    pub id: String,
    pub character: String,
    pub partner: String,
    pub persona: String,
    pub turns: Vec<Turn>,
}

/// The bundled default dialogue set.
pub fn dialogues() -> Result<Vec<Dialogue>, serde_json::Error> {
    DIALOGUES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_eq_bank_is_valid_and_original_in_size() {
        let bank = eq_bank().expect("bank parses and every item passes the checks");
        assert!(bank.len() >= 120, "{}", bank.len());
        let mut ids: Vec<&str> = bank.iter().map(|i| i.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), bank.len(), "ids are unique");
        for item in &bank {
            for line in item.dialogue.lines() {
                let speaker = line.split_once(": ").map(|(s, _)| s).unwrap_or_default();
                assert!(
                    item.characters.iter().any(|c| c == speaker),
                    "{}: line {line:?}",
                    item.id
                );
            }
        }
    }

    #[test]
    fn bundled_dialogues_alternate_and_score_the_character() {
        let ds = dialogues().expect("parses");
        assert!(ds.len() >= 60);
        for d in &ds {
            assert_eq!(d.turns[0].speaker, Speaker::Partner, "{}", d.id);
            assert!(
                d.turns.windows(2).all(|w| w[0].speaker != w[1].speaker),
                "{} alternates",
                d.id
            );
            assert!(d.turns.iter().filter(|t| t.speaker == Speaker::Character).count() >= 4);
            assert!(d.persona.contains(&d.character));
        }
    }
}
