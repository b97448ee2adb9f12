//! The GGUF header read with every count, length and offset checked against the file, so that
//! a damaged or hostile file gives an error naming what is wrong rather than a huge allocation,
//! a division by zero or a tensor read from the wrong place.
//!
//! The checks follow llama.cpp's `gguf_init_from_file_impl` (`ggml/src/gguf.cpp`): at most
//! four dimensions, none negative, a product that fits in 63 bits, a first dimension that is a
//! whole number of blocks, `general.alignment` a power of two, every tensor aligned and inside
//! the data section. Further: no key and no tensor name twice (a second entry would otherwise
//! silently win), and no two tensors' bytes overlapping.

use std::collections::HashMap;
use std::io::Read;

use candle_core::quantized::gguf_file::{Content, TensorInfo, Value, VersionedMagic};
use candle_core::quantized::GgmlDType;

/// ggml's `GGML_MAX_DIMS`.
const MAX_DIMS: u32 = 4;
/// `general.alignment` when the file does not set it (`GGUF_DEFAULT_ALIGNMENT`).
const DEFAULT_ALIGNMENT: u64 = 32;
/// The most metadata values (array elements counted one by one) a header may hold. A
/// vocabulary of 262144 tokens (Gemma 3) with its scores, types and merges is about 1.3
/// million; each value takes 32 bytes in memory, so this caps the metadata at 512 MB even for
/// a file made of one-byte array elements.
const MAX_VALUES: u64 = 1 << 24;
/// Arrays of arrays nest at most this deep (llama.cpp reads no nested arrays at all).
const MAX_DEPTH: u32 = 2;

/// What [`read`] found wrong, as a sentence naming the key or tensor.
pub type HeaderError = String;

/// The parsed header: metadata, tensor index (shapes outermost dimension first, as candle
/// keeps them) and where the tensor data starts; each tensor's byte size is known to fit.
pub fn read(reader: &mut impl Read, file_size: u64) -> Result<Content, HeaderError> {
    let mut r = Reader { inner: reader, pos: 0, size: file_size, values: 0, v1: false };
    let magic = r.u32().map_err(|e| format!("{e} (not a GGUF file)"))?;
    if magic != u32::from_le_bytes(*b"GGUF") {
        return Err(format!("not a GGUF file: magic 0x{magic:08x}, expected 0x{:08x} (\"GGUF\")", u32::from_le_bytes(*b"GGUF")));
    }
    let version = r.u32()?;
    let magic = match version {
        1 => VersionedMagic::GgufV1,
        2 => VersionedMagic::GgufV2,
        3 => VersionedMagic::GgufV3,
        v if v.swap_bytes() <= 3 => return Err(format!("GGUF version {} is big-endian, which is not supported", v.swap_bytes())),
        v => return Err(format!("GGUF version {v} is not supported (1 to 3)")),
    };
    r.v1 = version == 1;
    let tensor_count = r.len()?;
    let kv_count = r.len()?;
    // A key-value pair takes at least 13 bytes (empty key, type, one-byte value), a tensor
    // info at least 24 (empty name, 0 dimensions, type, offset) in version 1's narrow lengths.
    let needed = kv_count.saturating_mul(13).saturating_add(tensor_count.saturating_mul(24));
    if needed > r.remaining() {
        return Err(format!(
            "the header declares {tensor_count} tensors and {kv_count} metadata entries, which need at least {needed} bytes; \
             the file has {} after the counts: truncated or damaged",
            r.remaining()
        ));
    }

    let mut metadata = HashMap::new();
    for i in 0..kv_count {
        let key = r.string().map_err(|e| format!("metadata entry {i}: key: {e}"))?;
        let value_type = r.u32().map_err(|e| format!("metadata key `{key}`: {e}"))?;
        let value = r.value(value_type, 0).map_err(|e| format!("metadata key `{key}`: {e}"))?;
        if metadata.contains_key(&key) {
            return Err(format!("metadata key `{key}` appears twice"));
        }
        metadata.insert(key, value);
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) if a.is_power_of_two() => *a as u64,
        Some(Value::U32(a)) => return Err(format!("metadata key `general.alignment` is {a}, expected a power of two")),
        Some(other) => return Err(format!("metadata key `general.alignment` is a {:?}, expected a u32", other.value_type())),
    };

    let mut tensor_infos: HashMap<String, TensorInfo> = HashMap::new();
    let mut order = Vec::new();
    for i in 0..tensor_count {
        let name = r.string().map_err(|e| format!("tensor info {i}: name: {e}"))?;
        let info = r.tensor_info().map_err(|e| format!("tensor `{name}`: {e}"))?;
        if tensor_infos.contains_key(&name) {
            return Err(format!("tensor `{name}` appears twice in the tensor index"));
        }
        order.push(name.clone());
        tensor_infos.insert(name, info);
    }
    let tensor_data_offset = r.pos.checked_next_multiple_of(alignment).filter(|&o| o <= file_size).ok_or_else(|| {
        format!("the tensor data would start past the end of the file ({file_size} bytes) after a header of {} bytes", r.pos)
    })?;
    let data_size = file_size - tensor_data_offset;

    // Offsets aligned, every tensor inside the data section, no two overlapping.
    let mut spans = Vec::with_capacity(order.len());
    for name in &order {
        let info = &tensor_infos[name];
        let size = byte_size(info).map_err(|e| format!("tensor `{name}`: {e}"))?;
        if !info.offset.is_multiple_of(alignment) {
            return Err(format!("tensor `{name}`: data offset {} is not a multiple of the alignment {alignment}", info.offset));
        }
        let end = info.offset.checked_add(size).filter(|&end| end <= data_size).ok_or_else(|| {
            format!(
                "tensor `{name}`: {size} bytes at data offset {} go past the end of the file (the data section holds {data_size} bytes): \
                 truncated?",
                info.offset
            )
        })?;
        spans.push((info.offset, end, name));
    }
    spans.sort();
    for pair in spans.windows(2) {
        let ((_, end, first), (start, _, second)) = (&pair[0], &pair[1]);
        if start < end {
            return Err(format!("tensors `{first}` and `{second}` overlap in the file (bytes {start} to {end} of the data)"));
        }
    }
    Ok(Content { magic, metadata, tensor_infos, tensor_data_offset })
}

