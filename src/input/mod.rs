//! Reading an input text (a file or `-` for standard input) into a [`Document`], with errors
//! that name the file and the problem. UTF-8 is expected; UTF-16 with a BOM is decoded, and
//! text in a legacy 8-bit encoding (French in Windows-1252 or ISO-8859-1) is decoded when
//! detection (chardetng) finds it plausible, with a warning. HTML pages are reduced to their
//! article text and Markdown to plain text. Inputs over a size limit are refused before they
//! are read, so memory stays bounded.

pub mod html;
pub mod language;
pub mod markdown;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::doc::Document;
pub use crate::doc::InputFormat;
use crate::{Error, Result};

/// Default for `--max-bytes`: far above any news article (a long one is ~50 KB of text, a
/// heavy HTML page ~2 MB), low enough that a stray log file or dump is refused.
pub const DEFAULT_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Reads `origin` (`-` is standard input), refusing more than `max_bytes`.
pub fn read_document(origin: &str, max_bytes: u64) -> Result<Document> {
    let bytes = if origin == "-" {
        let mut buf = Vec::new();
        std::io::stdin().take(max_bytes + 1).read_to_end(&mut buf).map_err(|e| Error::io("<stdin>", e))?;
        check_bounded_read(origin, buf.len() as u64, max_bytes)?;
        buf
    } else {
        read_bytes(Path::new(origin), max_bytes)?
    };
    document_from_bytes(origin, &bytes, InputFormat::from_path(Path::new(origin)))
}

/// The bytes of an input file, refused (before reading) when over `max_bytes`.
pub fn read_bytes(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let origin = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::invalid_input(&origin, format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(Error::invalid_input(origin, "is a directory, not a text file"));
    }
    check_size(&origin, meta.len(), max_bytes)?;
    let file = std::fs::File::open(path).map_err(|e| Error::invalid_input(&origin, format!("cannot read: {e}")))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow between the check and the read: read one byte more than allowed at most.
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| Error::invalid_input(&origin, format!("cannot read: {e}")))?;
    check_bounded_read(&origin, bytes.len() as u64, max_bytes)?;
    Ok(bytes)
}

/// Refuses inputs over the size limit, naming both sizes.
pub fn check_size(origin: &str, len: u64, max_bytes: u64) -> Result<()> {
    if len > max_bytes {
        return Err(too_large(origin, &format!("{len} bytes"), max_bytes));
    }
    Ok(())
}

/// After a read bounded to `max_bytes + 1` bytes (stdin, a file that grew): more means too large.
fn check_bounded_read(origin: &str, len: u64, max_bytes: u64) -> Result<()> {
    if len > max_bytes {
        return Err(too_large(origin, &format!("more than {max_bytes} bytes"), max_bytes));
    }
    Ok(())
}

fn too_large(origin: &str, size: &str, max_bytes: u64) -> Error {
    Error::invalid_input(origin, format!("is too large ({size}, limit {max_bytes}); raise --max-bytes to process it"))
}

/// Refuses a document that is reliably detected as not French, unless `force` is set, in
/// which case it goes through with a warning.
pub fn check_french(doc: &mut Document, force: bool) -> Result<()> {
    let Some(other) = language::other_than_french(&doc.text) else { return Ok(()) };
    let what = format!("is in {} ({}), not French (detection confidence {:.2})", other.name, other.code, other.confidence);
    if !force {
        return Err(Error::invalid_input(&doc.origin, format!("{what}; pass --force-language to process it anyway")));
    }
    let warning = format!("{}: {what}; processed anyway (--force-language)", doc.origin);
    tracing::warn!("{warning}");
    doc.warnings.push(warning);
    Ok(())
}

