//! Writers for the records: Markdown for people, JSON for programs.

use std::io::Write;

use serde::Serialize;

use crate::doc::Brief;
use crate::{Error, Result};

/// The brief as Markdown: translated title, summary, then the translated paragraphs.
pub fn brief_markdown(brief: &Brief) -> String {
    let mut md = format!("# {}\n\n## Summary\n\n{}\n\n## Translation\n\n", brief.title, brief.summary);
    for paragraph in &brief.translation {
        md.push_str(paragraph);
        md.push_str("\n\n");
    }
    md.truncate(md.trim_end().len());
    md.push('\n');
    md
}

/// One compact JSON document followed by a newline, flushed.
pub fn write_json_line(out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
    let mut line = serde_json::to_vec(value).map_err(|e| Error::Config(format!("serializing output: {e}")))?;
    line.push(b'\n');
    out.write_all(&line).and_then(|_| out.flush()).map_err(|e| Error::io("<stdout>", e))
}
