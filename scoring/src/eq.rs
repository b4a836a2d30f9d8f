//! The EQ-style benchmark's items: a dialogue, the character whose feelings are asked, four
//! emotions and reference intensities 0–10 (the EQ-Bench v2 question format).
//!
//! Items come from Kindred's own bank (JSONL, structured) or from files in EQ-Bench v2's JSON
//! layout (the prompt text is parsed back into its parts). Each epoch, a seed picks a subset and
//! perturbs it (characters renamed from a pool, emotion order shuffled) so memorising the public
//! wording does not pay.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::seed::SeedStream;

/// One question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EqItem {
    pub id: String,
    /// Speakers (and other named people) whose names may be swapped per epoch.
    pub characters: Vec<String>,
    /// The character whose feelings are asked.
    pub subject: String,
    /// `Name: line` lines.
    pub dialogue: String,
    pub emotions: [String; 4],
    /// Reference intensities 0–10, one per emotion in the same order.
    pub reference: [f32; 4],
}

#[derive(Debug, thiserror::Error)]
pub enum EqError {
    #[error("line {line}: {source}")]
    Json { line: usize, source: serde_json::Error },
    #[error("the file is not an EQ-Bench question object: {0}")]
    Layout(#[source] serde_json::Error),
    #[error("question {id}: {problem}")]
    Item { id: String, problem: &'static str },
}

#[derive(Deserialize)]
struct BankLine {
    id: String,
    characters: Vec<String>,
    subject: String,
    dialogue: String,
    emotions: [String; 4],
    reference: [u8; 4],
}

fn check(item: EqItem) -> Result<EqItem, EqError> {
    let bad = |problem| {
        Err(EqError::Item {
            id: item.id.clone(),
            problem,
        })
    };
    if !item.characters.contains(&item.subject) {
        return bad("the subject is not one of the characters");
    }
    if item.reference.iter().any(|r| !(0.0..=10.0).contains(r)) {
        return bad("reference intensities must be within 0..=10");
    }
    if item.reference.iter().all(|r| *r == 0.0) {
        return bad("at least one reference intensity must be above 0");
    }
    let mut names: Vec<String> = item.emotions.iter().map(|e| e.to_lowercase()).collect();
    names.sort();
    names.dedup();
    if names.len() != 4 || item.emotions.iter().any(|e| e.trim().is_empty()) {
        return bad("the four emotions must be distinct and non-empty");
    }
    if item.dialogue.trim().is_empty() {
        return bad("empty dialogue");
    }
    Ok(item)
}

/// Parses Kindred's JSONL bank.
pub fn parse_bank(text: &str) -> Result<Vec<EqItem>, EqError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let b: BankLine =
                serde_json::from_str(l).map_err(|source| EqError::Json { line: i + 1, source })?;
            check(EqItem {
                id: b.id,
                characters: b.characters,
                subject: b.subject,
                dialogue: b.dialogue,
                emotions: b.emotions,
                reference: b.reference.map(f32::from),
            })
        })
        .collect()
}

/// A score field of EQ-Bench's reference answers: an integer or a string holding one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LooseNumber {
    Int(i64),
    Float(f64),
    Text(String),
}