/// A tensor's size in bytes (its shape was checked to give an exact, representable size).
pub fn byte_size(info: &TensorInfo) -> Result<u64, HeaderError> {
    let dtype = info.ggml_dtype;
    let elems = info.shape.dims().iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).ok_or("its size overflows")?;
    let blocks = elems / dtype.block_size() as u64;
    blocks.checked_mul(dtype.type_size() as u64).ok_or_else(|| "its size in bytes overflows".to_string())
}

struct Reader<'a, R> {
    inner: &'a mut R,
    pos: u64,
    size: u64,
    /// Metadata values read so far (see [`MAX_VALUES`]).
    values: u64,
    /// Version 1 writes lengths, counts and dimensions as u32.
    v1: bool,
}

impl<R: Read> Reader<'_, R> {
    fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), HeaderError> {
        if buf.len() as u64 > self.remaining() {
            return Err(format!("the file ends at byte {} inside the header: truncated", self.size));
        }
        self.inner.read_exact(buf).map_err(|e| format!("reading the header at byte {}: {e}", self.pos))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HeaderError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, HeaderError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, HeaderError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length or count: u64, or u32 in version 1.
    fn len(&mut self) -> Result<u64, HeaderError> {
        if self.v1 {
            self.u32().map(u64::from)
        } else {
            self.u64()
        }
    }

    fn string(&mut self) -> Result<String, HeaderError> {
        let len = self.len()?;
        if len > self.remaining() {
            return Err(format!("a string of {len} bytes at byte {} goes past the end of the file ({} bytes)", self.pos, self.size));
        }
        let mut bytes = vec![0u8; len as usize];
        self.fill(&mut bytes)?;
        // As candle's reader: trailing NULs dropped, invalid UTF-8 replaced.
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn value(&mut self, value_type: u32, depth: u32) -> Result<Value, HeaderError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(format!("the metadata holds more than {MAX_VALUES} values"));
        }
        Ok(match value_type {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(self.array::<1>()?[0] as i8),
            2 => Value::U16(self.array().map(u16::from_le_bytes)?),
            3 => Value::I16(self.array().map(i16::from_le_bytes)?),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(self.array().map(i32::from_le_bytes)?),
            6 => Value::F32(self.array().map(f32::from_le_bytes)?),
            7 => Value::Bool(self.array::<1>()?[0] != 0),
            8 => Value::String(self.string()?),
            9 => {
                let item_type = self.u32()?;
                let count = self.len()?;
                if depth >= MAX_DEPTH {
                    return Err(format!("arrays nested more than {MAX_DEPTH} deep"));
                }
                // Every element takes at least one byte (an array's at least 12): a count the
                // rest of the file cannot hold is refused before anything is allocated.
                let min_size = match item_type {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 if self.v1 => 4,
                    8 | 10 | 11 | 12 => 8,
                    9 => 12,
                    other => return Err(format!("array of unknown value type {other}")),
                };
                if count.saturating_mul(min_size) > self.remaining() {
                    return Err(format!(
                        "an array of {count} elements at byte {} goes past the end of the file ({} bytes)",
                        self.pos, self.size
                    ));
                }
                if self.values.saturating_add(count) > MAX_VALUES {
                    return Err(format!("an array of {count} elements: the metadata would hold more than {MAX_VALUES} values"));
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(item_type, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.array().map(i64::from_le_bytes)?),
            12 => Value::F64(self.array().map(f64::from_le_bytes)?),
            other => return Err(format!("unknown value type {other}")),
        })
    }

    fn tensor_info(&mut self) -> Result<TensorInfo, HeaderError> {
        let n_dims = self.u32()?;
        if n_dims > MAX_DIMS {
            return Err(format!("{n_dims} dimensions, at most {MAX_DIMS} allowed"));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.len()?);
        }
        let type_id = self.u32()?;
        let offset = self.u64()?;
        let ggml_dtype = dtype(type_id)?;
        // As ggml: every dimension non-negative as an i64, their product too.
        let elems = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d).filter(|&n| n <= i64::MAX as u64));
        if dims.iter().any(|&d| d > i64::MAX as u64) || elems.is_none() {
            return Err(format!("dimensions {dims:?} overflow a 63-bit element count"));
        }
        let block = ggml_dtype.block_size() as u64;
        if dims.first().is_some_and(|&d| !d.is_multiple_of(block)) {
            return Err(format!("first dimension {} is not a whole number of {block}-value blocks of its type", dims[0]));
        }
        let dims: Vec<usize> = dims.iter().rev().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
        let info = TensorInfo { ggml_dtype, shape: candle_core::Shape::from(dims), offset };
        byte_size(&info)?;
        Ok(info)
    }
}

/// The candle type of a ggml type id.
fn dtype(id: u32) -> Result<GgmlDType, HeaderError> {
    Ok(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        other => return Err(super::unreadable_type(other)),
    })
}
