//! The model's own chat template (`tokenizer.chat_template`), rendered the way HF transformers
//! renders it (Jinja with `trim_blocks` and `lstrip_blocks`, `add_generation_prompt=true`).
//!
//! Message contents are never parsed for special tokens: the template is rendered with
//! placeholders in their place, the template text around them is tokenized with special tokens
//! recognised, and each content is tokenized as plain text. For contents without leading or
//! trailing whitespace this gives the same ids as tokenizing the whole rendered prompt, but an
//! article that contains `<|im_end|>` cannot close the turn.

use minijinja::{context, Environment, ErrorKind};
use serde::Serialize;

use super::gguf::GgufFile;
use super::tokenizer::GgufTokenizer;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: "system".into(), content: content.into() }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self { role: "user".into(), content: content.into() }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: "assistant".into(), content: content.into() }
    }
}

/// Marks the place of message `i` in a rendered template; private-use characters that no
/// template or article would write.
fn placeholder(i: usize) -> String {
    format!("\u{F8FF}precis-content-{i}\u{F8FF}")
}

pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    pub fn from_gguf(gguf: &GgufFile, tokenizer: &GgufTokenizer) -> Result<Self> {
        let source = gguf.string("tokenizer.chat_template").map_err(|_| {
            Error::model(gguf.path(), "has no chat template (tokenizer.chat_template); precis needs an instruction-tuned model")
        })?;
        let token_text = |key: &str| -> Result<String> {
            if !gguf.has(key) {
                return Ok(String::new());
            }
            Ok(tokenizer.decode(&[gguf.u32(key)?], false))
        };
        let bos_token = token_text("tokenizer.ggml.bos_token_id")?;
        let eos_token = token_text("tokenizer.ggml.eos_token_id")?;
        Self::new(source, bos_token, eos_token).map_err(|e| Error::model(gguf.path(), format!("chat template: {e}")))
    }

    pub fn new(source: &str, bos_token: String, eos_token: String) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", source.to_string())?;
        Ok(Self { env, bos_token, eos_token })
    }

    /// The prompt text, exactly as transformers' `apply_chat_template(..., tokenize=False,
    /// add_generation_prompt=True)` would produce it.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        let template = self.env.get_template("chat").map_err(template_error)?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(template_error)
    }

    /// Prompt token ids: template text with special tokens recognised, contents as plain text.
    pub fn encode(&self, messages: &[ChatMessage], tokenizer: &GgufTokenizer) -> Result<Vec<u32>> {
        let masked: Vec<ChatMessage> =
            messages.iter().enumerate().map(|(i, m)| ChatMessage { role: m.role.clone(), content: placeholder(i) }).collect();
        let mut rest = self.render(&masked)?;
        let mut ids = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let mark = placeholder(i);
            let Some(at) = rest.find(&mark) else {
                return Err(Error::Tokenizer(format!("the chat template dropped message {i} ({}); cannot build the prompt", message.role)));
            };
            ids.extend(tokenizer.encode(&rest[..at], true)?);
            ids.extend(tokenizer.encode(&message.content, false)?);
            rest = rest[at + mark.len()..].to_string();
        }
        ids.extend(tokenizer.encode(&rest, true)?);
        Ok(ids)
    }
}

fn template_error(e: minijinja::Error) -> Error {
    Error::Tokenizer(format!("chat template: {e:#}"))
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
}
