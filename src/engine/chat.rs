//! The model's own chat template (`tokenizer.chat_template`), rendered the way HF transformers
//! renders it (`apply_chat_template`: Jinja with `trim_blocks`, `lstrip_blocks` and loop
//! controls, `add_generation_prompt=true`, the globals `raise_exception` and `strftime_now`, a
//! `tojson` that writes what Python's `json.dumps` writes, though with map keys in sorted order
//! where jinja2 keeps them in the order written).
//!
//! Every template is given `enable_thinking=false`: Qwen3's then opens the answer with an empty
//! `<think>\n\n</think>\n\n` block, so the model answers without reasoning first (translations
//! and summaries have no use for it). Templates that take no such variable ignore it.
//!
//! Message contents are never parsed for special tokens: the template is rendered with
//! placeholders in their place, the template text around them is tokenized with special tokens
//! recognised, and each content as plain text, all as one text (see
//! [`GgufTokenizer::tokenize_parts`]), so the ids are those of the whole rendered prompt, but an
//! article that contains `<|im_end|>` cannot close the turn. Templates that trim contents (Gemma's
//! `message['content'] | trim`) get the trimmed content.
//!
//! The BOS token comes from the template text alone (Gemma and Llama 3 templates begin with
//! `{{ bos_token }}`), as in transformers and llama-cpp-python (`tokenize(prompt, add_bos=False,
//! special=True)`): it is never added a second time.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::{Kwargs, Value};
use minijinja::{context, Environment, ErrorKind};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::gguf::GgufFile;
use super::tokenizer::GgufTokenizer;
use crate::{Error, Result};

/// The language codes of a translation request to a model whose template takes them
/// (TranslateGemma: `source_lang_code`, `target_lang_code`, keys of the template's own table of
/// language names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Languages {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    /// Set on a TranslateGemma translation request: the template then sees the content as
    /// `[{"type": "text", "source_lang_code": ..., "target_lang_code": ..., "text": content}]`.
    pub languages: Option<Languages>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: content.into(), languages: None }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }

    /// A user message asking for the translation of `text` from language `source` into `target`,
    /// for a template that takes language codes ([`ChatTemplate::takes_language_codes`]).
    pub fn translation(source: &str, target: &str, text: impl Into<String>) -> Self {
        Self { languages: Some(Languages { source: source.into(), target: target.into() }), ..Self::user(text) }
    }

    fn with_content(&self, content: String) -> Self {
        Self { role: self.role.clone(), content, languages: self.languages.clone() }
    }
}

impl Serialize for ChatMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        struct TextPart<'a>(&'a str, &'a Languages);
        impl Serialize for TextPart<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(4))?;
                map.serialize_entry("type", "text")?;
                map.serialize_entry("source_lang_code", &self.1.source)?;
                map.serialize_entry("target_lang_code", &self.1.target)?;
                map.serialize_entry("text", self.0)?;
                map.end()
            }
        }
        struct Parts<'a>(&'a str, &'a Languages);
        impl Serialize for Parts<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(1))?;
                seq.serialize_element(&TextPart(self.0, self.1))?;
                seq.end()
            }
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("role", &self.role)?;
        match &self.languages {
            None => map.serialize_entry("content", &self.content)?,
            Some(languages) => map.serialize_entry("content", &Parts(&self.content, languages))?,
        }
        map.end()
    }
}

/// Marks the place of message `i` in a rendered template; private-use characters that no
/// template or article would write.
fn placeholder(i: usize) -> String {
    format!("\u{F8FF}precis-content-{i}\u{F8FF}")
}