/// Decodes and checks the bytes of an input text.
///
/// `format` comes from the file name when it says; otherwise an HTML document is recognised by
/// its content, and anything else is plain text.
pub fn document_from_bytes(origin: &str, bytes: &[u8], format: Option<InputFormat>) -> Result<Document> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let (text, encoding, warnings) = decode(origin, bytes)?;
    let format = format.unwrap_or(if html::looks_like_html(&text) { InputFormat::Html } else { InputFormat::Text });
    let text = match format {
        InputFormat::Text => text,
        InputFormat::Markdown => markdown::plain_text(&text),
        InputFormat::Html => html::article_text(&text),
    };
    if text.trim().is_empty() {
        let what = if format == InputFormat::Html { "has no article text" } else { "is empty (no text to process)" };
        return Err(Error::invalid_input(origin, what));
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    Ok(Document { origin: origin.to_string(), text, sha256, encoding, format, warnings })
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
            format!(
                "is not valid UTF-8 (first bad byte at offset {}) and not plausible text in another encoding",
                utf8_error.valid_up_to()
            ),
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
        let err = document_from_bytes("a.txt", b"ab\0cd", None).unwrap_err();
        assert!(err.is_input_error());
        assert!(err.to_string().starts_with("a.txt: ") && err.to_string().contains("binary"), "{err}");
        // Bytes that are neither UTF-8 nor plausible 8-bit text (C1 control characters).
        let err = document_from_bytes("b.txt", b"caf\x81\x8d\x90 \x9d", None).unwrap_err();
        assert!(err.to_string().contains("b.txt") && err.to_string().contains("offset 3"), "{err}");
        let err = document_from_bytes("c.txt", b" \n\t\r\n", None).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn decodes_french_in_windows_1252_with_a_warning() {
        let bytes = b"Le caf\xe9 de la gare a ferm\xe9 ses portes \xab d\xe9finitivement \xbb, a d\xe9clar\xe9 le maire.";
        let doc = document_from_bytes("cp1252.txt", bytes, None).unwrap();
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
            let doc = document_from_bytes("u16.txt", &[bom, units].concat(), None).unwrap();
            assert_eq!(doc.text, text);
            assert!(doc.encoding.starts_with("UTF-16"), "{}", doc.encoding);
            assert!(doc.warnings.is_empty());
        }
    }

    #[test]
    fn strips_a_bom_and_hashes_the_raw_bytes() {
        let doc = document_from_bytes("d.txt", b"\xef\xbb\xbfabc", None).unwrap();
        assert_eq!(doc.text, "abc");
        assert_eq!(doc.encoding, "UTF-8");
        // The hash is of the bytes as read, BOM included.
        assert_eq!(doc.sha256, hex::encode(Sha256::digest(b"\xef\xbb\xbfabc")));
    }

    #[test]
    fn extracts_html_and_markdown_by_extension_or_content() {
        let html = b"<!doctype html><html><body><h1>Titre</h1><script>x()</script><p>Texte.</p></body></html>";
        let doc = document_from_bytes("page.txt", html, None).unwrap();
        assert_eq!((doc.format, doc.text.as_str()), (InputFormat::Html, "Titre\n\nTexte."));
        let doc = document_from_bytes("a.md", b"# Titre\n\nUn **mot**.", InputFormat::from_path(Path::new("a.md"))).unwrap();
        assert_eq!((doc.format, doc.text.as_str()), (InputFormat::Markdown, "Titre\n\nUn mot."));
        let err = document_from_bytes("vide.html", b"<html><nav>Menu</nav></html>", Some(InputFormat::Html)).unwrap_err();
        assert_eq!(err.to_string(), "vide.html: has no article text");
    }

    #[test]
    fn refuses_files_over_the_size_limit_before_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, vec![b'a'; 1000]).unwrap();
        let err = read_bytes(&path, 999).unwrap_err();
        assert!(err.is_input_error());
        assert!(err.to_string().contains("big.txt: is too large (1000 bytes, limit 999)"), "{err}");
        assert_eq!(read_bytes(&path, 1000).unwrap().len(), 1000);
    }

    #[test]
    fn refuses_english_unless_forced() {
        let text = "The city council voted on Tuesday evening for next year's budget, which provides for \
                    the renovation of three schools and the construction of a new swimming pool.";
        let mut doc = document_from_bytes("en.txt", text.as_bytes(), None).unwrap();
        let err = check_french(&mut doc.clone(), false).unwrap_err();
        assert!(err.to_string().starts_with("en.txt: is in English (eng), not French"), "{err}");
        check_french(&mut doc, true).unwrap();
        assert!(doc.warnings[0].contains("processed anyway"), "{:?}", doc.warnings);
    }
}