impl LooseNumber {
    pub fn value(&self) -> Option<f32> {
        match self {
            Self::Int(i) => Some(*i as f32),
            Self::Float(f) => Some(*f as f32),
            Self::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// One entry of an EQ-Bench v2 question file.
#[derive(Debug, Clone, Deserialize)]
pub struct EqBenchQuestion {
    pub prompt: String,
    pub reference_answer_fullscale: BTreeMap<String, serde_json::Value>,
}

const DIALOGUE_START: &str = "in this dialogue:";
const DIALOGUE_END: &str = "[End dialogue]";
const SUBJECT_START: &str = "At the end of this dialogue, ";
const SUBJECT_END: &str = " would feel...";

/// Recovers the structured item from an EQ-Bench v2 prompt and its fullscale reference.
pub fn from_eqbench(id: &str, q: &EqBenchQuestion) -> Result<EqItem, EqError> {
    let bad = |problem| EqError::Item {
        id: id.to_string(),
        problem,
    };
    let p = &q.prompt;
    let d0 = p
        .find(DIALOGUE_START)
        .ok_or_else(|| bad("no dialogue introduction"))?
        + DIALOGUE_START.len();
    let d1 = p[d0..]
        .find(DIALOGUE_END)
        .ok_or_else(|| bad("no [End dialogue] marker"))?
        + d0;
    let dialogue = p[d0..d1].trim().to_string();
    let s0 = p[d1..]
        .find(SUBJECT_START)
        .ok_or_else(|| bad("no 'At the end of this dialogue'"))?
        + d1
        + SUBJECT_START.len();
    let line_end = p[s0..].find('\n').map_or(p.len(), |i| i + s0);
    let line = &p[s0..line_end];
    // Usually "X would feel...", once "X's emotional state could be best described as...".
    let subject = line
        .find(SUBJECT_END)
        .or_else(|| line.find("'s "))
        .map(|i| line[..i].trim().to_string())
        .ok_or_else(|| bad("no subject before 'would feel...'"))?;
    let mut lines = p[line_end..].lines().map(str::trim).filter(|l| !l.is_empty());
    let mut emotions: [String; 4] = Default::default();
    for e in &mut emotions {
        *e = lines
            .next()
            .ok_or_else(|| bad("fewer than four emotions"))?
            .to_string();
    }
    let r = &q.reference_answer_fullscale;
    let mut reference = [0f32; 4];
    for (i, slot) in reference.iter_mut().enumerate() {
        let name = r
            .get(&format!("emotion{}", i + 1))
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("reference lacks an emotion name"))?;
        if !name.eq_ignore_ascii_case(&emotions[i]) {
            return Err(bad("reference emotions do not match the prompt's"));
        }
        let score = r
            .get(&format!("emotion{}_score", i + 1))
            .ok_or_else(|| bad("reference lacks a score"))?;
        *slot = serde_json::from_value::<LooseNumber>(score.clone())
            .ok()
            .and_then(|n| n.value())
            .ok_or_else(|| bad("reference score is not a number"))?;
    }
    let mut characters: Vec<String> = Vec::new();
    for line in dialogue.lines() {
        if let Some((name, _)) = line.split_once(':')
            && !name.is_empty()
            && name.len() <= 40
            && !characters.iter().any(|c| c == name.trim())
        {
            characters.push(name.trim().to_string());
        }
    }
    if !characters.contains(&subject) {
        characters.push(subject.clone());
    }
    check(EqItem {
        id: id.to_string(),
        characters,
        subject,
        dialogue,
        emotions,
        reference,
    })
}

/// Parses a whole EQ-Bench v2 question file (`{"1": {...}, "2": {...}}`), in id order.
pub fn parse_eqbench(text: &str) -> Result<Vec<EqItem>, EqError> {
    let raw: BTreeMap<String, EqBenchQuestion> = serde_json::from_str(text).map_err(EqError::Layout)?;
    let mut items: Vec<EqItem> = raw
        .iter()
        .map(|(id, q)| from_eqbench(id, q))
        .collect::<Result<_, _>>()?;
    items.sort_by_key(|i| (i.id.parse::<u64>().unwrap_or(u64::MAX), i.id.clone()));
    Ok(items)
}

/// Names the per-epoch perturbation draws from: varied, and none is an English word or a
/// substring of a common emotion name.
pub const NAME_POOL: [&str; 48] = [
    "Adaeze",
    "Bartosz",
    "Catalina",
    "Dagny",
    "Emeka",
    "Fenella",
    "Gaspard",
    "Halvard",
    "Ilona",
    "Jovan",
    "Kirra",
    "Lisandro",
    "Maelle",
    "Nikolai",
    "Oluwaseun",
    "Pernille",
    "Quentin",
    "Rosalind",
    "Saoirse",
    "Tadeusz",
    "Ulrike",
    "Valentin",
    "Wilhelmina",
    "Ximena",
    "Yusuf",
    "Zofia",
    "Anouk",
    "Benedek",
    "Chiamaka",
    "Dorotea",
    "Eero",
    "Florian",
    "Giedre",
    "Hamid",
    "Isolde",
    "Jarrah",
    "Katarzyna",
    "Leopoldo",
    "Marisa",
    "Nnamdi",
    "Ottavio",
    "Priyanka",
    "Radek",
    "Sunniva",
    "Thibault",
    "Ugne",
    "Vasilis",
    "Wanjiru",
];

fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        out.push_str(&rest[..i]);
        out.push_str(if boundary(before) && boundary(after) {
            to
        } else {
            from
        });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// The epoch's version of `item`: characters renamed from [`NAME_POOL`] (whole words only)
/// and the emotions shuffled together with their references.
pub fn perturb(item: &EqItem, seed: &[u8]) -> EqItem {
    let mut rng = SeedStream::new(seed, &item.id);
    let mut pool: Vec<&str> = NAME_POOL
        .iter()
        .copied()
        .filter(|n| !item.dialogue.contains(n) && !item.characters.iter().any(|c| c == n))
        .collect();
    rng.shuffle(&mut pool);
    let mut out = item.clone();
    // Placeholders first, so a swap chain (A→B, B→C) cannot rename twice.
    let placeholders: Vec<String> = (0..item.characters.len())
        .map(|i| format!("\u{1}{i}\u{1}"))
        .collect();
    for (c, p) in item.characters.iter().zip(&placeholders) {
        out.dialogue = replace_word(&out.dialogue, c, p);
    }
    let mut names = Vec::new();
    for (i, (c, p)) in item.characters.iter().zip(&placeholders).enumerate() {
        let new = pool.get(i).map(|s| s.to_string()).unwrap_or_else(|| c.clone());
        out.dialogue = out.dialogue.replace(p.as_str(), &new);
        if *c == item.subject {
            out.subject = new.clone();
        }
        names.push(new);
    }
    out.characters = names;
    let mut order = [0usize, 1, 2, 3];
    rng.shuffle(&mut order);
    out.emotions = order.map(|i| item.emotions[i].clone());
    out.reference = order.map(|i| item.reference[i]);
    out
}

/// The epoch's questions: `count` items picked by the seed (or all, if fewer), each perturbed.
pub fn epoch_items(bank: &[EqItem], seed: &[u8], count: usize) -> Vec<EqItem> {
    SeedStream::new(seed, "eq-selection")
        .sample_indices(bank.len(), count)
        .into_iter()
        .map(|i| perturb(&bank[i], seed))
        .collect()
}

/// One small item with a known reference, for the unit tests of the modules that score items.
#[cfg(test)]
pub(crate) fn example_item() -> EqItem {
    EqItem {
        id: "1".into(),
        characters: vec!["Robert".into()],
        subject: "Robert".into(),
        dialogue: "Robert: hi".into(),
        emotions: [
            "Remorseful".into(),
            "Indifferent".into(),
            "Affectionate".into(),
            "Annoyed".into(),
        ],
        reference: [0.0, 6.0, 0.0, 7.0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> EqItem {
        EqItem {
            id: "t-1".into(),
            characters: vec!["Mara".into(), "Teodor".into()],
            subject: "Mara".into(),
            dialogue: "Mara: Teodor, you came.\nTeodor: Of course, Mara. Marabou stork says hi.".into(),
            emotions: ["Relieved".into(), "Angry".into(), "Shy".into(), "Hopeful".into()],
            reference: [7.0, 0.0, 2.0, 5.0],
        }
    }

    #[test]
    fn perturbation_is_deterministic_and_keeps_references_with_their_emotions() {
        let a = perturb(&item(), b"seed-1");
        assert_eq!(a, perturb(&item(), b"seed-1"));
        assert_ne!(a, perturb(&item(), b"seed-2"));
        for (e, r) in a.emotions.iter().zip(a.reference) {
            let i = item()
                .emotions
                .iter()
                .position(|x| x == e)
                .expect("same emotions");
            assert_eq!(item().reference[i], r);
        }
        assert!(!a.dialogue.contains("Teodor") && a.characters.contains(&a.subject));
        assert!(
            a.dialogue.contains("Marabou"),
            "only whole words are renamed: {}",
            a.dialogue
        );
        assert!(a.dialogue.starts_with(&format!("{}:", a.subject)));
    }

    #[test]
    fn selection_depends_only_on_the_seed() {
        let bank: Vec<EqItem> = (0..30)
            .map(|i| EqItem {
                id: format!("q{i}"),
                ..item()
            })
            .collect();
        let a = epoch_items(&bank, b"block-hash-a", 10);
        assert_eq!(a, epoch_items(&bank, b"block-hash-a", 10));
        assert_eq!(a.len(), 10);
        let ids_b: Vec<String> = epoch_items(&bank, b"block-hash-b", 10)
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_ne!(a.into_iter().map(|i| i.id).collect::<Vec<_>>(), ids_b);
    }

    #[test]
    fn bank_lines_are_checked() {
        let line = r#"{"id":"x","characters":["A1","B1"],"subject":"C1","dialogue":"A1: hi","emotions":["a","b","c","d"],"reference":[1,2,3,4]}"#;
        assert!(
            matches!(parse_bank(line), Err(EqError::Item { problem, .. }) if problem.contains("subject"))
        );
        let line = r#"{"id":"x","characters":["A1"],"subject":"A1","dialogue":"A1: hi","emotions":["a","a","c","d"],"reference":[1,2,3,4]}"#;
        assert!(parse_bank(line).is_err());
    }
}

/// The question as Kindred asks it (its own wording), answerable in EQ-Bench's `Emotion: score`
/// line format.
pub fn question_prompt(item: &EqItem) -> String {
    let [e1, e2, e3, e4] = &item.emotions;
    format!(
        "Read the conversation below and judge how {s} feels once it is over.\n\n{d}\n[End dialogue]\n\n\
         How intensely does {s} feel each of these emotions at the end? Use 0 for not at all and 10 \
         for overwhelmingly; 0 is a fine answer, but at least one emotion must be above 0.\n\
         Reply with exactly these four lines and nothing else:\n{e1}: <score>\n{e2}: <score>\n{e3}: <score>\n{e4}: <score>",
        s = item.subject,
        d = item.dialogue,
    )
}

/// Failures while answering an item with a model: ours, not the miner's.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Forward(#[from] crate::model::ForwardError),
    #[error("tokenizing: {0}")]
    Tokenizer(String),
    #[error("the tokenizer spells {0:?} in more than two tokens")]
    OddNumberTokens(String),
}

fn encode(tokenizer: &tokenizers::Tokenizer, text: &str) -> Result<Vec<u32>, AnswerError> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| AnswerError::Tokenizer(e.to_string()))
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max + logits.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
    logits.iter().map(|&v| v as f64 - lse).collect()
}

/// The `logits` answer mode: after the rendered prompt (`prompt_ids`, ending where the
/// assistant speaks), each line `Emotion: ` is fed and the model's distribution over the
/// intensities 0..=10 gives an expected value; the most likely intensity is written into the
/// context before the next emotion, as if the model had answered greedily. No sampling, no
/// parsing: the result depends only on the model and the tokens.
///
/// Numbers spelled in two tokens (e.g. `1`,`0` for 10 under digit-splitting tokenizers) are
/// scored with one extra step: P(10) = P(`1`)·P(`0` | `1`) and P(1) = P(`1`)·(1 − P(`0` | `1`)).
pub fn answer_by_logits(
    model: &crate::CausalLm,
    tokenizer: &tokenizers::Tokenizer,
    prompt_ids: &[u32],
    emotions: &[String; 4],
) -> Result<[f32; 4], AnswerError> {
    let spelled: Vec<Vec<u32>> = (0..=10)
        .map(|v| encode(tokenizer, &v.to_string()))
        .collect::<Result<_, _>>()?;
    if let Some(v) = spelled.iter().position(|s| s.len() > 2 || s.is_empty()) {
        return Err(AnswerError::OddNumberTokens(v.to_string()));
    }
    let mut cache = crate::model::KvCache::default();
    model.step(prompt_ids, &mut cache)?;
    let mut values = [0f32; 4];
    let mut carry: Vec<u32> = Vec::new();
    for (slot, emotion) in values.iter_mut().zip(emotions) {
        let head = if carry.is_empty() {
            format!("{emotion}: ")
        } else {
            format!("\n{emotion}: ")
        };
        carry.extend(encode(tokenizer, &head)?);
        let first = log_softmax(&model.step(&carry, &mut cache)?);
        carry.clear();
        let mut logp = [f64::NEG_INFINITY; 11];
        // Second-token distributions after each first token that starts a two-token number.
        let mut seconds: Vec<(u32, Vec<f64>)> = Vec::new();
        for s in spelled.iter().filter(|s| s.len() == 2) {
            if !seconds.iter().any(|(t, _)| *t == s[0]) {
                let mut branch = cache.clone();
                seconds.push((s[0], log_softmax(&model.step(&s[..1], &mut branch)?)));
            }
        }
        for (v, s) in spelled.iter().enumerate() {
            let lp_first = first[s[0] as usize];
            logp[v] = match s.as_slice() {
                [_, second] => {
                    let (_, d) = seconds
                        .iter()
                        .find(|(t, _)| *t == s[0])
                        .expect("branch computed above");
                    lp_first + d[*second as usize]
                }
                [t] => {
                    // A single-token number that also starts a longer one keeps only the mass of
                    // not continuing into it.
                    let longer: f64 = spelled
                        .iter()
                        .filter(|o| o.len() == 2 && o[0] == *t)
                        .filter_map(|o| {
                            seconds
                                .iter()
                                .find(|(f, _)| *f == *t)
                                .map(|(_, d)| d[o[1] as usize].exp())
                        })
                        .sum();
                    lp_first + (1.0 - longer).max(1e-12).ln()
                }
                _ => unreachable!("lengths checked above"),
            };
        }
        let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = logp.iter().map(|l| (l - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        *slot = (weights.iter().enumerate().map(|(v, w)| v as f64 * w).sum::<f64>() / total) as f32;
        let best = logp
            .iter()
            .enumerate()
            .fold(0, |b, (i, l)| if *l > logp[b] { i } else { b });
        carry.extend(&spelled[best]);
    }
    Ok(values)
}
