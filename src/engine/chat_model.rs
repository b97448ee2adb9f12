//! A loaded instruction-tuned GGUF model: weights, tokenizer and chat template together, with
//! one call that runs a chat prompt to completion.

use std::path::Path;

use super::chat::{strip_thinking, ChatMessage, ChatTemplate};
use super::gguf::GgufFile;
use super::kv_cache::{common_prefix, PrefixCache};
use super::llm::{Llm, LlmConfig, StepKind};
use super::search::{greedy, greedy_batch, greedy_batch_growing, Generation, Job, LoopGuard};
use super::tokenizer::GgufTokenizer;
use crate::Result;

pub struct ChatModel {
    pub llm: Llm,
    pub tokenizer: GgufTokenizer,
    pub template: ChatTemplate,
}

impl ChatModel {
    /// Loads weights, tokenizer and template from one GGUF file, on the CPU.
    pub fn load(path: &Path) -> Result<Self> {
        let mut gguf = GgufFile::open(path)?;
        // Tokenizer and template first: they fail fast on unsupported files, before the
        // weights are read.
        LlmConfig::from_gguf(&gguf)?;
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let template = ChatTemplate::from_gguf(&gguf, &tokenizer)?;
        let llm = Llm::load(&mut gguf)?;
        Ok(Self { llm, tokenizer, template })
    }

    /// Prompt ids for `messages`, ending with the assistant turn's opening.
    pub fn prompt(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        self.template.encode(messages, &self.tokenizer)
    }

    /// The text of generated ids: special tokens dropped, reasoning (`<think>...</think>`, which
    /// Qwen3 may write even when asked not to think) removed.
    pub fn reply_text(&self, ids: &[u32]) -> String {
        strip_thinking(&self.tokenizer.decode(ids, true))
    }

    /// Greedy completion of a prompt, from an empty cache.
    pub fn complete(&self, prompt: &[u32], max_new_tokens: usize, guard: Option<LoopGuard>) -> Result<Generation> {
        let mut cache = self.llm.new_cache();
        greedy(&self.llm, prompt, &mut cache, max_new_tokens, |id| self.tokenizer.is_eog(id), guard)
    }

    /// A decoding job for `prompt` that starts from `prefix` when the prompt begins with it.
    pub fn job_after(&self, prefix: &PrefixCache, prompt: &[u32], max_new_tokens: usize, guard: Option<LoopGuard>) -> Job<'static> {
        let (cache, rest) = prefix.fork(prompt).unwrap_or_else(|| (self.llm.new_cache(), prompt));
        Job { prompt: rest.to_vec(), cache, max_new_tokens, guard, enough: None }
    }

    /// Greedy completion of many jobs, `max_batch` at a time (see [`greedy_batch`]); the
    /// generations come back in job order, each counting its whole prompt (prefix included).
    pub fn complete_all(&self, jobs: Vec<Job<'_>>, max_batch: usize, on_finish: impl FnMut(usize, &Generation)) -> Result<Vec<Generation>> {
        let done = greedy_batch(&self.llm, jobs, max_batch, |id| self.tokenizer.is_eog(id), on_finish)?;
        Ok(done.into_iter().map(|(generation, _)| generation).collect())
    }

    /// [`ChatModel::complete_all`] where finishing a job can add jobs (see [`greedy_batch_growing`]);
    /// the generations of all jobs, added ones included, come back in the order they were given.
    pub fn complete_growing<'a>(
        &self,
        jobs: Vec<Job<'a>>,
        max_batch: usize,
        on_finish: impl FnMut(usize, &Generation) -> Vec<Job<'a>>,
    ) -> Result<Vec<Generation>> {
        let done = greedy_batch_growing(&self.llm, jobs, max_batch, |id| self.tokenizer.is_eog(id), on_finish)?;
        Ok(done.into_iter().map(|(generation, _)| generation).collect())
    }

    /// Computes the cache of the prefix that every prompt made by `make_prompt` shares: the
    /// common token prefix of the prompts for two different texts.
    pub fn shared_prefix(&self, make_prompt: impl Fn(&str) -> Vec<ChatMessage>) -> Result<PrefixCache> {
        self.shared_prefix_after(None, make_prompt)
    }

    /// [`ChatModel::shared_prefix`] computed from the part of `base` it begins with (see
    /// [`ChatModel::prefix_cache_after`]).
    pub fn shared_prefix_after(&self, base: Option<&PrefixCache>, make_prompt: impl Fn(&str) -> Vec<ChatMessage>) -> Result<PrefixCache> {
        let a = self.prompt(&make_prompt("Alpha"))?;
        let b = self.prompt(&make_prompt("Omega"))?;
        self.prefix_cache_after(base, &[a, b])
    }

    /// Computes the cache of the longest token prefix that all `prompts` share.
    pub fn prefix_cache(&self, prompts: &[Vec<u32>]) -> Result<PrefixCache> {
        self.prefix_cache_after(None, prompts)
    }

    /// [`ChatModel::prefix_cache`] that starts from the part of `base` the prefix begins with, so
    /// that only the rest is computed (a second translation's prompt shares the system prompt and
    /// the examples with the first's).
    pub fn prefix_cache_after(&self, base: Option<&PrefixCache>, prompts: &[Vec<u32>]) -> Result<PrefixCache> {
        let ids = prompts.iter().skip(1).fold(prompts.first().cloned().unwrap_or_default(), |ids, p| common_prefix(&ids, p));
        if ids.len() < 2 {
            return Ok(PrefixCache { ids, cache: self.llm.new_cache() });
        }
        // Positions are computed as part of any prompt that extends the prefix by at least 3
        // tokens (see PrefixCache::fork); `base` was computed the same way, and keys and values of
        // a position depend only on the positions before it.
        let (mut cache, rest) = match base.and_then(|b| b.fork(&ids)) {
            Some((cache, rest)) => (cache, rest.to_vec()),
            None => (self.llm.new_cache(), ids.clone()),
        };
        self.llm.forward(&rest, &mut cache, StepKind::Prompt { len: ids.len() + 3 })?;
        Ok(PrefixCache { ids, cache })
    }

    /// The context window left for generation after a prompt of `prompt_len` tokens.
    pub fn room_after(&self, prompt_len: usize) -> usize {
        self.llm.config().context_length.saturating_sub(prompt_len)
    }
}
