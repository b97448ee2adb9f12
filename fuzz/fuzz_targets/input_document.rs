//! Input bytes -> Document (BOMs, legacy encodings, HTML, Markdown, plain text), its article
//! structure and sentences; and the same bytes as a JSONL file of records for a batch run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use precis::doc::InputFormat;
use precis::input::document_from_bytes;
use precis::segment::paragraph::{split_article, split_paragraphs};
use precis::segment::sentence::split_sentences;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let format = match selector % 4 {
        0 => None,
        1 => Some(InputFormat::Text),
        2 => Some(InputFormat::Markdown),
        _ => Some(InputFormat::Html),
    };
    if let Ok(doc) = document_from_bytes("fuzz", bytes, format) {
        assert!(!doc.text.trim().is_empty());
        for paragraph in split_paragraphs(&doc.text) {
            for sentence in split_sentences(&paragraph) {
                assert!(paragraph.contains(sentence));
            }
        }
        _ = split_article(&doc.text);
    }
    if selector & 0x80 != 0 {
        let path = std::env::temp_dir().join(format!("precis-fuzz-input-{}.jsonl", std::process::id()));
        std::fs::write(&path, bytes).expect("writing the input file");
        let exclude = std::env::temp_dir().join("precis-fuzz-no-such-dir");
        _ = precis::batch::discover::discover(&[path.display().to_string()], &exclude, 1 << 20);
    }
});
