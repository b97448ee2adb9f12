//! The Marian engine against HF transformers on tiny checkpoints made and trained by
//! `scripts/ref/marian_make_checkpoints.py`, whose HF `generate` outputs (greedy and beam
//! search under several settings) are in each checkpoint's `hf_generate.json`; FLORES lines are
//! read from the shipped FLORES devtest by index. Plus the numerics of the decoder cache and of batching.

mod common;

use std::path::PathBuf;

use precis::engine::marian::{EarlyStopping, GenerationOverrides, Marian, Precision};
use serde_json::Value;

const CHECKPOINTS: [&str; 2] = ["tiny-swish", "tiny-relu-untied"];

fn checkpoint(name: &str) -> PathBuf {
    common::repo_root().join("tests").join("fixtures").join("marian").join(name)
}

fn flores() -> Vec<String> {
    let text = std::fs::read_to_string(common::flores("fra_Latn.devtest")).unwrap();
    text.lines().map(str::to_string).collect()
}

/// HF `generate()` keyword arguments as precis overrides.
fn overrides(kwargs: &Value) -> GenerationOverrides {
    let usize_of = |key: &str| kwargs.get(key).and_then(Value::as_u64).map(|n| n as usize);
    GenerationOverrides {
        num_beams: usize_of("num_beams"),
        max_new_tokens: usize_of("max_new_tokens"),
        min_new_tokens: usize_of("min_new_tokens").or(usize_of("min_length").map(|n| n - 1)),
        length_penalty: kwargs.get("length_penalty").and_then(Value::as_f64).map(|x| x as f32),
        early_stopping: kwargs.get("early_stopping").map(|v| match v {
            Value::Bool(true) => EarlyStopping::Yes,
            Value::String(s) if s == "never" => EarlyStopping::Never,
            _ => EarlyStopping::Heuristic,
        }),
    }
}

/// Checks `got` against `expected` within `tolerance`; the message names the index and values.
fn assert_close(what: &str, index: usize, got: f32, expected: f64, tolerance: f64) {
    let diff = (got as f64 - expected).abs();
    assert!(diff <= tolerance, "{what} #{index}: got {got}, expected {expected}, diff {diff:e} > {tolerance:e}");
}

#[test]
fn token_ids_text_and_scores_equal_hf_generate() {
    let _guard = common::serial();
    let lines = flores();
    for name in CHECKPOINTS {
        let marian = Marian::load(&checkpoint(name), Precision::F32).unwrap();
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(checkpoint(name).join("hf_generate.json")).unwrap()).unwrap();
        let runs = fixture["runs"].as_array().unwrap();
        assert!(runs.len() >= 7);
        for run in runs {
            let run_name = format!("{name}/{}", run["name"].as_str().unwrap());
            let config = marian.generation.with(&overrides(&run["generate_kwargs"]), marian.max_source_tokens());
            let outputs = run["outputs"].as_array().unwrap();
            let sources: Vec<Vec<u32>> = outputs
                .iter()
                .map(|o| {
                    let ids = marian.tokenizer.encode(&lines[o["line"].as_u64().unwrap() as usize]).unwrap();
                    assert_eq!(ids, common::ids(&o["source_ids"]), "{run_name} line {}: source ids", o["line"]);
                    ids
                })
                .collect();
            let got = marian.generate(&sources, &config, 8).unwrap();
            for (i, (h, o)) in got.iter().zip(outputs).enumerate() {
                assert_eq!(h.tokens, common::ids(&o["tokens"]), "{run_name} #{i} (line {}): tokens", o["line"]);
                assert_eq!(marian.tokenizer.decode(&h.tokens), o["text"].as_str().unwrap(), "{run_name} #{i}: text");
                assert_close(&format!("{run_name} score"), i, h.score, o["score"].as_f64().unwrap(), 1e-4);
            }
        }
    }
}

fn tiny(name: &str) -> (Marian, Vec<Vec<u32>>) {
    let marian = Marian::load(&checkpoint(name), Precision::F32).unwrap();
    let lines = flores();
    let limit = marian.max_source_tokens().min(60);
    let sources: Vec<Vec<u32>> =
        lines.iter().map(|l| marian.tokenizer.encode(l).unwrap()).filter(|ids| ids.len() <= limit).step_by(7).take(6).collect();
    (marian, sources)
}

#[test]
fn cached_decoding_equals_full_recompute() {
    let _guard = common::serial();
    for name in CHECKPOINTS {
        let (marian, sources) = tiny(name);
        let model = &marian.model;
        let encoded = model.encode(&sources[..3]).unwrap();
        let start = marian.generation.decoder_start_token_id;
        let targets: Vec<Vec<u32>> =
            (0..3u32).map(|r| (0..7u32).map(|i| if i == 0 { start } else { 5 + r * 11 + i * 3 }).collect()).collect();
        let vocab = model.config().target_vocab_size();
        let full = model.decode_all(&encoded, 1, &targets).unwrap(); // (3, 7, vocab)
        let mut cache = model.start_decoding(&encoded, 1).unwrap();
        for t in 0..7 {
            let step: Vec<u32> = targets.iter().map(|row| row[t]).collect();
            let logits = model.decode_last(&step, &mut cache).unwrap();
            let want: Vec<f32> = (0..3).flat_map(|r| full[(r * 7 + t) * vocab..][..vocab].to_vec()).collect();
            let diff = logits.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-4, "{name} step {t}: cached vs full logits differ by {diff}");
        }
        assert_eq!(cache.len(), 7);
    }
}

