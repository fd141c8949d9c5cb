//! The on-disk cache of compiled (wasmtime) artifacts, in `<data dir>/vm-cache/`.
//!
//! An artifact is native code: `Module::deserialize` trusts it completely. So each file carries
//! a BLAKE3 keyed hash (the MAC) of its key and bytes under a node-local secret
//! (`vm-cache/secret.key`, 32 random bytes, mode 0600, created on first use), verified before
//! anything is deserialized. A file that is truncated, altered, or written by another node or
//! for another key is discarded with a warning and the module recompiled: never loaded.
//!
//! The file name is the [`ArtifactKey`] digest, which covers everything the code depends on:
//! the instrumented module (and separately the code hash, schedule version, profile version and
//! kill-set digest it was built under), the wasmtime version, the engine's compatibility hash
//! (Cranelift flags, target and tunables) and the host CPU features Cranelift may use. Any
//! change is a different file, so a key mismatch is simply a miss and a recompile.
//!
//! Files are written to a temporary name, synced and renamed, so a crash leaves either the old
//! state or a complete file (and an incomplete one fails its MAC anyway).
//!
//! In a sandboxed daemon the threads that look artifacts up (request workers) and compile them
//! (the JIT thread they start) may not open files: their seccomp filter has no `open`. The
//! cache then does its file work through a [`FileRunner`] the daemon installs, which runs it
//! on the one thread allowed to open files (the store thread, confined by Landlock to the data
//! directory), so the sandbox keeps its guarantees and the cache still fills.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, mpsc};

/// Name of the cache directory inside a data directory.
pub const CACHE_DIR: &str = "vm-cache";
/// Node-local MAC secret inside the cache directory.
pub const SECRET_FILE: &str = "secret.key";
/// Extension of artifact files.
const EXT: &str = "cwasm";
/// File header: format name and version.
const MAGIC: &[u8; 8] = b"KEELCW01";
/// Largest artifact kept or read (profile-bounded modules compile to far less).
pub const MAX_ARTIFACT_BYTES: u64 = 64 << 20;
const MAC_LEN: usize = 32;
/// Bytes before the artifact: magic and MAC.
const HEADER: usize = 40;
const _: () = assert!(HEADER == MAGIC.len() + MAC_LEN);

/// Why the cache could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("vm cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("vm cache secret {0} is not 32 bytes; delete it to start a new cache")]
    BadSecret(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What an artifact was compiled from and for. All fields are hashed into the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactKey {
    /// SHA-256 of the contract code.
    pub code_hash: [u8; 32],
    pub schedule_version: u32,
    pub profile_version: u32,
    pub kill_digest: u64,
    /// BLAKE3 of the instrumented module bytes actually compiled.
    pub instrumented_hash: [u8; 32],
    /// The wasmtime crate version.
    pub wasmtime_version: &'static str,
    /// BLAKE3 of wasmtime's engine compatibility hash (Cranelift flags, target, tunables).
    pub engine_hash: [u8; 32],
    /// The host CPU features codegen may use, as a stable string.
    pub cpu_features: String,
}

impl ArtifactKey {
    /// The file-name digest of the key.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key("keel vm artifact key v1");
        h.update(&self.code_hash);
        h.update(&self.schedule_version.to_le_bytes());
        h.update(&self.profile_version.to_le_bytes());
        h.update(&self.kill_digest.to_le_bytes());
        h.update(&self.instrumented_hash);
        for s in [self.wasmtime_version, self.cpu_features.as_str()] {
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        h.update(&self.engine_hash);
        *h.finalize().as_bytes()
    }
}

/// Counts and size of the cache, for `keel vm cache stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiskStats {
    pub artifacts: u64,
    pub bytes: u64,
}

/// File work of the cache, to be run by a [`FileRunner`].
pub type FileJob = Box<dyn FnOnce() + Send>;

/// Runs a [`FileJob`] to completion on a thread allowed to open files in the data directory,
/// returning when it has run (or when it never will: the job is then dropped unrun, and the
/// cache treats the lookup as a miss and the write as failed).
pub type FileRunner = Arc<dyn Fn(FileJob) + Send + Sync>;

/// The artifact cache: its directory and secret, and where its file work runs.
pub struct ArtifactCache {
    files: Arc<CacheDir>,
    runner: RwLock<Option<FileRunner>>,
}

/// The artifact directory and its secret.
struct CacheDir {
    dir: PathBuf,
    secret: [u8; 32],
}

