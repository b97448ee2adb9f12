//! Command-line flags (clap derive), converted once into a validated [`Config`]. Library code
//! never sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::batch::discover::Shard;
use crate::config::{BatchSettings, Command, Config, OutputFormat, TranslationEngine};
use crate::engine::marian::{GenerationOverrides, Precision, MAX_BEAMS};
use crate::input::DEFAULT_MAX_BYTES;
use crate::models::{ModelSpec, ModelStore};
use crate::summarize::SummarizeSettings;
use crate::translate::marian::MarianSettings;
use crate::translate::TranslateSettings;
use crate::{Error, Result};

/// French news articles in, English translation and a short factual briefing out, offline.
#[derive(Debug, Parser)]
#[command(name = "precis", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,

    /// Only print warnings and errors on stderr (no progress).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More detail on stderr (repeat for debug output).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Instruction-set level of the kernels: `portable` (any CPU), `avx2` (x86-64 with AVX2, FMA
    /// and F16C) or `avx512` (AVX2 plus AVX-512 F/CD/VL/DQ/BW). `portable` and `avx2` give the
    /// results of llama.cpp's AVX2 build, `avx512` those of its AVX-512 build (which rounds some
    /// float sums differently). Default: $PRECIS_CPU if set, else the highest level this CPU
    /// supports.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub cpu: Option<String>,
}

/// The chat model and how it runs: every command that loads it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Model")]
pub struct ModelArgs {
    /// GGUF model: a local file, or a Hugging Face Hub id `REPO_ID[:FILE]` (e.g.
    /// `Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:qwen2.5-coder-1.5b-instruct-q4_k_m.gguf`).
    /// Default: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, fetched on first use (see `precis help
    /// fetch-models`).
    #[arg(long, value_name = "PATH|REPO_ID[:FILE]")]
    pub model: Option<String>,

    /// Hub revision (branch, tag or commit) for a Hub `--model`.
    #[arg(long, default_value = "main")]
    pub revision: String,

    /// CPU threads for inference. Default: all available cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// What is read: every command that reads articles or text.
#[derive(Debug, Args)]
#[command(next_help_heading = "Input")]
pub struct InputArgs {
    /// Refuse inputs (files, JSONL records) larger than this many bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES, value_name = "BYTES")]
    pub max_bytes: u64,
}

/// How French is translated: the commands that translate.
#[derive(Debug, Args)]
#[command(next_help_heading = "Translation")]
pub struct TranslationArgs {
    /// Paragraphs longer than this many tokens are translated in groups of whole sentences
    /// (a single longer sentence is cut at clauses).
    #[arg(long, default_value_t = 400, value_name = "TOKENS")]
    pub max_segment_tokens: usize,

    /// Translate articles even when they are detected as not French (English, German, ...);
    /// without it they are refused with an error naming the language.
    #[arg(long)]
    pub force_language: bool,

    /// Extra French -> English terms (`french<TAB>english`, one per line, accepted English forms
    /// separated by ` | `), used with the built-in table; its entries win.
    #[arg(long, value_name = "FILE")]
    pub glossary: Option<PathBuf>,

    /// Translate with the plain prompt only: no glossary terms, no checks, no second
    /// translation of paragraphs that fail a check (the output of llama.cpp's greedy decoding
    /// of the same prompt; for benchmarks and comparisons).
    #[arg(long)]
    pub plain: bool,

    /// Translation engine: `llm` (the GGUF chat model of --model) or `marian` (an opus-mt
    /// encoder-decoder checkpoint, see --translation-model).
    #[arg(long, value_enum, default_value_t = EngineArg::Llm)]
    pub engine: EngineArg,

    #[command(flatten)]
    pub marian: MarianArgs,
}

/// The options of a command that translates, reads input and loads the model.
#[derive(Debug, Args)]
pub struct TranslatingArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub translation: TranslationArgs,
}

