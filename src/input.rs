//! Reading an input text (a file or `-` for standard input) into a [`Document`], with errors
//! that name the file and the problem.

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
    if bytes.contains(&0) {
        return Err(Error::invalid_input(origin, "looks like a binary file (contains NUL bytes), not text"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid_input(origin, format!("is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Error::invalid_input(origin, "is empty (no text to process)"));
    }
    Ok(Document { origin: origin.to_string(), text: text.to_string(), sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unusable_bytes_with_the_origin_in_the_message() {
        let err = document_from_bytes("a.txt", b"ab\0cd").unwrap_err();
        assert!(err.is_input_error());
        assert!(err.to_string().starts_with("a.txt: ") && err.to_string().contains("binary"), "{err}");
        let err = document_from_bytes("b.txt", b"caf\xe9").unwrap_err();
        assert!(err.to_string().contains("b.txt") && err.to_string().contains("offset 3"), "{err}");
        let err = document_from_bytes("c.txt", b" \n\t\r\n").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn strips_a_bom_and_hashes_the_raw_bytes() {
        let doc = document_from_bytes("d.txt", b"\xef\xbb\xbfabc").unwrap();
        assert_eq!(doc.text, "abc");
        // The hash is of the bytes as read, BOM included.
        assert_eq!(doc.sha256, hex::encode(Sha256::digest(b"\xef\xbb\xbfabc")));
    }
}
