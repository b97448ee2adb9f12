//! Arbitrary text through the tokenizers of the test models (byte-level BPE of Qwen2 and
//! Llama 3 pre-tokenizers): tokenize with and without special tokens, decode back; ids always
//! inside the vocabulary, and plain text (no special-token parsing) decodes to itself.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use precis::engine::{GgufFile, GgufTokenizer};

fn tokenizers() -> &'static [GgufTokenizer] {
    static TOKENIZERS: OnceLock<Vec<GgufTokenizer>> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        ["tests/fixtures/models/tiny-qwen2-q4_0.gguf", "tests/fixtures/arch/llama-tiny.gguf"]
            .iter()
            .map(|file| GgufTokenizer::from_gguf(&GgufFile::open(&root.join(file)).expect("fixture")).expect("fixture tokenizer"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for tokenizer in tokenizers() {
        for (add_special, parse_special) in [(false, false), (true, true)] {
            let Ok(ids) = tokenizer.tokenize(text, add_special, parse_special) else { continue };
            assert!(ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size()));
            let decoded = tokenizer.decode(&ids, false);
            if !add_special && !parse_special {
                assert_eq!(decoded, text, "byte-level BPE round trip");
            }
        }
    }
});