/// Removes the reasoning a model wrote before its answer: every `<think>...</think>` block, an
/// answer that starts after a lone `</think>` (the opening tag was in the prompt), and an
/// unclosed `<think>` to the end (reasoning cut off by the token limit). Text without these tags
/// is returned as it is.
pub fn strip_thinking(text: &str) -> String {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    let mut rest = text;
    if let Some(close) = rest.find(CLOSE) {
        if !rest[..close].contains(OPEN) {
            rest = rest[close + CLOSE.len()..].trim_start();
        }
    }
    let mut out = String::with_capacity(rest.len());
    while let Some(open) = rest.find(OPEN) {
        out.push_str(&rest[..open]);
        match rest[open..].find(CLOSE) {
            Some(close) => rest = rest[open + close + CLOSE.len()..].trim_start(),
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    /// The model file, named in errors.
    path: Option<PathBuf>,
    language_codes: bool,
}

/// The most template instructions one rendering may run (minijinja's fuel).
const TEMPLATE_FUEL: u64 = 20_000_000;

impl ChatTemplate {
    pub fn from_gguf(gguf: &GgufFile, tokenizer: &GgufTokenizer) -> Result<Self> {
        let source = gguf.string("tokenizer.chat_template").map_err(|_| {
            Error::model(gguf.path(), "has no chat template (tokenizer.chat_template); precis needs an instruction-tuned model")
        })?;
        let token_text =
            |key: &str| -> Result<String> { Ok(gguf.token_id(key)?.map_or_else(String::new, |id| tokenizer.decode(&[id], false))) };
        let bos_token = token_text("tokenizer.ggml.bos_token_id")?;
        let eos_token = token_text("tokenizer.ggml.eos_token_id")?;
        let mut template = Self::new(source, bos_token, eos_token)
            .map_err(|e| Error::model(gguf.path(), format!("chat template error: {}", describe(&e))))?;
        template.path = Some(gguf.path().to_path_buf());
        Ok(template)
    }

    pub fn new(source: &str, bos_token: String, eos_token: String) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // A bound on the work of one rendering, so that a template from a hostile file cannot
        // loop for ever (real templates take a few thousand instructions per message).
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_filter("tojson", tojson);
        // Jinja2's tests that minijinja lacks (Qwen3: `enable_thinking is false`).
        env.add_test("true", |v: Value| v.kind() == minijinja::value::ValueKind::Bool && v.is_true());
        env.add_test("false", |v: Value| v.kind() == minijinja::value::ValueKind::Bool && !v.is_true());
        let mut template = Self { env, bos_token, eos_token, path: None, language_codes: takes_language_codes(source) };
        template.set_clock(None);
        template.env.add_template_owned("chat", source.to_string())?;
        Ok(template)
    }

    /// Makes `strftime_now` format the time `unix_seconds` (UTC) instead of the current time, so
    /// that a template that writes today's date (Llama 3.2) renders the same on any day.
    pub fn set_time(&mut self, unix_seconds: i64) {
        self.set_clock(Some(unix_seconds));
    }

    fn set_clock(&mut self, fixed: Option<i64>) {
        self.env.add_function("strftime_now", move |format: String| -> Result<String, minijinja::Error> {
            let now = fixed.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64));
            strftime(&format, now).map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e))
        });
    }

    /// Whether the template builds a translation prompt from language codes and the text alone
    /// (TranslateGemma: a user message whose content is `[{"type": "text", "source_lang_code",
    /// "target_lang_code", "text"}]`, no system message), recognised by its use of
    /// `source_lang_code` and `target_lang_code`.
    pub fn takes_language_codes(&self) -> bool {
        self.language_codes
    }

    /// The model file the template was read from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The prompt text, exactly as transformers' `apply_chat_template(..., tokenize=False,
    /// add_generation_prompt=True, enable_thinking=False)` would produce it.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        let template = self.env.get_template("chat").map_err(|e| self.error(e))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                enable_thinking => false,
                tools => (),
                documents => (),
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| self.error(e))
    }

    /// Prompt token ids: template text with special tokens recognised, contents as plain text,
    /// tokenized as one text (see the module documentation).
    pub fn encode(&self, messages: &[ChatMessage], tokenizer: &GgufTokenizer) -> Result<Vec<u32>> {
        let parts = self.parts(messages)?;
        let parts: Vec<(&str, bool)> = parts.iter().map(|(text, special)| (text.as_str(), *special)).collect();
        tokenizer.tokenize_parts(&parts, false)
    }

    /// The rendered prompt as template text (`true`: special tokens allowed) and message
    /// contents (`false`), in order. Each content goes to the template surrounded by its own
    /// leading and trailing whitespace; where the template drops that whitespace (trims), the
    /// content is taken trimmed on that side. The parts are checked to make up the prompt that
    /// [`ChatTemplate::render`] gives.
    fn parts(&self, messages: &[ChatMessage]) -> Result<Vec<(String, bool)>> {
        let split = |content: &str| -> (usize, usize) {
            let core = content.trim();
            if core.is_empty() {
                return (content.len(), content.len());
            }
            let start = content.len() - content.trim_start().len();
            (start, start + core.len())
        };
        let masked: Vec<ChatMessage> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (start, end) = split(&m.content);
                m.with_content(format!("{}{}{}", &m.content[..start], placeholder(i), &m.content[end..]))
            })
            .collect();
        let rendered = self.render(&masked)?;
        let mut rest = rendered.as_str();
        let mut parts = Vec::with_capacity(2 * messages.len() + 1);
        for (i, message) in messages.iter().enumerate() {
            let mark = placeholder(i);
            let Some(at) = rest.find(&mark) else {
                return Err(self.problem(format!("the chat template dropped message {i} ({}); cannot build the prompt", message.role)));
            };
            let (start, end) = split(&message.content);
            let (lead, trail) = (&message.content[..start], &message.content[end..]);
            let (mut before, mut after) = (&rest[..at], &rest[at + mark.len()..]);
            let (mut from, mut to) = (start, end);
            if !lead.is_empty() && before.ends_with(lead) {
                before = &before[..before.len() - lead.len()];
                from = 0;
            }
            if !trail.is_empty() && after.starts_with(trail) {
                after = &after[trail.len()..];
                to = message.content.len();
            }
            let content = &message.content[from..to];
            parts.push((before.to_string(), true));
            parts.push((content.to_string(), false));
            rest = after;
        }
        parts.push((rest.to_string(), true));
        let whole = self.render(messages)?;
        let joined: String = parts.iter().map(|(text, _)| text.as_str()).collect();
        if joined != whole {
            return Err(
                self.problem("the chat template changes message contents in a way precis cannot reproduce (it keeps or trims them only)")
            );
        }
        Ok(parts.into_iter().filter(|(text, _)| !text.is_empty()).collect())
    }

    fn problem(&self, message: impl Into<String>) -> Error {
        match &self.path {
            Some(path) => Error::model(path, message),
            None => Error::Tokenizer(message.into()),
        }
    }

    fn error(&self, e: minijinja::Error) -> Error {
        self.problem(format!("chat template error: {}", describe(&e)))
    }
}

