//! Reading a GGUF file's header once, with metadata accessors whose errors name the key.

use std::fs::File;
use std::io::BufReader;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};

mod header;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use super::quant::{Kind, QMatrix};

use crate::{Error, Result};

/// An open GGUF file: its parsed header (metadata and tensor index) and a reader for tensors.
pub struct GgufFile {
    path: PathBuf,
    content: Content,
    file: File,
    file_size: u64,
    /// The last tensor's bytes, read into the same buffer every time (fresh buffers cost a page
    /// fault per 4 KB: the weights' gigabyte once more).
    scratch: Vec<u8>,
    /// Whether [`GgufFile::expansion_warning`] was logged (once, at the first expanded matrix).
    warned: bool,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let content = header::read(&mut BufReader::new(&file), file_size).map_err(|e| Error::model(path, e))?;
        Ok(Self { path: path.to_path_buf(), content, file, file_size, scratch: Vec::new(), warned: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model architecture, `general.architecture` (e.g. `qwen2`, `llama`).
    pub fn architecture(&self) -> Result<String> {
        Ok(self.string("general.architecture")?.to_string())
    }

    fn value(&self, key: &str) -> Result<&Value> {
        self.content.metadata.get(key).ok_or_else(|| Error::model(&self.path, format!("missing metadata key `{key}`")))
    }

    fn bad_type(&self, key: &str, expected: &str, e: candle_core::Error) -> Error {
        Error::model(&self.path, format!("metadata key `{key}` is not {expected}: {e}"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.content.metadata.contains_key(key)
    }

    pub fn u32(&self, key: &str) -> Result<u32> {
        // Writers disagree on integer widths; accept any that holds the value.
        let value = match self.value(key)? {
            Value::U8(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            other => {
                return Err(Error::model(&self.path, format!("metadata key `{key}` is a {:?}, expected an integer", other.value_type())))
            }
        };
        value.and_then(|v| u32::try_from(v).ok()).ok_or_else(|| {
            Error::model(
                &self.path,
                format!("metadata key `{key}` is {:?}, expected an integer from 0 to {}", self.content.metadata[key], u32::MAX),
            )
        })
    }

    /// A token id at `key`: `None` when the key is absent or holds -1 (in any integer width, or
    /// as u32::MAX), which converters write for "no such token".
    pub fn token_id(&self, key: &str) -> Result<Option<u32>> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(Value::I8(-1) | Value::I16(-1) | Value::I32(-1) | Value::I64(-1) | Value::U32(u32::MAX)) => Ok(None),
            Some(_) => self.u32(key).map(Some),
        }
    }

    /// The number of elements of the array at `key` (an error if it is not an array).
    pub fn array_len(&self, key: &str) -> Result<usize> {
        self.value(key)?.to_vec().map(Vec::len).map_err(|e| self.bad_type(key, "an array", e))
    }

    pub fn f32(&self, key: &str) -> Result<f32> {
        let value = self.value(key)?;
        value.to_f32().or_else(|_| value.to_f64().map(|v| v as f32)).map_err(|e| self.bad_type(key, "a float", e))
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        self.value(key)?.to_bool().map_err(|e| self.bad_type(key, "a bool", e))
    }

    /// Whether the value of `key` is an array.
    pub fn is_array(&self, key: &str) -> bool {
        self.content.metadata.get(key).is_some_and(|v| v.to_vec().is_ok())
    }

    pub fn bools(&self, key: &str) -> Result<Vec<bool>> {
        let values = self.value(key)?.to_vec().map_err(|e| self.bad_type(key, "an array", e))?;
        values.iter().map(|v| v.to_bool().map_err(|e| self.bad_type(key, "an array of bools", e))).collect()
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        self.value(key)?.to_string().map(String::as_str).map_err(|e| self.bad_type(key, "a string", e))
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        let values = self.value(key)?.to_vec().map_err(|e| self.bad_type(key, "an array", e))?;
        values.iter().map(|v| v.to_string().cloned().map_err(|e| self.bad_type(key, "an array of strings", e))).collect()
    }

    pub fn i32s(&self, key: &str) -> Result<Vec<i32>> {
        let values = self.value(key)?.to_vec().map_err(|e| self.bad_type(key, "an array", e))?;
        values
            .iter()
            .map(|v| v.to_i32().or_else(|_| v.to_u32().map(|x| x as i32)).map_err(|e| self.bad_type(key, "an array of integers", e)))
            .collect()
    }

    /// An array of numbers as f32 (integer arrays too: llama.cpp accepts int32 token scores).
    pub fn f32s(&self, key: &str) -> Result<Vec<f32>> {
        let values = self.value(key)?.to_vec().map_err(|e| self.bad_type(key, "an array", e))?;
        values
            .iter()
            .map(|v| v.to_f32().or_else(|_| v.to_i32().map(|x| x as f32)).map_err(|e| self.bad_type(key, "an array of numbers", e)))
            .collect()
    }

    /// The shape of tensor `name` (outermost dimension first), if the file has it.
    pub fn tensor_shape(&self, name: &str) -> Option<&[usize]> {
        self.content.tensor_infos.get(name).map(|info| info.shape.dims())
    }

    /// The names of the file's tensors, in no particular order.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.content.tensor_infos.keys().map(String::as_str)
    }

    /// The stored type of tensor `name`, if the file has it.
    pub fn tensor_dtype(&self, name: &str) -> Option<GgmlDType> {
        self.content.tensor_infos.get(name).map(|info| info.ggml_dtype)
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.content.tensor_infos.get(name).ok_or_else(|| Error::model(&self.path, format!("missing tensor `{name}`")))
    }

    pub fn tensor(&mut self, name: &str, device: &Device) -> Result<QTensor> {
        let info = self.info(name)?;
        let (path, dtype, dims) = (self.path.clone(), info.ggml_dtype, info.shape.dims().to_vec());
        let bytes = self.tensor_bytes(name)?;
        qtensor_from_ggml(dtype, bytes, dims, device).map_err(|e| Error::model(&path, format!("reading tensor `{name}`: {e}")))
    }
}

impl GgufFile {
    /// A 2-D weight tensor as a [`QMatrix`] of `(rows, cols)`: the types of [`NATIVE_TYPES`]
    /// stay quantized in the file's block layout; any other type is dequantized to f32, with a
    /// warning (once per file, see [`GgufFile::expansion_warning`]).
    ///
    /// Expanding rather than refusing: a file of native types may hold a few matrices of
    /// others (llama.cpp's quantizer falls back to F16 where a width is not a multiple of the
    /// block size, and some recipes keep a matrix in F16 or BF16), and refusing would reject
    /// the whole file for those. The warning says what it costs before the memory is taken.
    pub fn matrix(&mut self, name: &str) -> Result<QMatrix> {
        // The kept types straight from the file's bytes (candle would copy them three times
        // more on the way: a load of 1.1 GB took 1.7 s).
        let info = self.info(name)?;
        if let (Some(kind), &[rows, cols]) = (kept_kind(info.ggml_dtype), info.shape.dims()) {
            let path = self.path.clone();
            let bytes = self.tensor_bytes(name)?;
            let matrix = QMatrix::from_blocks(kind, rows, cols, bytes).map_err(|e| Error::model(&path, format!("tensor `{name}`: {e}")));
            self.release_scratch();
            return matrix;
        }
        let tensor = self.tensor(name, &Device::Cpu)?;
        let fail = |e: String| Error::model(&self.path, format!("tensor `{name}`: {e}"));
        let (rows, cols) = match tensor.shape().dims() {
            [rows, cols] => (*rows, *cols),
            dims => return Err(fail(format!("expected a matrix, found shape {dims:?}"))),
        };
        // Any type not kept is dequantized.
        if !self.warned {
            self.warned = true;
            if let Some(warning) = self.expansion_warning() {
                tracing::warn!("{}: {warning}", self.path.display());
            }
        }
        tracing::debug!("tensor {name}: {} dequantized to f32", type_name(tensor.dtype()));
        let values = tensor.dequantize(&Device::Cpu).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).map_err(|e| fail(e.to_string()))?;
        self.release_scratch();
        Ok(QMatrix::from_f32(rows, cols, values))
    }

    /// What loading the file's weight matrices of types that are not run natively costs (they
    /// are dequantized to f32), or `None` when there are none: per type the number of matrices
    /// and their size in the file and in memory.
    pub fn expansion_warning(&self) -> Option<String> {
        let mut by_type: Vec<(GgmlDType, usize, usize, usize)> = Vec::new();
        for info in self.content.tensor_infos.values() {
            let dtype = info.ggml_dtype;
            if info.shape.rank() != 2 || kept_kind(dtype).is_some() {
                continue;
            }
            let elems = info.shape.elem_count();
            let file_bytes = elems / dtype.block_size() * dtype.type_size();
            match by_type.iter_mut().find(|(t, ..)| *t == dtype) {
                Some((_, count, file, memory)) => {
                    *count += 1;
                    *file += file_bytes;
                    *memory += 4 * elems;
                }
                None => by_type.push((dtype, 1, file_bytes, 4 * elems)),
            }
        }
        if by_type.is_empty() {
            return None;
        }
        by_type.sort_by_key(|(dtype, ..)| type_name(*dtype));
        let mb = |bytes: usize| bytes as f64 / 1e6;
        let parts: Vec<String> = by_type
            .iter()
            .map(|&(dtype, count, file, memory)| {
                let noun = if count == 1 { "matrix" } else { "matrices" };
                format!("{count} {} {noun} ({:.1} MB in the file, {:.1} MB as f32)", type_name(dtype), mb(file), mb(memory))
            })
            .collect();
        Some(format!(
            "weights of types this engine does not run natively are expanded to f32: {}; their products are computed in f32, \
             not bit-identical to llama.cpp's (native types: {})",
            parts.join(", "),
            NATIVE_TYPES.join(", ")
        ))
    }

    /// A tensor's bytes as stored in the file, after checking that the file holds them all.
    fn tensor_bytes(&mut self, name: &str) -> Result<&[u8]> {
        let info = self.info(name)?;
        let fail = |e: String| Error::model(&self.path, format!("reading tensor `{name}`: {e}"));
        let (elems, block) = (info.shape.elem_count(), info.ggml_dtype.block_size());
        if !elems.is_multiple_of(block) {
            return Err(fail(format!("{elems} values is not a whole number of {block}-value blocks")));
        }
        let size = elems / block * info.ggml_dtype.type_size();
        let start = self.content.tensor_data_offset.saturating_add(info.offset);
        if start.saturating_add(size as u64) > self.file_size {
            let file_size = self.file_size;
            return Err(fail(format!("{size} bytes at offset {start} go past the end of the file ({file_size} bytes): truncated?")));
        }
        if size > KEPT_SCRATCH_BYTES {
            // A large tensor (an embedding matrix: 145 MB in Qwen2.5 0.5B) gets a buffer of its
            // own, freed once it is converted, so that none stays beside the weights.
            self.scratch = Vec::new();
        }
        if self.scratch.len() < size {
            self.scratch.resize(size, 0);
        }
        read_at(&self.file, &mut self.scratch[..size], start).map_err(|e| Error::io(&self.path, e))?;
        Ok(&self.scratch[..size])
    }

    /// Frees the buffer a large tensor was read into (see [`GgufFile::tensor_bytes`]).
    fn release_scratch(&mut self) {
        if self.scratch.len() > KEPT_SCRATCH_BYTES {
            self.scratch = Vec::new();
        }
    }

    /// A 1-D tensor (norm weights, biases) as f32.
    pub fn vector(&mut self, name: &str) -> Result<Vec<f32>> {
        let tensor = self.tensor(name, &Device::Cpu)?;
        tensor
            .dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
            .map_err(|e| Error::model(&self.path, format!("tensor `{name}`: {e}")))
    }
}

/// Tensors up to this size are read into a buffer kept for the next (the per-layer matrices);
/// larger ones into a buffer freed after use.
const KEPT_SCRATCH_BYTES: usize = 32 << 20;

/// Fills `buf` from `file` at `offset`; a large read in parallel pieces (one per thread, see
/// [`super::quant::load_task_len`]), which copy out of the page cache faster than one.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let piece = super::quant::load_task_len(buf.len(), 1);
        let tasks: Vec<_> = buf.chunks_mut(piece).enumerate().collect();
        let failure = std::sync::Mutex::new(None);
        super::pool::for_each(tasks, |(i, chunk)| {
            if let Err(e) = file.read_exact_at(chunk, offset + (i * piece) as u64) {
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            }
        });
        failure.into_inner().unwrap_or_else(|e| e.into_inner()).map_or(Ok(()), Err)
    }
    #[cfg(not(unix))]
    {
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// The weight types a matrix is kept in as it is in the file, the quantized ones multiplied as
/// llama.cpp multiplies them on AVX2 (see [`super::quant`]).
pub const NATIVE_TYPES: [&str; 11] = ["Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K", "Q8_0", "F32", "F16", "BF16"];

/// The kind of [`QMatrix`] that keeps a ggml type as it is in the file, if one does.
fn kept_kind(dtype: GgmlDType) -> Option<Kind> {
    match dtype {
        GgmlDType::Q4_0 => Some(Kind::Q4_0),
        GgmlDType::Q4_1 => Some(Kind::Q4_1),
        GgmlDType::Q5_0 => Some(Kind::Q5_0),
        GgmlDType::Q5_1 => Some(Kind::Q5_1),
        GgmlDType::Q4K => Some(Kind::Q4K),
        GgmlDType::Q5K => Some(Kind::Q5K),
        GgmlDType::Q6K => Some(Kind::Q6K),
        GgmlDType::Q8_0 => Some(Kind::Q8_0),
        GgmlDType::F32 => Some(Kind::F32),
        GgmlDType::F16 => Some(Kind::F16),
        GgmlDType::BF16 => Some(Kind::BF16),
        _ => None,
    }
}

/// ggml's name of a type (`ggml_type_name`).
fn type_name(dtype: GgmlDType) -> &'static str {
    match dtype {
        GgmlDType::F32 => "F32",
        GgmlDType::F16 => "F16",
        GgmlDType::BF16 => "BF16",
        GgmlDType::Q4_0 => "Q4_0",
        GgmlDType::Q4_1 => "Q4_1",
        GgmlDType::Q5_0 => "Q5_0",
        GgmlDType::Q5_1 => "Q5_1",
        GgmlDType::Q8_0 => "Q8_0",
        GgmlDType::Q8_1 => "Q8_1",
        GgmlDType::Q2K => "Q2_K",
        GgmlDType::Q3K => "Q3_K",
        GgmlDType::Q4K => "Q4_K",
        GgmlDType::Q5K => "Q5_K",
        GgmlDType::Q6K => "Q6_K",
        GgmlDType::Q8K => "Q8_K",
    }
}

/// Why a tensor of ggml type `id`, which candle's types do not include (the i-quants, the
/// ternary and FP4 types, ...), cannot be read, naming the type.
fn unreadable_type(id: u32) -> String {
    const NAMES: [(u32, &str); 17] = [
        (16, "IQ2_XXS"),
        (17, "IQ2_XS"),
        (18, "IQ3_XXS"),
        (19, "IQ1_S"),
        (20, "IQ4_NL"),
        (21, "IQ3_S"),
        (22, "IQ2_S"),
        (23, "IQ4_XS"),
        (24, "I8"),
        (25, "I16"),
        (26, "I32"),
        (27, "I64"),
        (28, "F64"),
        (29, "IQ1_M"),
        (34, "TQ1_0"),
        (35, "TQ2_0"),
        (39, "MXFP4"),
    ];
    let name = NAMES.iter().find(|(n, _)| *n == id).map_or("an unknown type", |(_, name)| name);
    format!(
        "ggml type {id} ({name}), which this engine cannot read; weight types it runs: {} \
         (and Q8_1, Q2_K, Q3_K, Q8_K expanded to f32)",
        NATIVE_TYPES.join(", ")
    )
}