impl ArtifactCache {
    /// Opens (creating if needed) the cache in `data_dir/vm-cache`. File work runs on the
    /// calling thread until [`ArtifactCache::set_runner`].
    pub fn open(data_dir: &Path) -> Result<Self, CacheError> {
        let dir = data_dir.join(CACHE_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let secret = load_or_create_secret(&dir.join(SECRET_FILE))?;
        Ok(ArtifactCache {
            files: Arc::new(CacheDir { dir, secret }),
            runner: RwLock::new(None),
        })
    }

    /// Runs every later load and store through `runner`.
    pub fn set_runner(&self, runner: FileRunner) {
        *self.runner.write().unwrap_or_else(|p| p.into_inner()) = Some(runner);
    }

    /// `f(files)` through the runner if there is one (`None` if it did not run), else here.
    fn run<T: Send + 'static>(&self, f: impl FnOnce(&CacheDir) -> T + Send + 'static) -> Option<T> {
        let files = Arc::clone(&self.files);
        let runner = self
            .runner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(runner) = runner else {
            return Some(f(&files));
        };
        let (tx, rx) = mpsc::sync_channel(1);
        runner(Box::new(move || {
            let _ = tx.send(f(&files));
        }));
        rx.try_recv().ok()
    }

    /// The verified artifact bytes for `key`, or `None` (absent, refused and deleted, or the
    /// file runner is gone).
    pub fn load(&self, key: &ArtifactKey) -> Option<Vec<u8>> {
        let key = key.clone();
        self.run(move |files| files.load(&key)).flatten()
    }

    /// Stores `bytes` under `key` (atomically: temporary file, sync, rename). Artifacts over
    /// [`MAX_ARTIFACT_BYTES`] are not kept.
    pub fn store(&self, key: &ArtifactKey, bytes: Vec<u8>) -> Result<(), CacheError> {
        let key = key.clone();
        let dir = self.files.dir.clone();
        self.run(move |files| files.store(&key, &bytes))
            .unwrap_or_else(|| {
                Err(CacheError::Io {
                    path: dir,
                    source: std::io::Error::other("the cache's file runner is gone"),
                })
            })
    }

    /// Number and total size of the artifacts.
    pub fn stats(&self) -> Result<DiskStats, CacheError> {
        disk_stats(&self.files.dir)
    }

    /// Deletes every artifact (the secret stays). Returns how many were deleted.
    pub fn clear(&self) -> Result<u64, CacheError> {
        clear_dir(&self.files.dir)
    }

    #[cfg(test)]
    fn path(&self, key: &ArtifactKey) -> PathBuf {
        self.files.path(key)
    }
}

impl CacheDir {
    fn path(&self, key: &ArtifactKey) -> PathBuf {
        self.dir
            .join(format!("{}.{EXT}", hex::encode(key.digest())))
    }

    fn mac(&self, key: &ArtifactKey, bytes: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        h.update(&key.digest());
        h.update(bytes);
        h.finalize()
    }

    fn load(&self, key: &ArtifactKey) -> Option<Vec<u8>> {
        let path = self.path(key);
        // One descriptor for the size check and the read: the file checked is the file read.
        let mut file = fs::File::open(&path).ok()?;
        let len = file.metadata().ok()?.len();
        let header = HEADER as u64;
        if len > MAX_ARTIFACT_BYTES.saturating_add(header) || len < header {
            return self.refuse(&path, "has an impossible size");
        }
        // Header and payload into their own buffers: the payload is handed back without a copy.
        // Bounded just above: the payload is at most MAX_ARTIFACT_BYTES.
        let mut head = [0u8; HEADER];
        let mut bytes = vec![0u8; usize::try_from(len.saturating_sub(header)).unwrap_or(0)];
        let read = std::io::Read::read_exact(&mut file, &mut head)
            .and_then(|()| std::io::Read::read_exact(&mut file, &mut bytes));
        if let Err(e) = read {
            return self.refuse(&path, &format!("cannot be read: {e}"));
        }
        let (magic, mac) = head.split_at(MAGIC.len());
        if magic != MAGIC {
            return self.refuse(&path, "has an unknown format");
        }
        let Ok(mac) = <[u8; MAC_LEN]>::try_from(mac) else {
            return self.refuse(&path, "is truncated");
        };
        // `blake3::Hash` compares in constant time.
        if self.mac(key, &bytes) != blake3::Hash::from(mac) {
            return self.refuse(&path, "fails its MAC (tampered, truncated or foreign)");
        }
        Some(bytes)
    }

    fn refuse(&self, path: &Path, why: &str) -> Option<Vec<u8>> {
        tracing::warn!(path = %path.display(), "compiled artifact {why}; discarded, recompiling");
        if let Err(e) = fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete a refused artifact");
        }
        None
    }

    fn store(&self, key: &ArtifactKey, bytes: &[u8]) -> Result<(), CacheError> {
        if bytes.len() as u64 > MAX_ARTIFACT_BYTES {
            return Ok(());
        }
        let path = self.path(key);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        let mac = self.mac(key, bytes);
        f.write_all(MAGIC)
            .and_then(|()| f.write_all(mac.as_bytes()))
            .and_then(|()| f.write_all(bytes))
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }
}

