//! Reading a GGUF file's header once, with metadata accessors whose errors name the key.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;

use crate::{Error, Result};

/// An open GGUF file: its parsed header (metadata and tensor index) and a reader for tensors.
pub struct GgufFile {
    path: PathBuf,
    content: Content,
    reader: BufReader<File>,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader)
            .map_err(|e| Error::model(path, format!("not a readable GGUF file: {e}")))?;
        Ok(Self { path: path.to_path_buf(), content, reader })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model architecture, `general.architecture` (e.g. `qwen2`, `llama`).
    pub fn architecture(&self) -> Result<String> {
        Ok(self.string("general.architecture")?.to_string())
    }

    fn value(&self, key: &str) -> Result<&Value> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| Error::model(&self.path, format!("missing metadata key `{key}`")))
    }

    fn bad_type(&self, key: &str, expected: &str, e: candle_core::Error) -> Error {
        Error::model(&self.path, format!("metadata key `{key}` is not {expected}: {e}"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.content.metadata.contains_key(key)
    }

    pub fn u32(&self, key: &str) -> Result<u32> {
        let value = self.value(key)?;
        // Writers disagree on integer widths; accept any that fits.
        value
            .to_u32()
            .or_else(|_| value.to_u64().map(|v| v as u32))
            .or_else(|_| value.to_i32().map(|v| v as u32))
            .map_err(|e| self.bad_type(key, "an unsigned integer", e))
    }

    pub fn f32(&self, key: &str) -> Result<f32> {
        let value = self.value(key)?;
        value
            .to_f32()
            .or_else(|_| value.to_f64().map(|v| v as f32))
            .map_err(|e| self.bad_type(key, "a float", e))
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        self.value(key)?.to_bool().map_err(|e| self.bad_type(key, "a bool", e))
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        self.value(key)?
            .to_string()
            .map(String::as_str)
            .map_err(|e| self.bad_type(key, "a string", e))
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        let values = self.value(key)?.to_vec().map_err(|e| self.bad_type(key, "an array", e))?;
        values
            .iter()
            .map(|v| v.to_string().cloned().map_err(|e| self.bad_type(key, "an array of strings", e)))
            .collect()
    }

    pub fn i32s(&self, key: &str) -> Result<Vec<i32>> {
        let values = self.value(key)?.to_vec().map_err(|e| self.bad_type(key, "an array", e))?;
        values
            .iter()
            .map(|v| {
                v.to_i32()
                    .or_else(|_| v.to_u32().map(|x| x as i32))
                    .map_err(|e| self.bad_type(key, "an array of integers", e))
            })
            .collect()
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    pub fn tensor(&mut self, name: &str, device: &Device) -> Result<QTensor> {
        if !self.has_tensor(name) {
            return Err(Error::model(&self.path, format!("missing tensor `{name}`")));
        }
        self.content
            .tensor(&mut self.reader, name, device)
            .map_err(|e| Error::model(&self.path, format!("reading tensor `{name}`: {e}")))
    }
}
