//! Why a developer tool failed.

use std::path::PathBuf;

/// Every failure of the library, typed so the CLI can map it to a message and an exit code.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{tool}` not found or not working; install `clang lld` (e.g. `apt-get install clang lld`)"
    )]
    ToolMissing { tool: String },
    #[error("compiling {} failed:\n{stderr}", path.display())]
    Compile { path: PathBuf, stderr: String },
    #[error("invalid wasm: {0}")]
    Wasm(#[from] wasmparser::BinaryReaderError),
    #[error("malformed DWARF: {0}")]
    Dwarf(String),
    #[error("{}: {message}", path.display())]
    Project { path: PathBuf, message: String },
    #[error("{0}")]
    Vm(#[from] keel_vm::VmError),
    #[error("the {what} is larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("test chain: {0}")]
    Chain(String),
    #[error("bad manifest: {0}")]
    Manifest(#[from] keel_vm::ManifestError),
}

impl From<gimli::Error> for DevError {
    fn from(e: gimli::Error) -> Self {
        DevError::Dwarf(e.to_string())
    }
}

impl DevError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DevError {
        let path = path.into();
        move |source| DevError::Io { path, source }
    }
}
