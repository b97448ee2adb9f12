//! The tensors of a checkpoint: `model.safetensors` (memory-mapped), or `pytorch_model.bin`
//! through candle's restricted pickle reader (it rebuilds tensors only and never runs code
//! from the file). Every lookup checks the shape, converts to f32, and names the tensor and the
//! file when it fails.

use std::path::{Path, PathBuf};

use candle_core::pickle::PthTensors;
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

enum Store {
    Safetensors(MmapedSafetensors),
    Pth(PthTensors),
}

pub struct Weights {
    store: Store,
    path: PathBuf,
    device: Device,
}

impl Weights {
    /// `model.safetensors` in `dir`, else `pytorch_model.bin`.
    pub fn open(dir: &Path, device: &Device) -> Result<Self> {
        let safetensors = dir.join("model.safetensors");
        let bin = dir.join("pytorch_model.bin");
        let store = if safetensors.is_file() {
            // SAFETY: the file is mapped read-only; precis never writes to checkpoint files.
            let st = unsafe { MmapedSafetensors::new(&safetensors) }
                .map_err(|e| Error::model(&safetensors, format!("not a safetensors file: {e}")))?;
            (Store::Safetensors(st), safetensors)
        } else if bin.is_file() {
            let pth = PthTensors::new(&bin, None).map_err(|e| Error::model(&bin, format!("not a PyTorch state dict: {e}")))?;
            (Store::Pth(pth), bin)
        } else {
            return Err(Error::model(dir, "no model.safetensors or pytorch_model.bin"));
        };
        Ok(Self { store: store.0, path: store.1, device: device.clone() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensor `name` if the file has it.
    pub fn find(&self, name: &str) -> Result<Option<Tensor>> {
        let found = match &self.store {
            Store::Safetensors(st) => match st.get(name) {
                Ok(view) => Some(
                    candle_core::safetensors::Load::load(&view, &self.device)
                        .map_err(|e| Error::model(&self.path, format!("tensor {name}: {e}")))?,
                ),
                Err(_) => None,
            },
            Store::Pth(pth) => pth.get(name).map_err(|e| Error::model(&self.path, format!("tensor {name}: {e}")))?,
        };
        found.map(|t| t.to_dtype(DType::F32).map_err(Error::from)).transpose()
    }

    /// The tensor `name` with exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.first(&[name], shape)
    }

    /// The first of `names` that the file has (tied weights are stored once, under one of their
    /// names), with exactly `shape`.
    pub fn first(&self, names: &[&str], shape: &[usize]) -> Result<Tensor> {
        for name in names {
            if let Some(t) = self.find(name)? {
                if t.dims() != shape {
                    return Err(Error::model(&self.path, format!("tensor {name} has shape {:?}, config.json implies {shape:?}", t.dims())));
                }
                return Ok(t);
            }
        }
        Err(Error::model(&self.path, format!("missing tensor {}", names.join(" (or ")) + &")".repeat(names.len() - 1)))
    }

    /// The values of [`Self::get`], row-major.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.first_values(&[name], shape)
    }

    /// The values of [`Self::first`], row-major.
    pub fn first_values(&self, names: &[&str], shape: &[usize]) -> Result<Vec<f32>> {
        Ok(self.first(names, shape)?.flatten_all()?.to_vec1::<f32>()?)
    }
}
