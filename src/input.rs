//! Reading an input text (a file or `-` for standard input) into a [`Document`], with errors
//! that name the file and the problem. UTF-8 is expected; UTF-16 with a BOM is decoded, and
//! text in a legacy 8-bit encoding (French in Windows-1252 or ISO-8859-1) is decoded when
//! detection (chardetng) finds it plausible, with a warning.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::doc::Document;
use crate::{Error, Result};

/// Reads `origin` (`-` is standard input) as UTF-8 text (a BOM is allowed).
pub fn read_document(origin: &str) -> Result<Document> {
    let bytes = if origin == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| Error::io("<stdin>", e))?;
        buf
    } else {
        let path = Path::new(origin);
        if path.is_dir() {
            return Err(Error::invalid_input(origin, "is a directory, not a text file"));
        }
        std::fs::read(path).map_err(|e| Error::invalid_input(origin, format!("cannot read: {e}")))?
    };
    document_from_bytes(origin, &bytes)
}

/// Decodes and checks the bytes of an input text.
pub fn document_from_bytes(origin: &str, bytes: &[u8]) -> Result<Document> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let (text, encoding, warnings) = decode(origin, bytes)?;
    if text.trim().is_empty() {
        return Err(Error::invalid_input(origin, "is empty (no text to process)"));
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    Ok(Document { origin: origin.to_string(), text, sha256, encoding, warnings })
}

/// The text of `bytes`, the name of its encoding, and warnings about it.
fn decode(origin: &str, bytes: &[u8]) -> Result<(String, String, Vec<String>)> {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            return Err(Error::invalid_input(origin, format!("has a {} BOM but is not valid {0}", encoding.name())));
        }
        return Ok((text.into_owned(), encoding.name().to_string(), Vec::new()));
    }
    if bytes.contains(&0) {
        return Err(Error::invalid_input(origin, "looks like a binary file (contains NUL bytes), not text"));
    }
    let utf8_error = match std::str::from_utf8(bytes) {
        Ok(text) => return Ok((text.to_string(), "UTF-8".to_string(), Vec::new())),
        Err(e) => e,
    };
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let encoding = detector.guess(None, chardetng::Utf8Detection::Deny);
    let (text, _, had_errors) = encoding.decode(bytes);
    if encoding == encoding_rs::UTF_8 || had_errors || !plausible_text(&text) {
        return Err(Error::invalid_input(
            origin,
            format!("is not valid UTF-8 (first bad byte at offset {}) and not plausible text in another encoding", utf8_error.valid_up_to()),
        ));
    }
    let warning = format!("{origin}: not UTF-8; decoded as {} (detected)", encoding.name());
    Ok((text.into_owned(), encoding.name().to_string(), vec![warning]))
}

/// Text a person wrote: no control characters other than tab, CR and LF.
fn plausible_text(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unusable_bytes_with_the_origin_in_the_message() {
        let err = document_from_bytes("a.txt", b"ab\0cd").unwrap_err();
        assert!(err.is_input_error());
        assert!(err.to_string().starts_with("a.txt: ") && err.to_string().contains("binary"), "{err}");
        // Bytes that are neither UTF-8 nor plausible 8-bit text (C1 control characters).
        let err = document_from_bytes("b.txt", b"caf\x81\x8d\x90 \x9d").unwrap_err();
        assert!(err.to_string().contains("b.txt") && err.to_string().contains("offset 3"), "{err}");
        let err = document_from_bytes("c.txt", b" \n\t\r\n").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn decodes_french_in_windows_1252_with_a_warning() {
        let bytes = b"Le caf\xe9 de la gare a ferm\xe9 ses portes \xab d\xe9finitivement \xbb, a d\xe9clar\xe9 le maire.";
        let doc = document_from_bytes("cp1252.txt", bytes).unwrap();
        assert_eq!(doc.text, "Le café de la gare a fermé ses portes « définitivement », a déclaré le maire.");
        assert_eq!(doc.encoding, "windows-1252");
        assert_eq!(doc.warnings.len(), 1);
        assert!(doc.warnings[0].starts_with("cp1252.txt: not UTF-8"), "{:?}", doc.warnings);
    }

    #[test]
    fn decodes_utf16_with_a_bom() {
        let text = "Été « 8 000 »\r\nDeuxième ligne";
        for (bom, units) in [
            (vec![0xFF, 0xFE], text.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()),
            (vec![0xFE, 0xFF], text.encode_utf16().flat_map(u16::to_be_bytes).collect::<Vec<u8>>()),
        ] {
            let doc = document_from_bytes("u16.txt", &[bom, units].concat()).unwrap();
            assert_eq!(doc.text, text);
            assert!(doc.encoding.starts_with("UTF-16"), "{}", doc.encoding);
            assert!(doc.warnings.is_empty());
        }
    }

    #[test]
    fn strips_a_bom_and_hashes_the_raw_bytes() {
        let doc = document_from_bytes("d.txt", b"\xef\xbb\xbfabc").unwrap();
        assert_eq!(doc.text, "abc");
        assert_eq!(doc.encoding, "UTF-8");
        // The hash is of the bytes as read, BOM included.
        assert_eq!(doc.sha256, hex::encode(Sha256::digest(b"\xef\xbb\xbfabc")));
    }
}
