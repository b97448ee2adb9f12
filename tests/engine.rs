//! Numerics of the GGUF engine on the real 0.5B model: the KV cache changes nothing.

mod common;

use candle_core::Tensor;
use precis::engine::{greedy, ChatModel};

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.to_vec1::<f32>().unwrap();
    let b = b.to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let (mut worst, mut at) = (0f32, 0usize);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if (x - y).abs() > worst {
            worst = (x - y).abs();
            at = i;
        }
    }
    eprintln!("max |diff| {worst} at index {at}: got {} expected {}", a[at], b[at]);
    worst
}

#[test]
fn cached_decode_equals_full_recompute_and_truncate_equals_fresh_prefix() {
    let model = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    let ids = model.tokenizer.encode("Le général a déclaré que 8 000 personnes avaient été évacuées.", false).unwrap();
    assert!(ids.len() > 8);

    // Whole sequence at once.
    let mut full_cache = model.llm.new_cache();
    let full = model.llm.forward(&ids, &mut full_cache).unwrap();
    assert_eq!(full_cache.len(), ids.len());

    // A cached prefix, then the rest in one call: the same kernels see the same rows, so the
    // logits must be bit-identical.
    let mut cache = model.llm.new_cache();
    model.llm.forward(&ids[..4], &mut cache).unwrap();
    let rest = model.llm.forward(&ids[4..], &mut cache).unwrap();
    assert_eq!(max_abs_diff(&rest, &full), 0.0);

    // One token at a time: candle runs single-row matmuls through its gemv kernels, whose
    // rounding differs from the multi-row ones (measured max |diff| 0.39 on these logits),
    // so the check is the decision greedy decoding makes plus a loose bound.
    let mut cache = model.llm.new_cache();
    let mut last = None;
    for &id in &ids {
        last = Some(model.llm.forward(&[id], &mut cache).unwrap());
    }
    let last = last.unwrap();
    assert_eq!(precis::engine::llm::argmax(&last).unwrap(), precis::engine::llm::argmax(&full).unwrap());
    assert!(max_abs_diff(&last, &full) < 1.0);

    // Reusing a truncated cache equals computing the prefix afresh.
    let mut reused = full_cache.clone();
    reused.truncate(5).unwrap();
    assert_eq!(reused.len(), 5);
    let from_reused = model.llm.forward(&ids[5..], &mut reused).unwrap();
    assert_eq!(max_abs_diff(&from_reused, &full), 0.0);
}

#[test]
fn greedy_stops_at_end_of_generation_and_respects_the_limit() {
    let model = ChatModel::load(&common::model(common::MODEL_0_5B)).unwrap();
    let prompt = model.prompt(&precis::translate::translation_messages("Bonjour.")).unwrap();
    let mut cache = model.llm.new_cache();
    let done = greedy(&model.llm, &prompt, &mut cache, 64, |id| model.tokenizer.is_eog(id)).unwrap();
    assert_eq!(done.stop, precis::engine::StopReason::Eog);
    assert!(!done.tokens.is_empty() && done.tokens.iter().all(|&t| !model.tokenizer.is_eog(t)));
    let mut cache = model.llm.new_cache();
    let cut = greedy(&model.llm, &prompt, &mut cache, 1, |id| model.tokenizer.is_eog(id)).unwrap();
    assert_eq!(cut.tokens, done.tokens[..1]);
    assert_eq!(cut.stop, precis::engine::StopReason::MaxTokens);
}
