//! A GGUF file as editable parts (metadata, tensor index, data section), to write damaged
//! copies of real files: parsed here independently of precis's reader, written back byte for
//! byte (an unedited file comes back identical).
#![allow(dead_code)]

/// A metadata value; `Raw` writes a type id and bytes as given (for malformed values).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(u8),
    Str(Vec<u8>),
    Array(u32, Vec<Val>),
    U64(u64),
    I64(i64),
    F64(f64),
    Raw(u32, Vec<u8>),
}

impl Val {
    pub fn str(s: &str) -> Self {
        Val::Str(s.as_bytes().to_vec())
    }

    fn type_id(&self) -> u32 {
        match self {
            Val::U8(_) => 0,
            Val::I8(_) => 1,
            Val::U16(_) => 2,
            Val::I16(_) => 3,
            Val::U32(_) => 4,
            Val::I32(_) => 5,
            Val::F32(_) => 6,
            Val::Bool(_) => 7,
            Val::Str(_) => 8,
            Val::Array(..) => 9,
            Val::U64(_) => 10,
            Val::I64(_) => 11,
            Val::F64(_) => 12,
            Val::Raw(t, _) => *t,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Val::U8(v) => out.push(*v),
            Val::I8(v) => out.push(*v as u8),
            Val::U16(v) => out.extend(v.to_le_bytes()),
            Val::I16(v) => out.extend(v.to_le_bytes()),
            Val::U32(v) => out.extend(v.to_le_bytes()),
            Val::I32(v) => out.extend(v.to_le_bytes()),
            Val::F32(v) => out.extend(v.to_le_bytes()),
            Val::Bool(v) => out.push(*v),
            Val::Str(s) => write_str(out, s),
            Val::Array(t, items) => {
                out.extend(t.to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                items.iter().for_each(|item| item.write(out));
            }
            Val::U64(v) => out.extend(v.to_le_bytes()),
            Val::I64(v) => out.extend(v.to_le_bytes()),
            Val::F64(v) => out.extend(v.to_le_bytes()),
            Val::Raw(_, bytes) => out.extend(bytes),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: Vec<u8>,
    /// As GGUF writes them, innermost first (`[n_embd, n_vocab]`).
    pub dims: Vec<u64>,
    /// Written as the dimension count when set (to declare more or fewer than `dims` holds).
    pub n_dims: Option<u32>,
    pub ggml_type: u32,
    /// From the start of the data section.
    pub offset: u64,
}

#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub kvs: Vec<(Vec<u8>, Val)>,
    pub tensors: Vec<TensorInfo>,
    /// The data section (from its aligned start to the end of the file).
    pub data: Vec<u8>,
    /// Written instead of the real counts when set.
    pub tensor_count: Option<u64>,
    pub kv_count: Option<u64>,
}

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s);
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        slice
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> Vec<u8> {
        let len = self.u64() as usize;
        self.take(len).to_vec()
    }
    fn value(&mut self, t: u32) -> Val {
        match t {
            0 => Val::U8(self.take(1)[0]),
            1 => Val::I8(self.take(1)[0] as i8),
            2 => Val::U16(u16::from_le_bytes(self.take(2).try_into().unwrap())),
            3 => Val::I16(i16::from_le_bytes(self.take(2).try_into().unwrap())),
            4 => Val::U32(self.u32()),
            5 => Val::I32(self.u32() as i32),
            6 => Val::F32(f32::from_bits(self.u32())),
            7 => Val::Bool(self.take(1)[0]),
            8 => Val::Str(self.string()),
            9 => {
                let item = self.u32();
                let n = self.u64();
                Val::Array(item, (0..n).map(|_| self.value(item)).collect())
            }
            10 => Val::U64(self.u64()),
            11 => Val::I64(self.u64() as i64),
            12 => Val::F64(f64::from_bits(self.u64())),
            other => panic!("value type {other} in a fixture"),
        }
    }
}