#[test]
fn a_padded_batch_equals_one_by_one() {
    let _guard = common::serial();
    let (marian, sources) = tiny("tiny-swish");
    for beams in [1, 3] {
        let config = marian.generation.with(&GenerationOverrides { num_beams: Some(beams), ..Default::default() }, 256);
        let batched = marian.generate(&sources, &config, sources.len()).unwrap();
        for (i, source) in sources.iter().enumerate() {
            let alone = marian.generate(std::slice::from_ref(source), &config, 1).unwrap().remove(0);
            assert_eq!(batched[i].tokens, alone.tokens, "beams {beams} #{i}: tokens");
            assert_close(&format!("beams {beams} score"), i, batched[i].score, alone.score as f64, 1e-5);
        }
    }
}

#[test]
fn beam_search_with_one_beam_picks_the_greedy_tokens() {
    let _guard = common::serial();
    for name in CHECKPOINTS {
        let (marian, sources) = tiny(name);
        let config = marian.generation.with(&GenerationOverrides { num_beams: Some(1), ..Default::default() }, 256);
        let encoded = marian.model.encode(&sources).unwrap();
        let greedy = precis::engine::marian::search::greedy(&marian.model, &encoded, &config).unwrap();
        let beam = precis::engine::marian::search::beam(&marian.model, &encoded, &config).unwrap();
        for (i, (g, b)) in greedy.iter().zip(&beam).enumerate() {
            assert_eq!(g.tokens, b.tokens, "{name} #{i}");
        }
    }
}

#[test]
fn reordering_the_cache_then_appending_equals_appending_in_the_new_order() {
    let _guard = common::serial();
    let (marian, sources) = tiny("tiny-relu-untied");
    let model = &marian.model;
    let encoded = model.encode(&sources[..2]).unwrap();
    let step = |ids: &[u32], cache: &mut _| model.decode_last(ids, cache).unwrap();
    // Two inputs with two beams each: rows 0, 1 belong to input 0; rows 2, 3 to input 1.
    let mut reordered = model.start_decoding(&encoded, 2).unwrap();
    step(&[7, 8, 9, 10], &mut reordered);
    reordered.select(&[1, 0, 3, 2], None).unwrap();
    let got = step(&[11, 12, 13, 14], &mut reordered);
    let mut direct = model.start_decoding(&encoded, 2).unwrap();
    step(&[8, 7, 10, 9], &mut direct);
    let want = step(&[11, 12, 13, 14], &mut direct);
    let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-5, "reordered vs direct logits differ by {diff}");
    // Dropping input 0 keeps input 1's state.
    reordered.select(&[2, 3], Some(&[1])).unwrap();
    let mut alone = model.start_decoding(&model.encode(&sources[1..2]).unwrap(), 2).unwrap();
    step(&[10, 9], &mut alone);
    step(&[13, 14], &mut alone);
    let got = step(&[5, 6], &mut reordered);
    let want = step(&[5, 6], &mut alone);
    let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-4, "after dropping an input, logits differ by {diff}");
}

#[test]
fn int8_weights_mostly_agree_with_f32() {
    let _guard = common::serial();
    let lines = flores();
    let name = "tiny-swish";
    let f32_model = Marian::load(&checkpoint(name), Precision::F32).unwrap();
    let q8_model = Marian::load(&checkpoint(name), Precision::Int8).unwrap();
    let limit = f32_model.max_source_tokens();
    let sources: Vec<Vec<u32>> =
        lines.iter().take(64).map(|l| f32_model.tokenizer.encode(l).unwrap()).filter(|s| s.len() <= limit).collect();
    let config = f32_model.generation.with(&GenerationOverrides { num_beams: Some(4), ..Default::default() }, limit);
    let want = f32_model.generate(&sources, &config, 16).unwrap();
    let got = q8_model.generate(&sources, &config, 16).unwrap();
    let same = want.iter().zip(&got).filter(|(a, b)| a.tokens == b.tokens).count();
    let score_diff: f32 = want.iter().zip(&got).filter(|(a, b)| a.tokens == b.tokens).map(|(a, b)| (a.score - b.score).abs()).sum::<f32>()
        / same.max(1) as f32;
    eprintln!("{name}: int8 outputs identical to f32 on {same}/{} lines, mean |score diff| {score_diff:.5}", sources.len());
    assert!(same * 2 >= sources.len(), "{name}: only {same}/{} identical", sources.len());
    assert!(score_diff < 0.05, "{name}: mean score difference {score_diff}");
}

#[test]
fn a_pytorch_state_dict_loads_the_same_model_as_safetensors() {
    let _guard = common::serial();
    let name = "tiny-relu-untied";
    // The checkpoint's files with its weights as pytorch_model.bin (made from the same model by
    // scripts/ref/marian_make_checkpoints.py; embeddings shared by reference, as torch.save does).
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(checkpoint(name)).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        if !file.starts_with("model.safetensors") {
            std::fs::copy(&path, dir.path().join(&file)).unwrap();
        }
    }
    let bin = common::repo_root().join("tests/fixtures/marian").join(format!("{name}.pytorch_model.bin"));
    std::fs::copy(bin, dir.path().join("pytorch_model.bin")).unwrap();
    let from_bin = Marian::load(dir.path(), Precision::F32).unwrap();
    assert!(from_bin.weights_path.ends_with("pytorch_model.bin"));
    let (from_safetensors, sources) = tiny(name);
    let start = from_bin.generation.decoder_start_token_id;
    let targets: Vec<Vec<u32>> = (0..2u32).map(|r| vec![start, 5 + r, 9, 4 + 3 * r]).collect();
    let logits = |m: &Marian| m.model.decode_all(&m.model.encode(&sources[..2]).unwrap(), 1, &targets).unwrap();
    assert_eq!(logits(&from_bin), logits(&from_safetensors), "same weights, same logits to the bit");
}
