//! What every GGUF tokenizer shares: the token texts and their attributes, the special-token
//! ids, and the rules llama.cpp derives from them at load (`llama_vocab::impl::load`): which
//! tokens are split out of text before the model's own segmentation, which end generation.

use std::collections::HashMap;
use std::ops::Range;

use super::super::gguf::GgufFile;
use crate::{Error, Result};

/// A token's attributes (llama.cpp's `llama_token_attr`): its GGUF `token_type`, then changed
/// by llama.cpp's load rules (a control-looking token of another type gains `CONTROL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Attr(u8);

impl Attr {
    pub const UNDEFINED: Attr = Attr(0);
    pub const NORMAL: Attr = Attr(1);
    pub const UNKNOWN: Attr = Attr(1 << 1);
    pub const UNUSED: Attr = Attr(1 << 2);
    pub const CONTROL: Attr = Attr(1 << 3);
    pub const USER_DEFINED: Attr = Attr(1 << 4);
    pub const BYTE: Attr = Attr(1 << 5);

    /// GGUF `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte; anything else is undefined.
    fn from_type(token_type: i32) -> Self {
        match token_type {
            1 => Self::NORMAL,
            2 => Self::UNKNOWN,
            3 => Self::CONTROL,
            4 => Self::USER_DEFINED,
            5 => Self::UNUSED,
            6 => Self::BYTE,
            _ => Self::UNDEFINED,
        }
    }

    pub fn any(self, other: Attr) -> bool {
        self.0 & other.0 != 0
    }

    fn with(self, other: Attr) -> Self {
        Attr(self.0 | other.0)
    }

    /// Control and unknown tokens: written out, and split out of text, only when special
    /// tokens are asked for.
    pub const SPECIAL: Attr = Attr(Self::CONTROL.0 | Self::UNKNOWN.0);
}

/// Texts of the tokens llama.cpp takes as end of generation whatever their type (it makes
/// them control tokens).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// A fill-in-the-middle token: llama.cpp reads its id from the keys (the last one present
/// wins) or, when none is set, finds it by text and makes it a control token.
struct FimToken {
    keys: &'static [&'static str],
    texts: &'static [&'static str],
    ends_generation: bool,
}

const FIM_TOKENS: &[FimToken] = &[
    FimToken {
        keys: &["tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"],
        texts: &["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"],
        ends_generation: false,
    },
    FimToken {
        keys: &["tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"],
        texts: &["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"],
        ends_generation: false,
    },
    FimToken {
        keys: &["tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"],
        texts: &["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"],
        ends_generation: false,
    },
    FimToken {
        keys: &["tokenizer.ggml.fim_pad_token_id"],
        texts: &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
        ends_generation: true,
    },
    FimToken {
        keys: &["tokenizer.ggml.fim_rep_token_id"],
        texts: &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
        ends_generation: true,
    },
    FimToken { keys: &["tokenizer.ggml.fim_sep_token_id"], texts: &["<|file_sep|>"], ends_generation: true },
];

/// Tokens llama.cpp always treats as user-defined (gpt-oss's channel markers).
const ALWAYS_USER_DEFINED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// What a tokenizer model assumes when the GGUF file leaves a key out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Defaults {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub add_bos: bool,
}

pub(super) struct Vocab {
    tokens: Vec<String>,
    attrs: Vec<Attr>,
    ids: HashMap<String, u32>,
    /// Control, user-defined and unknown tokens, longest text first (ties in id order): the
    /// order llama.cpp splits them out of text in.
    specials: Vec<u32>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    /// Whether `add_special` tokenization starts with BOS and ends with EOS.
    pub add_bos: bool,
    pub add_eos: bool,
    /// Sorted.
    eog: Vec<u32>,
}

/// A piece of text to tokenize, or a special token already split out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fragment<'a> {
    Text(&'a str),
    Special(u32),
}