impl Gguf {
    /// Parses a well-formed version 2 or 3 file.
    pub fn parse(bytes: &[u8]) -> Self {
        let mut c = Cursor { bytes, pos: 0 };
        assert_eq!(c.take(4), b"GGUF");
        let version = c.u32();
        assert!(version == 2 || version == 3, "fixture of GGUF version {version}");
        let (n_tensors, n_kv) = (c.u64(), c.u64());
        let kvs: Vec<_> = (0..n_kv)
            .map(|_| {
                let key = c.string();
                let t = c.u32();
                (key, c.value(t))
            })
            .collect();
        let tensors = (0..n_tensors)
            .map(|_| {
                let name = c.string();
                let n = c.u32();
                let dims = (0..n).map(|_| c.u64()).collect();
                TensorInfo { name, dims, n_dims: None, ggml_type: c.u32(), offset: c.u64() }
            })
            .collect();
        let mut gguf = Gguf { version, kvs, tensors, data: Vec::new(), tensor_count: None, kv_count: None };
        let start = c.pos.next_multiple_of(gguf.alignment() as usize);
        gguf.data = bytes[start..].to_vec();
        gguf
    }

    pub fn alignment(&self) -> u64 {
        match self.get("general.alignment") {
            Some(Val::U32(a)) if *a > 0 => *a as u64,
            _ => 32,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Val> {
        self.kvs.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v)
    }

    /// Sets `key` (in place, or appended when new).
    pub fn set(&mut self, key: &str, value: Val) -> &mut Self {
        match self.kvs.iter_mut().find(|(k, _)| k == key.as_bytes()) {
            Some((_, v)) => *v = value,
            None => self.kvs.push((key.as_bytes().to_vec(), value)),
        }
        self
    }

    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.kvs.retain(|(k, _)| k != key.as_bytes());
        self
    }

    pub fn tensor(&mut self, name: &str) -> &mut TensorInfo {
        self.tensors.iter_mut().find(|t| t.name == name.as_bytes()).unwrap_or_else(|| panic!("no tensor {name}"))
    }

    pub fn remove_tensor(&mut self, name: &str) -> &mut Self {
        self.tensors.retain(|t| t.name != name.as_bytes());
        self
    }

    /// Appends a tensor whose bytes are `bytes`, at the next aligned offset of the data.
    pub fn add_tensor(&mut self, name: &str, dims: Vec<u64>, ggml_type: u32, bytes: &[u8]) -> &mut Self {
        let offset = self.data.len().next_multiple_of(self.alignment() as usize);
        self.data.resize(offset, 0);
        self.data.extend(bytes);
        self.tensors.push(TensorInfo { name: name.as_bytes().to_vec(), dims, n_dims: None, ggml_type, offset: offset as u64 });
        self
    }

    /// Lays the tensors' bytes out again, in index order, each at a multiple of `alignment`
    /// (which becomes `general.alignment`); `size` gives each tensor's byte size.
    pub fn relayout(&mut self, alignment: u32, size: impl Fn(&TensorInfo) -> usize) -> &mut Self {
        let mut data = Vec::new();
        for t in &mut self.tensors {
            let n = size(t);
            let bytes = self.data[t.offset as usize..t.offset as usize + n].to_vec();
            data.resize(data.len().next_multiple_of(alignment as usize), 0);
            t.offset = data.len() as u64;
            data.extend(bytes);
        }
        self.data = data;
        self.set("general.alignment", Val::U32(alignment))
    }

    /// The header alone (up to the padding before the data).
    pub fn header(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend(self.tensor_count.unwrap_or(self.tensors.len() as u64).to_le_bytes());
        out.extend(self.kv_count.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        for (key, value) in &self.kvs {
            write_str(&mut out, key);
            out.extend(value.type_id().to_le_bytes());
            value.write(&mut out);
        }
        for t in &self.tensors {
            write_str(&mut out, &t.name);
            out.extend(t.n_dims.unwrap_or(t.dims.len() as u32).to_le_bytes());
            t.dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
            out.extend(t.ggml_type.to_le_bytes());
            out.extend(t.offset.to_le_bytes());
        }
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        let alignment = self.alignment() as usize;
        out.resize(out.len().next_multiple_of(alignment), 0);
        out.extend(&self.data);
        out
    }
}
