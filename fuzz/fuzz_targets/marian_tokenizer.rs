//! Arbitrary text through the Marian tokenizers of the test checkpoints (SentencePiece unigram
//! with and without a precompiled character map): encode, then decode; ids inside the
//! vocabulary, the last one EOS.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use precis::engine::marian::MarianTokenizer;

fn tokenizers() -> &'static [MarianTokenizer] {
    static TOKENIZERS: OnceLock<Vec<MarianTokenizer>> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/marian");
        ["tiny-swish", "tiny-relu-untied"]
            .iter()
            .map(|dir| MarianTokenizer::from_dir(&root.join(dir)).expect("fixture tokenizer"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for tokenizer in tokenizers() {
        let Ok(ids) = tokenizer.encode(text) else { continue };
        assert_eq!(ids.last(), Some(&tokenizer.eos_id()));
        assert!(ids.iter().all(|&id| id <= tokenizer.max_id()));
        _ = tokenizer.decode(&ids);
    }
});