impl Vocab {
    pub fn from_gguf(gguf: &GgufFile, defaults: Defaults) -> Result<Self> {
        let path = gguf.path();
        let mut tokens = gguf.strings("tokenizer.ggml.tokens")?;
        for (i, token) in tokens.iter_mut().enumerate() {
            // As llama.cpp names them, so that no two empty tokens collide.
            if token.is_empty() {
                *token = format!("[EMPTY_{i}]");
            }
        }
        let mut attrs = if gguf.has("tokenizer.ggml.token_type") {
            let types = gguf.i32s("tokenizer.ggml.token_type")?;
            if types.len() < tokens.len() {
                return Err(Error::model(
                    path,
                    format!("tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}", types.len(), tokens.len()),
                ));
            }
            types[..tokens.len()].iter().map(|&t| Attr::from_type(t)).collect()
        } else {
            vec![Attr::NORMAL; tokens.len()]
        };
        let mut ids = HashMap::with_capacity(tokens.len());
        for (i, token) in tokens.iter().enumerate() {
            if let Some(first) = ids.insert(token.clone(), i as u32) {
                return Err(Error::model(path, format!("tokenizer.ggml.tokens holds `{token}` twice (ids {first} and {i})")));
            }
        }

        let n_tokens = tokens.len();
        let in_range = |id: Option<u32>| id.filter(|&id| (id as usize) < n_tokens);
        // A key of -1 (or its u32 form) means "no such token", as some converters write it; any
        // other id outside the vocabulary is refused (llama.cpp warns and keeps the default).
        let key_id = |key: &str, default: Option<u32>| -> Result<Option<u32>> {
            let default = in_range(default);
            match gguf.token_id(key)? {
                None => Ok(default),
                Some(id) if (id as usize) < n_tokens => Ok(Some(id)),
                Some(id) => Err(Error::model(path, format!("metadata key `{key}` is {id}, outside the vocabulary of {n_tokens} tokens"))),
            }
        };
        let key_bool = |key: &str, default: bool| -> Result<bool> {
            if gguf.has(key) {
                gguf.bool(key)
            } else {
                Ok(default)
            }
        };
        let bos = key_id("tokenizer.ggml.bos_token_id", defaults.bos)?;
        let eos = key_id("tokenizer.ggml.eos_token_id", defaults.eos)?;
        let unk = key_id("tokenizer.ggml.unknown_token_id", defaults.unk)?;
        let eot = key_id("tokenizer.ggml.eot_token_id", None)?;
        let eom = key_id("tokenizer.ggml.eom_token_id", None)?;
        let add_bos = key_bool("tokenizer.ggml.add_bos_token", defaults.add_bos)?;
        let add_eos = key_bool("tokenizer.ggml.add_eos_token", false)?;
        if add_bos && bos.is_none() {
            return Err(Error::model(path, "tokenizer.ggml.add_bos_token is set but there is no BOS token (tokenizer.ggml.bos_token_id)"));
        }
        if add_eos && eos.is_none() {
            return Err(Error::model(path, "tokenizer.ggml.add_eos_token is set but there is no EOS token (tokenizer.ggml.eos_token_id)"));
        }

        let mut fim_ids = Vec::with_capacity(FIM_TOKENS.len());
        for fim in FIM_TOKENS {
            fim_ids.push(fim.keys.iter().try_fold(None, |id, key| key_id(key, id))?);
        }
        let eog = end_of_generation(&tokens, &ids, &mut attrs, &fim_ids, [eos, eot, eom]);

        let mut specials: Vec<u32> =
            (0..n_tokens as u32).filter(|&id| attrs[id as usize].any(Attr::SPECIAL.with(Attr::USER_DEFINED))).collect();
        specials.sort_by(|&a, &b| tokens[b as usize].len().cmp(&tokens[a as usize].len()).then(a.cmp(&b)));

        Ok(Self { tokens, attrs, ids, specials, bos, eos, unk, add_bos, add_eos, eog })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn attr(&self, id: u32) -> Attr {
        self.attrs.get(id as usize).copied().unwrap_or(Attr::UNDEFINED)
    }

    pub fn eog(&self) -> &[u32] {
        &self.eog
    }

    /// Splits text on the texts of special tokens, longest token first, as llama.cpp's
    /// `tokenizer_st_partition` does: user-defined tokens always, control and unknown tokens
    /// only when `parse_special` is true. No fragment is empty.
    pub fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        self.partition_where(text, parse_special, |_, _| true)
    }

    /// [`Vocab::partition`] where an occurrence of a special token, `id` at the byte range
    /// `range` of `text`, is split out only if `accept(id, range)` says so (control and unknown
    /// tokens are considered at all only with `parse_special`); a refused occurrence stays text.
    pub fn partition_where<'a>(&self, text: &'a str, parse_special: bool, accept: impl Fn(u32, Range<usize>) -> bool) -> Vec<Fragment<'a>> {
        let mut fragments = if text.is_empty() { Vec::new() } else { vec![Fragment::Text(text)] };
        for &id in &self.specials {
            if !parse_special && self.attrs[id as usize].any(Attr::SPECIAL) {
                continue;
            }
            let special = self.tokens[id as usize].as_str();
            if !fragments.iter().any(|f| matches!(f, Fragment::Text(t) if t.contains(special))) {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                let Fragment::Text(rest) = fragment else {
                    next.push(fragment);
                    continue;
                };
                // Fragments are slices of `text`.
                let base = rest.as_ptr() as usize - text.as_ptr() as usize;
                let (mut start, mut search) = (0, 0);
                while let Some(found) = rest[search..].find(special) {
                    let at = search + found;
                    let end = at + special.len();
                    if !accept(id, base + at..base + end) {
                        search = at + special.chars().next().map_or(1, char::len_utf8);
                        continue;
                    }
                    if at > start {
                        next.push(Fragment::Text(&rest[start..at]));
                    }
                    next.push(Fragment::Special(id));
                    (start, search) = (end, end);
                }
                if start < rest.len() {
                    next.push(Fragment::Text(&rest[start..]));
                }
            }
            fragments = next;
        }
        fragments
    }
}

