//! Why a translation, a project or a check failed.

/// Every failure of this crate; a caller can match on why.
#[derive(Debug, thiserror::Error)]
pub enum FormalError {
    #[error("module not admitted: {0}")]
    Admission(#[from] keel_vm::AdmissionError),
    #[error("metering failed: {0}")]
    Metering(#[from] keel_vm::metering::MeteringError),
    #[error("the instrumented module could not be read: {0}")]
    Wasm(String),
    #[error("no exported function named `{0}`")]
    NoSuchExport(String),
    #[error("not in the model: {0}")]
    Unsupported(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("coqc could not be started ({0}); install Debian's `coq` package")]
    CoqcMissing(std::io::Error),
    #[error("coqc rejected {file}:\n{output}")]
    CoqcRejected { file: String, output: String },
    #[error("keel.preconditions: {0}")]
    Precondition(#[from] crate::precondition::PreconditionError),
    #[error("unexpected coqc output: {0}")]
    CoqcOutput(String),
}

impl From<wasmparser::BinaryReaderError> for FormalError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        FormalError::Wasm(e.to_string())
    }
}
