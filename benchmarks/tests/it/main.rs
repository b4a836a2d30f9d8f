//! The benchmarks crate's integration tests, one binary: the real model (SmolLM2-135M) and the
//! quality ladder through Kindred's scoring, the EQ scale against fixed answer patterns, and the
//! shared data files' formats.

mod eq_scale;
mod eqbench_format;
mod ladder;
mod persona_chat;
mod smollm2;