/// Whether a template's source names TranslateGemma's language-code fields.
fn takes_language_codes(source: &str) -> bool {
    source.contains("source_lang_code") && source.contains("target_lang_code")
}

/// A template error as one line: what went wrong (for `raise_exception`, the template's own
/// message) and where, with its causes.
fn describe(e: &minijinja::Error) -> String {
    let mut text = match (e.kind(), e.detail(), e.line()) {
        (ErrorKind::InvalidOperation, Some(detail), Some(line)) => format!("{detail} (template line {line})"),
        (ErrorKind::InvalidOperation, Some(detail), None) => detail.to_string(),
        _ => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `tojson` as transformers defines it: Python's `json.dumps(value, ensure_ascii=False,
/// indent=indent)`: `", "` and `": "` between items without indent, `","` and newlines with it;
/// no HTML escaping.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    // minijinja keeps map keys sorted, so `sort_keys` has nothing left to do.
    let _: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    let indent = indent.map(|n| " ".repeat(n));
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PyFormatter { indent: indent.as_deref(), open: Vec::new() });
    value
        .serialize(&mut serializer)
        .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, "cannot serialize to JSON").with_source(e))?;
    Ok(Value::from_safe_string(String::from_utf8(out).expect("serde_json writes UTF-8")))
}

/// Python `json.dumps` separators: `", "` / `": "` inline; with an indent, a newline and the
/// indent before each item and before the closing bracket of a non-empty array or object.
struct PyFormatter<'a> {
    indent: Option<&'a str>,
    /// Per open array or object: whether it has an item yet.
    open: Vec<bool>,
}

