//! GGUF bytes -> header, hyper-parameters, tokenizer, chat template, validated weights, and one
//! forward pass of the first token: any file either fails with an error or runs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use precis::engine::llm::StepKind;
use precis::engine::{ChatTemplate, GgufFile, GgufTokenizer, Llm, LlmConfig};

fuzz_target!(|data: &[u8]| {
    // The reader works on files: one per fuzzing process, rewritten for every input.
    let path = std::env::temp_dir().join(format!("precis-fuzz-gguf-{}.gguf", std::process::id()));
    std::fs::write(&path, data).expect("writing the input file");
    let Ok(mut gguf) = GgufFile::open(&path) else { return };
    if LlmConfig::from_gguf(&gguf).is_err() {
        return;
    }
    if let Ok(tokenizer) = GgufTokenizer::from_gguf(&gguf) {
        _ = ChatTemplate::from_gguf(&gguf, &tokenizer);
    }
    let Ok(llm) = Llm::load(&mut gguf) else { return };
    let mut cache = llm.new_cache();
    let logits = llm.forward(&[0], &mut cache, StepKind::Prompt { len: 1 }).expect("a validated model runs");
    assert_eq!(logits.len(), llm.vocab_size());
});
