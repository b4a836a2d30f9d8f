//! Kindred's versioned suites, bundled into the binary so everything runs offline, beside the
//! spec that names them (their version strings are defined here once and read by the spec).
//!
//! - `suites/eq/kindred-eq-v1.jsonl`: 124 original EQ items (the competitive EQ bank).
//! - `suites/dialogue/kindred-dialogue-v1.jsonl`: 64 original roleplay dialogues (the default
//!   held-out dialogue set).
//! - [`persona_chat`]: the Synthetic-Persona-Chat CSV layout, for fine-tuning data and tests.

use crate::dialogue::{Dialogue, Speaker, Turn};
use crate::eq::{self, EqError, EqItem};

pub const EQ_BANK_VERSION: &str = "kindred-eq-v1";
const EQ_BANK: &str = include_str!("../suites/eq/kindred-eq-v1.jsonl");

pub const DIALOGUE_VERSION: &str = "kindred-dialogue-v1";
const DIALOGUES: &str = include_str!("../suites/dialogue/kindred-dialogue-v1.jsonl");

/// Kindred's own EQ bank.
pub fn eq_bank() -> Result<Vec<EqItem>, EqError> {
    eq::parse_bank(EQ_BANK)
}

/// Why a Synthetic-Persona-Chat file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PersonaChatError {
    #[error("row {row}: {source}")]
    Csv { row: usize, source: csv::Error },
    #[error("the header is not `user 1 personas,user 2 personas,Best Generated Conversation`")]
    Header,
}

/// Reads the Synthetic-Persona-Chat CSV layout (`user 1 personas`, `user 2 personas`,
/// `Best Generated Conversation` with `User 1: …`/`User 2: …` lines). User 2 is the character
/// (its persona becomes the system text), User 1 the partner. Rows without a usable
/// conversation are skipped and counted.
pub fn persona_chat(text: &str) -> Result<(Vec<Dialogue>, usize), PersonaChatError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|source| PersonaChatError::Csv { row: 0, source })?
        .clone();
    if headers.len() != 3 || !headers[2].contains("Conversation") {
        return Err(PersonaChatError::Header);
    }
    let (mut out, mut skipped) = (Vec::new(), 0);
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|source| PersonaChatError::Csv { row: row + 1, source })?;
        let persona: Vec<&str> = record[1]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let mut turns: Vec<Turn> = Vec::new();
        for line in record[2].lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (speaker, said) = if let Some(rest) = line.strip_prefix("User 1:") {
                (Speaker::Partner, rest)
            } else if let Some(rest) = line.strip_prefix("User 2:") {
                (Speaker::Character, rest)
            } else if let Some(last) = turns.last_mut() {
                // A wrapped line continues the previous turn.
                last.text.push(' ');
                last.text.push_str(line);
                continue;
            } else {
                continue;
            };
            match turns.last_mut() {
                // Consecutive lines of one speaker are one turn.
                Some(last) if last.speaker == speaker => {
                    last.text.push(' ');
                    last.text.push_str(said.trim());
                }
                _ => turns.push(Turn {
                    speaker,
                    text: said.trim().to_string(),
                }),
            }
        }
        if persona.is_empty() || !turns.iter().skip(1).any(|t| t.speaker == Speaker::Character) {
            skipped += 1;
            continue;
        }
        out.push(Dialogue {
            id: format!("spc-{row}"),
            character: "User 2".into(),
            partner: "User 1".into(),
            persona: format!("You are User 2. About you:\n{}", persona.join("\n")),
            turns,
        });
    }
    Ok((out, skipped))
}

/// The suites an evaluation draws from, with the versions the spec must name.
#[derive(Debug, Clone)]
pub struct Suites {
    pub eq: Vec<EqItem>,
    pub eq_version: String,
    pub dialogues: Vec<Dialogue>,
    pub dialogue_version: String,
}

/// Why the bundled suites could not be read (a broken build, never a miner's fault).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("bundled EQ bank: {0}")]
    Eq(#[from] EqError),
    #[error("bundled dialogues: {0}")]
    Dialogues(#[from] serde_json::Error),
}

/// The bundled suites, at the versions `ScoringSpec::current` names.
pub fn bundled() -> Result<Suites, SuiteError> {
    Ok(Suites {
        eq: eq_bank()?,
        eq_version: EQ_BANK_VERSION.into(),
        dialogues: dialogues()?,
        dialogue_version: DIALOGUE_VERSION.into(),
    })
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
    fn the_current_scoring_spec_names_these_suites() {
        let spec = crate::ScoringSpec::current();
        assert_eq!(spec.eq_suite, EQ_BANK_VERSION);
        assert_eq!(spec.dialogue_suite, DIALOGUE_VERSION);
        assert!(spec.eq_items <= eq_bank().expect("bank").len());
        assert!(spec.dialogue_units <= dialogues().expect("dialogues").len());
    }

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
    fn persona_chat_layout_is_read() {
        let csv = "user 1 personas,user 2 personas,Best Generated Conversation\n\"I like tea.\",\"I have a cat.\nI sing.\",\"User 1: Hi!\nUser 2: Hello, my cat says hi.\nUser 1: Nice.\nUser 2: She sings too.\"\n,,\n";
        let (ds, skipped) = persona_chat(csv).expect("parses");
        assert_eq!((ds.len(), skipped), (1, 1));
        assert_eq!(ds[0].turns.len(), 4);
        assert!(ds[0].persona.contains("I sing."));
        assert_eq!(crate::dialogue::units(&ds[0]).len(), 2);
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
