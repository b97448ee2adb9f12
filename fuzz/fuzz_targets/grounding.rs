//! The grounding check and the translation checks on arbitrary text: the input is split into
//! a French article, its English translation and a summary at NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use precis::check::{check_translation, restore_quotes, strip_commentary};
use precis::verify::{check_grounding, Sources};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\0');
    let (french, english, summary) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let paragraphs: Vec<String> = english.split("\n\n").map(str::to_string).collect();
    let grounding = check_grounding(summary, &Sources::french(french, &paragraphs, &[]));
    _ = grounding.is_grounded();
    _ = check_translation(french, english, &[]);
    _ = restore_quotes(french, english);
    _ = strip_commentary(french, english);
});