/// The end-of-generation ids llama.cpp derives (sorted): the EOS, EOT and EOM ids, the
/// fill-in-the-middle pad, repository and file-separator tokens (`fim_ids` from the keys, in
/// `FIM_TOKENS` order, else found by text), and every token whose text is in `EOG_TEXTS`. Tokens
/// found by text become control tokens, as in llama.cpp.
fn end_of_generation(
    tokens: &[String],
    ids: &HashMap<String, u32>,
    attrs: &mut [Attr],
    fim_ids: &[Option<u32>],
    eos_eot_eom: [Option<u32>; 3],
) -> Vec<u32> {
    let mut eog = Vec::new();
    for (fim, &id) in FIM_TOKENS.iter().zip(fim_ids) {
        // llama.cpp takes the first match in hash-map order; several matches in one vocabulary
        // are not known to occur, the lowest id is taken here.
        let by_text = || fim.texts.iter().filter_map(|text| ids.get(*text).copied()).min();
        let id = match id {
            Some(id) => Some(id),
            None => by_text().inspect(|&id| attrs[id as usize] = attrs[id as usize].with(Attr::CONTROL)),
        };
        if fim.ends_generation {
            eog.extend(id);
        }
    }
    for text in EOG_TEXTS {
        if let Some(&id) = ids.get(*text) {
            eog.push(id);
            attrs[id as usize] = attrs[id as usize].with(Attr::CONTROL);
        }
    }
    for text in ALWAYS_USER_DEFINED {
        if let Some(&id) = ids.get(*text) {
            attrs[id as usize] = Attr::USER_DEFINED;
        }
    }
    eog.extend(eos_eot_eom.into_iter().flatten());
    eog.sort_unstable();
    eog.dedup();

    let find = |eog: &[u32], text: &str| eog.iter().copied().find(|&id| tokens[id as usize] == text);
    let has = |eog: &[u32], text: &str| find(eog, text).is_some();
    // gpt-oss and solar-open end turns with <|return|> or <|calls|>; their <|end|> is not EOG.
    if let Some(end) = find(&eog, "<|end|>") {
        if (has(&eog, "<|return|>") && has(&eog, "<|call|>")) || (has(&eog, "<|calls|>") && has(&eog, "<|flush|>")) {
            eog.retain(|&id| id != end);
            attrs[end as usize] = Attr::USER_DEFINED;
        }
    }
    // Gemma 4 and PLaMo use </s> as an ordinary token.
    if let Some(s) = find(&eog, "</s>") {
        if has(&eog, "<|tool_response>") || has(&eog, "<|plamo:eos|>") {
            eog.retain(|&id| id != s);
            attrs[s as usize] = Attr::NORMAL;
        }
    }
    eog
}

/// The byte of a byte token's text `<0xXX>`.
pub(super) fn byte_of(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tokens_parse_their_hex_digits() {
        assert_eq!(byte_of("<0x0A>"), Some(b'\n'));
        assert_eq!(byte_of("<0xFF>"), Some(0xFF));
        assert_eq!(byte_of("<0xff>"), Some(0xFF));
        assert_eq!(byte_of("<0x1>"), None);
        assert_eq!(byte_of("<0x123>"), None);
        assert_eq!(byte_of("0x41"), None);
        assert_eq!(byte_of("<0x+1>"), None);
    }

    #[test]
    fn attributes_combine_as_flags() {
        let eot_typed_normal = Attr::NORMAL.with(Attr::CONTROL);
        assert!(eot_typed_normal.any(Attr::SPECIAL));
        assert!(eot_typed_normal.any(Attr::NORMAL));
        assert!(!Attr::USER_DEFINED.any(Attr::SPECIAL));
        assert!(!Attr::UNDEFINED.any(Attr::NORMAL));
        assert_eq!(Attr::from_type(6), Attr::BYTE);
        assert_eq!(Attr::from_type(0), Attr::UNDEFINED);
        assert_eq!(Attr::from_type(42), Attr::UNDEFINED);
    }
}