/// `T` with every option at its default, as the command line gives it when none is written
/// (for the commands that do not offer `T`'s options).
fn defaults<T: Args + clap::FromArgMatches>() -> T {
    let matches = T::augment_args(clap::Command::new("defaults")).get_matches_from(["defaults"]);
    T::from_arg_matches(&matches).unwrap_or_else(|err| panic!("an option without a default: {err}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Llm,
    Marian,
}

/// Options of `--engine marian`. Defaults come from the checkpoint's generation_config.json.
#[derive(Debug, Args)]
#[command(next_help_heading = "Marian engine (--engine marian)")]
pub struct MarianArgs {
    /// Marian checkpoint: a local directory (config.json, model.safetensors or
    /// pytorch_model.bin, source.spm, target.spm, vocab.json) or a Hub repository id such as
    /// `Helsinki-NLP/opus-mt-fr-en` (at --revision, through the Hugging Face cache). For
    /// `translate`, --model works too; for `brief` it must be given here, since --model stays the
    /// LLM that writes the summary.
    #[arg(long, value_name = "DIR|REPO_ID")]
    pub translation_model: Option<String>,

    /// Beam size; 1 is greedy decoding. Default: the checkpoint's num_beams.
    #[arg(long, value_name = "N")]
    pub beams: Option<usize>,

    /// At most N generated tokens per sentence, EOS included (HF max_new_tokens); the last one is
    /// EOS when the checkpoint sets forced_eos_token_id (Marian checkpoints do). Default: the
    /// checkpoint's max_length - 1.
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,

    /// No EOS before N tokens were generated (HF min_new_tokens). Default: the checkpoint's.
    #[arg(long, value_name = "N")]
    pub min_length: Option<usize>,

    /// Sentences per padded batch (sorted by length).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub batch_size: usize,

    /// Int8 weights (a scale per row, as CTranslate2) for every linear layer: faster, less memory, slightly different output.
    #[arg(long)]
    pub int8: bool,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Translate a French article and summarize it: Markdown (or JSON) on stdout.
    Brief {
        /// Article file (first non-empty line is the title, paragraphs separated by blank
        /// lines or by single newlines), or `-` for stdin.
        article: String,
        /// Print one JSON object instead of Markdown.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        options: TranslatingArgs,
    },
    /// Translate French text to English, keeping its paragraph structure.
    Translate {
        /// Text file, or `-` for stdin.
        #[arg(required_unless_present = "lines")]
        article: Option<String>,
        /// Treat each line of FILE as one segment and print exactly one line per input line.
        #[arg(long, value_name = "FILE", conflicts_with = "article")]
        lines: Option<String>,
        /// JSON output: with --lines, one object per line (`line`, `text`, `tokens`, ...).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        options: TranslatingArgs,
    },
    /// Summarize English text (first line is treated as the title).
    Summarize {
        /// Text file, or `-` for stdin.
        file: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Brief many articles into a directory, for scheduled jobs.
    ///
    /// Writes `<id>.json` and `<id>.md` per article and `report.json`. Articles already done with the same input, model and settings
    /// are skipped; outputs are written atomically; a second run on the same DIR is refused.
    /// Exit code 0: all ok or skipped; 1: some articles failed; 2: the run could not start;
    /// 130 (143): stopped by Ctrl-C (SIGTERM) after the write in progress.
    Run {
        /// Article files (.txt, .md, .html), directories (walked for those and for .jsonl),
        /// JSONL files of {"id": ..., "text": ...} records, or `-` for JSONL on stdin.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Process every article again, even those whose outputs are up to date.
        #[arg(long)]
        force: bool,
        /// Process only shard I of N (0 <= I < N): the articles whose id hashes to I. Default:
        /// from JOB_COMPLETION_INDEX and JOB_COMPLETIONS (Kubernetes Indexed Job) or
        /// SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT (a whole,
        /// contiguous Slurm array; others are refused). Shards of another N cannot run in DIR
        /// at the same time.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        #[command(flatten)]
        options: TranslatingArgs,
    },
    /// Fetch and verify the default model (and with --all the test models); prints their paths.
    ///
    /// Models go to $PRECIS_MODELS_DIR, else to `precis/models` in the user's data directory
    /// (~/.local/share/precis/models on Linux).
    FetchModels {
        /// Also fetch the test models: Qwen2.5-Coder 0.5B (draft model and quick tests) and
        /// Gemma 3 270M (SentencePiece tokenizer tests).
        #[arg(long)]
        all: bool,
    },
    /// Print shell completions or the man page for precis on stdout.
    ///
    /// For example: `precis generate bash > ~/.local/share/bash-completion/completions/precis`,
    /// `precis generate man > ~/.local/share/man/man1/precis.1`.
    Generate {
        /// What to generate.
        #[arg(value_enum)]
        what: Generated,
    },
    /// Measure prefill and decode speed on a raw prompt (for scripts/bench-llm.sh).
    #[command(hide = true)]
    BenchLlm {
        /// Prompt text file, tokenized as is with special tokens recognised.
        #[arg(long)]
        prompt_file: PathBuf,
        /// Put the file's text into the translation chat prompt instead.
        #[arg(long)]
        as_translate: bool,
        /// Tokens to generate (greedy, end-of-generation ignored).
        #[arg(long, default_value_t = 128)]
        n_predict: usize,
        /// Runs; the best one is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Also write the logits after the prompt (little-endian f32, one per vocabulary entry)
        /// here, for scripts/ref/compare_logits.py.
        #[arg(long)]
        logits_out: Option<PathBuf>,
        /// Also time speculative decoding with this draft model (same vocabulary) against plain
        /// greedy decoding, both stopping at end of generation.
        #[arg(long)]
        draft: Option<PathBuf>,
        /// Tokens the draft guesses per step.
        #[arg(long, default_value_t = 3)]
        lookahead: usize,
        #[command(flatten)]
        model: ModelArgs,
    },
}

impl Cli {
    /// Validates the flags into a [`Config`].
    pub fn into_config(self) -> Result<Config> {
        let format = |json: bool| if json { OutputFormat::Json } else { OutputFormat::Text };
        let translating = |options: TranslatingArgs| (options.model, options.input, options.translation);
        let (command, (model, input, translation)) = match self.command {
            CliCommand::Brief { article, json, options } => (Command::Brief { input: article, format: format(json) }, translating(options)),
            CliCommand::Translate { article, lines, json, options } => {
                let command = match (article, lines) {
                    (_, Some(file)) => Command::TranslateLines { input: file, format: format(json) },
                    (Some(article), None) => Command::Translate { input: article, format: format(json) },
                    (None, None) => return Err(Error::Config("translate needs ARTICLE or --lines FILE".into())),
                };
                (command, translating(options))
            }
            CliCommand::Summarize { file, json, model, input } => {
                (Command::Summarize { input: file, format: format(json) }, (model, input, defaults()))
            }
            CliCommand::FetchModels { all } => (Command::FetchModels { all }, (defaults(), defaults(), defaults())),
            CliCommand::Generate { .. } => return Err(Error::Config("`generate` runs before a configuration is made".into())),
            CliCommand::BenchLlm { prompt_file, as_translate, n_predict, repeat, logits_out, draft, lookahead, model } => {
                let command = Command::BenchLlm {
                    prompt_file,
                    as_translate,
                    n_predict,
                    repeat: repeat.max(1),
                    logits_out,
                    draft,
                    lookahead: lookahead.max(1),
                };
                (command, (model, defaults(), defaults()))
            }
            CliCommand::Run { inputs, out, force, shard, options } => {
                let shard = match shard {
                    Some(value) => Some((Shard::parse(&value)?, "--shard".to_string())),
                    None => Shard::from_env(|name| std::env::var(name).ok())?.map(|(s, from)| (s, from.to_string())),
                };
                (Command::Run(BatchSettings { inputs, out, force, shard }), translating(options))
            }
        };
        let threads = match model.threads {
            Some(0) => return Err(Error::Config("--threads must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        };
        if input.max_bytes == 0 {
            return Err(Error::Config("--max-bytes must be at least 1".into()));
        }
        if translation.max_segment_tokens < 16 {
            return Err(Error::Config("--max-segment-tokens must be at least 16".into()));
        }
        let engine = translation.engine(&command, model.model.as_deref())?;
        let cpu = crate::engine::cpu::requested(self.cpu.as_deref()).map_err(Error::Config)?;
        let mut store = ModelStore::from_env();
        store.revision = model.revision;
        store.progress = !self.quiet;
        Ok(Config {
            command,
            model: model.model.as_deref().map(ModelSpec::parse).unwrap_or(ModelSpec::Default),
            store,
            threads,
            cpu,
            progress: !self.quiet,
            max_bytes: input.max_bytes,
            force_language: translation.force_language,
            translate: TranslateSettings {
                max_segment_tokens: translation.max_segment_tokens,
                faithful: !translation.plain,
                ..Default::default()
            },
            glossary: translation.glossary,
            summarize: SummarizeSettings::default(),
            translation: engine,
        })
    }
}

impl TranslationArgs {
    /// The translation engine these options choose; `model` is `--model`.
    fn engine(&self, command: &Command, model: Option<&str>) -> Result<TranslationEngine> {
        let m = &self.marian;
        if self.engine == EngineArg::Llm {
            if m.translation_model.is_some() {
                return Err(Error::Config("--translation-model needs --engine marian".into()));
            }
            return Ok(TranslationEngine::Llm);
        }
        let checkpoint = match (command, m.translation_model.as_deref(), model) {
            (_, Some(dir), _) => dir,
            (Command::Translate { .. } | Command::TranslateLines { .. }, None, Some(dir)) => dir,
            (Command::Brief { .. } | Command::Run(_), None, _) => {
                return Err(Error::Config(
                    "brief and run with --engine marian need --translation-model DIR|REPO_ID (--model is the LLM that \
                     summarizes)"
                        .into(),
                ))
            }
            _ => return Err(Error::Config("--engine marian needs --model DIR|REPO_ID (a Marian checkpoint)".into())),
        };
        if m.batch_size == 0 || m.beams == Some(0) || m.max_length == Some(0) {
            return Err(Error::Config("--batch-size, --beams and --max-length must be at least 1".into()));
        }
        if let Some(beams) = m.beams.filter(|&b| b > MAX_BEAMS) {
            return Err(Error::Config(format!("--beams is {beams}, at most {MAX_BEAMS} supported")));
        }
        Ok(TranslationEngine::Marian {
            checkpoint: ModelSpec::parse(checkpoint),
            precision: if m.int8 { Precision::Int8 } else { Precision::F32 },
            settings: MarianSettings {
                overrides: GenerationOverrides {
                    num_beams: m.beams,
                    max_new_tokens: m.max_length,
                    min_new_tokens: m.min_length,
                    ..Default::default()
                },
                batch_size: m.batch_size,
            },
        })
    }
}

/// What `precis generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    /// The man page (roff), precis(1).
    Man,
}

impl Generated {
    /// Writes the completions or man page of the command line defined here.
    pub fn write(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        use clap::CommandFactory;
        use clap_complete::Shell;
        let mut command = Cli::command();
        let shell = match self {
            Generated::Man => return clap_mangen::Man::new(command).render(out),
            Generated::Bash => Shell::Bash,
            Generated::Zsh => Shell::Zsh,
            Generated::Fish => Shell::Fish,
            Generated::Elvish => Shell::Elvish,
            Generated::Powershell => Shell::PowerShell,
        };
        clap_complete::generate(shell, &mut command, "precis", out);
        Ok(())
    }
}
