//! Writers for the records: Markdown for people, JSON for programs.

use std::io::Write;

use serde::Serialize;

use crate::doc::{Brief, ParagraphReport};
use crate::engine::StopReason;
use crate::{Error, Result};

/// The brief as Markdown: translated title, summary, then the translated paragraphs. A title or
/// paragraph that fails a check or has low confidence gets a visible marker, a footnote that
/// says why.
pub fn brief_markdown(brief: &Brief) -> String {
    let doubtful = |paragraph: usize| brief.paragraphs.iter().find(|r| r.paragraph == paragraph && r.is_doubtful());
    let marker = |paragraph: usize| if doubtful(paragraph).is_some() { format!(" ⚠[^{paragraph}]") } else { String::new() };
    let mut md = format!("# {}{}\n\n## Summary\n\n{}\n\n## Translation\n\n", brief.title, marker(0), brief.summary);
    for (i, paragraph) in brief.translation.iter().enumerate() {
        md.push_str(paragraph);
        md.push_str(&marker(i + 1));
        md.push_str("\n\n");
    }
    let notes: Vec<String> = brief.paragraphs.iter().filter(|r| r.is_doubtful()).map(footnote).collect();
    if !notes.is_empty() {
        md.push_str("---\n\n");
        md.push_str(&notes.join("\n"));
    }
    md.truncate(md.trim_end().len());
    md.push('\n');
    md
}

/// The footnote of a doubtful paragraph: what its checks found and its confidence.
fn footnote(report: &ParagraphReport) -> String {
    let what = if report.paragraph == 0 { "Title".to_string() } else { format!("Paragraph {}", report.paragraph) };
    let mut reasons: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    if report.low_confidence {
        reasons.push(format!("low model confidence ({:.2})", report.confidence.unwrap_or(f32::NEG_INFINITY)));
    }
    format!("[^{}]: {what} may not be faithful to the French: {}.", report.paragraph, reasons.join("; "))
}

/// One compact JSON document followed by a newline, flushed.
pub fn write_json_line(out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
    let mut line = serde_json::to_vec(value).map_err(|e| Error::Config(format!("serializing output: {e}")))?;
    line.push(b'\n');
    out.write_all(&line).and_then(|_| out.flush()).map_err(|e| Error::io("<stdout>", e))
}

pub(crate) fn write_text(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| Error::io("<stdout>", e))
}

/// One line of `translate --lines --json --engine marian`.
#[derive(Serialize)]
pub(crate) struct MarianLineRecord<'a> {
    pub line: usize,
    pub text: &'a str,
    /// Generated ids without the decoder start token, EOS included when produced.
    pub tokens: &'a [u32],
    /// HF `sequences_scores` (beam) or the mean token log-probability (greedy).
    pub score: f32,
    /// Parts the line was split into to fit the model's position limit (0 for an empty line).
    pub parts: usize,
    pub stop: StopReason,
}

/// One line of `translate --lines --json`.
#[derive(Serialize)]
pub(crate) struct LineRecord<'a> {
    pub line: usize,
    pub text: &'a str,
    pub tokens: &'a [u32],
    pub prompt_tokens: usize,
    pub stop: StopReason,
    /// Confidence and checks (`paragraph` is the line number).
    #[serde(flatten)]
    pub report: ParagraphReport,
}