impl PyFormatter<'_> {
    fn newline<W: ?Sized + std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        if let Some(indent) = self.indent {
            writer.write_all(b"\n")?;
            for _ in 0..self.open.len() {
                writer.write_all(indent.as_bytes())?;
            }
        }
        Ok(())
    }

    fn begin<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.open.push(false);
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        let first = !std::mem::replace(self.open.last_mut().expect("inside an array or object"), true);
        if !first {
            writer.write_all(if self.indent.is_some() { b"," } else { b", " })?;
        }
        self.newline(writer)
    }

    fn end<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        if self.open.pop().expect("inside an array or object") {
            self.newline(writer)?;
        }
        writer.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for PyFormatter<'_> {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.begin(writer, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.end(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, _first: bool) -> std::io::Result<()> {
        self.item(writer)
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.begin(writer, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.end(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, _first: bool) -> std::io::Result<()> {
        self.item(writer)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// The `strftime` directives `strftime_now` supports (what chat templates use: Llama 3.2's
/// `%d %b %Y`, others' `%Y-%m-%d`, `%B %d, %Y`, `%A`...), in the C locale.
pub const STRFTIME_DIRECTIVES: &str = "%Y %y %m %d %e %-d %-m %b %B %a %A %H %M %S %j %%";

/// Formats `unix_seconds` (UTC) as C's `strftime(format)` does for [`STRFTIME_DIRECTIVES`]; any
/// other directive is an error naming it.
fn strftime(format: &str, unix_seconds: i64) -> std::result::Result<String, String> {
    let days = unix_seconds.div_euclid(86_400);
    let seconds = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday.
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut directive = chars.next().map(String::from).unwrap_or_default();
        if directive == "-" {
            directive.extend(chars.next());
        }
        match directive.as_str() {
            "Y" => out.push_str(&year.to_string()),
            "y" => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            "m" => out.push_str(&format!("{month:02}")),
            "-m" => out.push_str(&month.to_string()),
            "d" => out.push_str(&format!("{day:02}")),
            "-d" => out.push_str(&day.to_string()),
            "e" => out.push_str(&format!("{day:>2}")),
            "b" => out.push_str(&MONTHS[month as usize - 1][..3]),
            "B" => out.push_str(MONTHS[month as usize - 1]),
            "a" => out.push_str(&WEEKDAYS[weekday][..3]),
            "A" => out.push_str(WEEKDAYS[weekday]),
            "H" => out.push_str(&format!("{:02}", seconds / 3600)),
            "M" => out.push_str(&format!("{:02}", seconds / 60 % 60)),
            "S" => out.push_str(&format!("{:02}", seconds % 60)),
            "j" => out.push_str(&format!("{day_of_year:03}")),
            "%" => out.push('%'),
            other => return Err(format!("strftime_now: `%{other}` in {format:?} is not supported (supported: {STRFTIME_DIRECTIVES})")),
        }
    }
    Ok(out)
}

/// Year, month (1-12) and day of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date (proleptic Gregorian); the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_chatml_with_generation_prompt() {
        let template = ChatTemplate::new(CHATML, String::new(), String::new()).unwrap();
        let text = template.render(&[ChatMessage::system("S"), ChatMessage::user("U")]).unwrap();
        assert_eq!(text, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn raise_exception_surfaces_as_an_error() {
        let source = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}";
        let template = ChatTemplate::new(source, String::new(), String::new()).unwrap();
        let err = template.render(&[ChatMessage::system("S")]).unwrap_err();
        assert!(err.to_string().contains("user first"), "{err}");
    }

    #[test]
    fn lstrip_and_trim_blocks_behave_like_transformers() {
        let source = "  {% if true %}\nA\n  {% endif %}\nB";
        let template = ChatTemplate::new(source, String::new(), String::new()).unwrap();
        assert_eq!(template.render(&[]).unwrap(), "A\nB");
    }

    #[test]
    fn strftime_formats_utc_dates() {
        // 2024-07-26 (a Friday) 13:05:09 UTC.
        let t = 1_722_000_000 - 1_722_000_000 % 86_400 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(strftime("%d %b %Y", t).unwrap(), "26 Jul 2024");
        assert_eq!(strftime("%Y-%m-%d %H:%M:%S", t).unwrap(), "2024-07-26 13:05:09");
        assert_eq!(strftime("%A %a %B %-d %e %y %j %%", t).unwrap(), "Friday Fri July 26 26 24 208 %");
        assert_eq!(strftime("%d %b %Y", 0).unwrap(), "01 Jan 1970");
        assert_eq!(strftime("%d %b %Y", 951_782_400).unwrap(), "29 Feb 2000");
        let err = strftime("%Z", t).unwrap_err();
        assert!(err.contains("%Z") && err.contains("%d"), "{err}");
        for days in [-800_000, -1, 0, 59, 60, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn thinking_is_stripped() {
        assert_eq!(strip_thinking("<think>\nHmm.\n</think>\n\nThe answer."), "The answer.");
        assert_eq!(strip_thinking("<think>\n\n</think>\n\nA <think>x</think> B"), "A B");
        assert_eq!(strip_thinking("Reasoning.</think>\n\nThe answer."), "The answer.");
        assert_eq!(strip_thinking("The answer.<think>cut off"), "The answer.");
        assert_eq!(strip_thinking("No tags here."), "No tags here.");
    }

    #[test]
    fn tojson_writes_what_python_json_dumps_writes() {
        // Keys in sorted order: minijinja's maps keep their keys sorted, jinja2's keep the order
        // they were written in.
        let template = ChatTemplate::new(
            "{{ {'a': {}, 'b': [1, 'é<']} | tojson }}|{{ {'a': [2, 3], 'b': 1} | tojson(indent=2) }}|{{ [] | tojson }}",
            String::new(),
            String::new(),
        )
        .unwrap();
        assert_eq!(template.render(&[]).unwrap(), "{\"a\": {}, \"b\": [1, \"é<\"]}|{\n  \"a\": [\n    2,\n    3\n  ],\n  \"b\": 1\n}|[]");
    }
}
