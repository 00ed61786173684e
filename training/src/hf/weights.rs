//! The safetensors files of a Hugging Face model directory, memory-mapped: `model.safetensors`, or
//! the shards a `model.safetensors.index.json` lists. Tensors come out as f32 (bf16/f16/f64
//! converted), checked against the shape the architecture needs, and every error names the file
//! and the tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

/// Memory-mapped safetensors files and which file holds each tensor.
pub struct Shards {
    files: Vec<(PathBuf, MmapedSafetensors)>,
    routing: HashMap<String, usize>,
    /// The file a missing tensor should have been in (the index for sharded checkpoints).
    listing: PathBuf,
}

fn bad(path: &Path, why: impl Into<String>) -> Error {
    Error::BadFile { path: path.to_path_buf(), why: why.into() }
}

impl Shards {
    /// Opens `dir/model.safetensors`, or the shards of `dir/model.safetensors.index.json`.
    pub fn open(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let (paths, listing, expected): (Vec<PathBuf>, PathBuf, Option<HashMap<String, String>>) = if single.exists() {
            (vec![single.clone()], single, None)
        } else if index.exists() {
            let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&index, e.to_string()))?;
            let map = json.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad(&index, "no \"weight_map\" object"))?;
            let mut names = HashMap::new();
            let mut files: Vec<String> = Vec::new();
            for (tensor, file) in map {
                let file = file.as_str().ok_or_else(|| bad(&index, format!("weight_map[{tensor:?}] is not a file name")))?;
                if file.contains('/') || file.contains("..") {
                    return Err(bad(&index, format!("weight_map[{tensor:?}] = {file:?} leaves the model directory")));
                }
                if !files.iter().any(|f| f == file) {
                    files.push(file.to_string());
                }
                names.insert(tensor.clone(), file.to_string());
            }
            files.sort();
            (files.iter().map(|f| dir.join(f)).collect(), index, Some(names))
        } else {
            return Err(bad(dir, "no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are read)"));
        };
        let mut files = Vec::with_capacity(paths.len());
        let mut routing = HashMap::new();
        for (i, p) in paths.iter().enumerate() {
            if !p.exists() {
                return Err(bad(p, format!("listed in {} but missing", listing.display())));
            }
            // SAFETY: the file is mapped read-only; a checkpoint modified while it is being read is
            // the caller's problem, as with any memory-mapped input (memmap2's contract).
            let st = unsafe { MmapedSafetensors::new(p) }.map_err(|e| bad(p, format!("not a safetensors file: {e}")))?;
            for (name, _) in st.tensors() {
                routing.insert(name, i);
            }
            files.push((p.clone(), st));
        }
        if let Some(expected) = expected {
            for (tensor, file) in expected {
                match routing.get(&tensor) {
                    Some(&i) if files[i].0.file_name().is_some_and(|n| n.to_string_lossy() == file) => {}
                    _ => return Err(bad(&dir.join(&file), format!("tensor {tensor:?} is listed in {} for this file but is not in it", listing.display()))),
                }
            }
        }
        Ok(Shards { files, routing, listing })
    }

    /// Whether a tensor of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.routing.contains_key(name)
    }

    /// All tensor names.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.routing.keys()
    }

    /// The file holding `name` (for messages).
    pub fn file_of(&self, name: &str) -> &Path {
        self.routing.get(name).map(|&i| self.files[i].0.as_path()).unwrap_or(&self.listing)
    }

    /// Tensor `name` as f32 with exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let &i = self.routing.get(name).ok_or_else(|| bad(&self.listing, format!("tensor {name:?} is missing")))?;
        let (path, st) = &self.files[i];
        let t = st.load(name, &Device::Cpu).map_err(|e| bad(path, format!("tensor {name:?}: {e}")))?;
        if t.dims() != shape {
            return Err(bad(path, format!("tensor {name:?} has shape {:?}, the config needs {shape:?}", t.dims())));
        }
        match t.dtype() {
            DType::F32 => Ok(t),
            DType::F16 | DType::BF16 | DType::F64 => Ok(t.to_dtype(DType::F32)?),
            other => Err(bad(path, format!("tensor {name:?} has dtype {other:?}; only f32, f16, bf16 and f64 weights are read (quantised checkpoints are not)"))),
        }
    }
}
