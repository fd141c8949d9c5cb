//! Opening and loading a compiled object, reusing maps pinned by an earlier run so counters,
//! buckets and the allowlist survive a daemon restart.

use std::path::{Path, PathBuf};
use std::sync::Once;

use libbpf_rs::{
    Link, MapCore, MapHandle, Object, ObjectBuilder, OpenObject, PrintLevel, Program, ProgramMut,
};

use crate::error::KernelError;
use crate::sysfs;

/// Routes libbpf's own messages (verifier logs, pin reuse) into `tracing`.
fn route_libbpf_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        fn log(level: PrintLevel, msg: String) {
            let msg = msg.trim_end();
            match level {
                PrintLevel::Warn => tracing::warn!(target: "libbpf", "{msg}"),
                PrintLevel::Info => tracing::info!(target: "libbpf", "{msg}"),
                PrintLevel::Debug => tracing::debug!(target: "libbpf", "{msg}"),
            }
        }
        libbpf_rs::set_print(Some((PrintLevel::Info, log)));
    });
}

/// Opens `bytes` as object `name` and loads it. With `pin_dir`, every map is pinned at
/// `pin_dir/<map name>`: an existing compatible pin is reused, an incompatible one (left by
/// another version) is removed with a warning and recreated.
///
/// # Errors
/// [`KernelError::NotPermitted`] without privileges, [`KernelError::Bpf`] when the object is
/// rejected (verifier, BTF relocation).
pub(crate) fn load(
    name: &str,
    bytes: &[u8],
    pin_dir: Option<&Path>,
) -> Result<Object, KernelError> {
    load_with(name, bytes, pin_dir, &[])
}

/// [`load`], leaving the programs named in `disabled` unloaded (their attach point is missing).
pub(crate) fn load_with(
    name: &str,
    bytes: &[u8],
    pin_dir: Option<&Path>,
    disabled: &[&str],
) -> Result<Object, KernelError> {
    route_libbpf_logs();
    let mut builder = ObjectBuilder::default();
    builder
        .name(name)
        .map_err(|e| KernelError::bpf(format!("naming object {name}"), e))?;
    let mut open = builder
        .open_memory(bytes)
        .map_err(|e| KernelError::bpf(format!("opening object {name}"), e))?;
    for mut prog in open.progs_mut() {
        if disabled.iter().any(|d| prog.name() == *d) {
            prog.set_autoload(false);
        }
    }
    if let Some(dir) = pin_dir {
        set_pin_paths(&mut open, dir)?;
    }
    open.load()
        .map_err(|e| KernelError::bpf(format!("loading object {name}"), e))
}

fn set_pin_paths(open: &mut OpenObject, dir: &Path) -> Result<(), KernelError> {
    for mut map in open.maps_mut() {
        let Some(name) = map.name().to_str().map(str::to_owned) else {
            continue;
        };
        // libbpf's internal maps (.rodata, .bss) are per object, never shared.
        if name.starts_with('.') || name.contains(".rodata") || name.contains(".bss") {
            continue;
        }
        let path = dir.join(&name);
        if path.exists()
            && let Some(reason) = pinned_mismatch(&path, &map)
        {
            tracing::warn!(
                pin = %path.display(),
                %reason,
                "replacing an incompatible pinned map (left by another version); \
                 its contents are lost"
            );
            sysfs::remove_pin(&path)?;
        }
        map.set_pin_path(&path)
            .map_err(|e| KernelError::bpf(format!("setting pin path of map {name}"), e))?;
    }
    Ok(())
}

/// Why the pinned map at `path` cannot stand in for `map`, if it cannot.
fn pinned_mismatch(path: &Path, map: &libbpf_rs::OpenMapMut<'_>) -> Option<String> {
    let pinned = match MapHandle::from_pinned_path(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot open it: {e}")),
    };
    let info = match pinned.info() {
        Ok(i) => i.info,
        Err(e) => return Some(format!("cannot query it: {e}")),
    };
    let want = (
        u32::from(map.map_type()),
        map.key_size(),
        map.value_size(),
        map.max_entries(),
        map.map_flags(),
    );
    let have = (
        info.type_,
        info.key_size,
        info.value_size,
        info.max_entries,
        info.map_flags,
    );
    (want != have)
        .then(|| format!("expected (type, key, value, entries, flags) {want:?}, found {have:?}"))
}

/// The loaded program called `name`.
pub(crate) fn program<'o>(object: &'o Object, name: &str) -> Result<ProgramMut<'o>, KernelError> {
    object
        .progs_mut()
        .find(|p| p.name() == name)
        .ok_or_else(|| KernelError::InvalidConfig(format!("object has no program {name}")))
}

/// An owned handle (its own fd) on the loaded map called `name`.
pub(crate) fn map(object: &Object, name: &str) -> Result<MapHandle, KernelError> {
    let m = object
        .maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| KernelError::InvalidConfig(format!("object has no map {name}")))?;
    MapHandle::try_from(&m).map_err(|e| KernelError::bpf(format!("duplicating map {name}"), e))
}

/// Where a link's pin would go, if pinning.
pub(crate) fn link_pin(pin_dir: Option<&Path>, name: &str) -> Option<PathBuf> {
    pin_dir.map(|d| d.join(name))
}

/// Keeps a pinned link alive under the new program (atomic swap, no gap) when `pin` holds one
/// that `still_valid` accepts; otherwise attaches afresh with `attach` and pins the new link.
///
/// Returns the link and whether it was reused.
pub(crate) fn reuse_or_attach(
    pin: Option<&Path>,
    prog: &Program<'_>,
    still_valid: impl Fn(&libbpf_rs::query::LinkInfo) -> bool,
    attach: impl FnOnce() -> Result<Link, KernelError>,
) -> Result<(Link, bool), KernelError> {
    if let Some(path) = pin.filter(|p| p.exists()) {
        match Link::open(path) {
            Ok(mut link) => {
                let valid = link.info().map(|i| still_valid(&i)).unwrap_or(false);
                if valid && link.update_prog(prog).is_ok() {
                    tracing::info!(pin = %path.display(), "re-using pinned link, program updated in place");
                    return Ok((link, true));
                }
                // The normal path for links the kernel cannot update in place (tracepoints).
                tracing::info!(pin = %path.display(), "pinned link cannot be updated in place; re-attaching");
                let _ = link.unpin();
                // Detach explicitly: a stale link may still hold a live attachment.
                let _ = link.detach();
            }
            Err(e) => {
                tracing::warn!(pin = %path.display(), error = %e, "cannot open pinned link; re-attaching");
                sysfs::remove_pin(path)?;
            }
        }
    }
    let mut link = attach()?;
    if let Some(path) = pin {
        link.pin(path)
            .map_err(|e| KernelError::bpf(format!("pinning link at {}", path.display()), e))?;
    }
    Ok((link, false))
}