fn artifacts(dir: &Path) -> Result<Vec<(PathBuf, u64)>, CacheError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let is_artifact = path.extension().is_some_and(|e| e == EXT)
            || path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.starts_with("tmp"));
        if is_artifact {
            let len = entry.metadata().map_err(io(&path))?.len();
            out.push((path, len));
        }
    }
    Ok(out)
}

/// Stats of the cache in `dir` without opening it (no secret is created).
pub fn disk_stats(dir: &Path) -> Result<DiskStats, CacheError> {
    let files = artifacts(dir)?;
    Ok(DiskStats {
        artifacts: files.len() as u64,
        bytes: files
            .iter()
            .map(|(_, l)| *l)
            .fold(0u64, u64::saturating_add),
    })
}

/// Deletes every artifact in `dir` (the secret stays); returns how many were deleted.
pub fn clear_dir(dir: &Path) -> Result<u64, CacheError> {
    let mut n = 0u64;
    for (path, _) in artifacts(dir)? {
        fs::remove_file(&path).map_err(io(&path))?;
        n = n.saturating_add(1);
    }
    Ok(n)
}

fn load_or_create_secret(path: &Path) -> Result<[u8; 32], CacheError> {
    match fs::read(path) {
        Ok(bytes) => {
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CacheError::BadSecret(path.into()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            let tmp = path.with_extension("tmp");
            write_private(&tmp, &secret).map_err(io(&tmp))?;
            fs::rename(&tmp, path).map_err(io(path))?;
            Ok(secret)
        }
        Err(e) => Err(io(path)(e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ArtifactKey {
        ArtifactKey {
            code_hash: [1; 32],
            schedule_version: 1,
            profile_version: 1,
            kill_digest: 0,
            instrumented_hash: [2; 32],
            wasmtime_version: "48.0.8",
            engine_hash: [3; 32],
            cpu_features: "x86_64,avx2".into(),
        }
    }

    /// Every key component changed on its own is a miss; the original key still hits.
    #[test]
    fn each_key_component_is_part_of_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::open(dir.path()).expect("opens");
        cache.store(&key(), b"artifact".to_vec()).expect("stores");
        let changes: [fn(&mut ArtifactKey); 8] = [
            |k| k.code_hash[0] ^= 1,
            |k| k.schedule_version += 1,
            |k| k.profile_version += 1,
            |k| k.kill_digest ^= 1,
            |k| k.instrumented_hash[31] ^= 1,
            |k| k.wasmtime_version = "48.0.9",
            |k| k.engine_hash[5] ^= 1,
            |k| k.cpu_features = "x86_64".into(),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut k = key();
            change(&mut k);
            assert_eq!(cache.load(&k), None, "component {i} is not in the key");
        }
        assert_eq!(cache.load(&key()).as_deref(), Some(&b"artifact"[..]));
        assert_eq!(cache.stats().expect("stats").artifacts, 1);
    }

    /// A file renamed to another key's name fails the MAC (the MAC covers the key).
    #[test]
    fn an_artifact_moved_to_another_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::open(dir.path()).expect("opens");
        let mut other = key();
        other.code_hash = [9; 32];
        cache.store(&key(), b"artifact".to_vec()).expect("stores");
        std::fs::rename(cache.path(&key()), cache.path(&other)).expect("renames");
        assert_eq!(cache.load(&other), None);
        assert!(!cache.path(&other).exists(), "the refused file is deleted");
        assert_eq!(cache.clear().expect("clears"), 0);
    }

    /// With a runner, loads and stores run on the runner's thread, not the caller's; a runner
    /// that drops the job makes a load a miss and a store an error, never a hang.
    #[test]
    fn file_work_runs_through_the_runner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::open(dir.path()).expect("opens");
        let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&threads);
        cache.set_runner(Arc::new(move |job: FileJob| {
            let seen = Arc::clone(&seen);
            std::thread::Builder::new()
                .name("files".into())
                .spawn(move || {
                    seen.lock()
                        .expect("lock")
                        .push(std::thread::current().name().map(String::from));
                    job();
                })
                .expect("spawns")
                .join()
                .expect("joins");
        }));
        cache.store(&key(), b"artifact".to_vec()).expect("stores");
        assert_eq!(cache.load(&key()).as_deref(), Some(&b"artifact"[..]));
        let names = threads.lock().expect("lock").clone();
        assert_eq!(names, vec![Some("files".to_string()); 2]);

        cache.set_runner(Arc::new(|job: FileJob| drop(job)));
        assert_eq!(cache.load(&key()), None);
        assert!(cache.store(&key(), b"other".to_vec()).is_err());
        assert_eq!(cache.stats().expect("stats").artifacts, 1);
    }
}
