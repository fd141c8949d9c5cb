//! The plug-in host: the child process that loads a plug-in with `dlopen` (libloading) and
//! answers requests on stdin/stdout. A plug-in that crashes takes only this process down.

use std::ffi::c_int;
use std::io::{Read, Write};
use std::path::Path;

use keel_sandbox::HelperSandbox;
use libloading::{Library, Symbol};

use super::PluginError;
use super::abi::{Caps, Ctx, KEEL_OFFLOAD_ABI_VERSION, Triple};
use super::wire::{decode_request, read_frame, write_frame};

type AbiVersionFn = unsafe extern "C" fn() -> u32;
type InitFn = unsafe extern "C" fn(u32, *mut *mut Ctx) -> c_int;
type CapsFn = unsafe extern "C" fn(*const Ctx, *mut Caps) -> c_int;
type VerifyFn = unsafe extern "C" fn(*mut Ctx, *const Triple, usize, *mut u8) -> c_int;
type TeardownFn = unsafe extern "C" fn(*mut Ctx);

struct Loaded<'l> {
    ctx: *mut Ctx,
    verify: Symbol<'l, VerifyFn>,
    teardown: Symbol<'l, TeardownFn>,
    max_batch: usize,
}

/// Serves requests for the plug-in at `path` on `input`/`output` until `input` closes. With
/// `sandbox`, the process confines itself before loading the plug-in (service user, no
/// capabilities, read-only filesystem) and filters every thread once the plug-in has
/// initialised (the BLS workers' seccomp allowlist), so the plug-in runs no freer than the
/// daemon's own BLS threads.
///
/// # Errors
/// [`PluginError`] when the sandbox cannot be set up, the plug-in cannot be loaded or
/// initialised (after reporting it in the hello frame), or when the pipes fail.
pub fn serve(
    path: &Path,
    sandbox: Option<&HelperSandbox>,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<(), PluginError> {
    if let Some(Err(e)) = sandbox.map(HelperSandbox::confine_before_load) {
        return refuse(output, PluginError::Sandbox(e.to_string()));
    }
    // SAFETY: loading runs the plug-in's initialisers; that is exactly the code under test,
    // and it runs in this sacrificial process.
    let lib = match unsafe { Library::new(path) } {
        Ok(l) => l,
        Err(e) => return refuse(output, PluginError::Load(e.to_string())),
    };
    let loaded = match load(&lib) {
        Ok(l) => l,
        Err(e) => return refuse(output, e),
    };
    if let Some(Err(e)) = sandbox.map(HelperSandbox::filter_all_threads) {
        return refuse(output, PluginError::Sandbox(e.to_string()));
    }
    let mut hello = vec![0u8];
    hello.extend_from_slice(format!("{}\n{}", loaded.1, loaded.0.max_batch).as_bytes());
    write_frame(output, &hello).map_err(|e| PluginError::Pipe(e.to_string()))?;
    let l = loaded.0;
    while let Some(frame) = read_frame(input).map_err(|e| PluginError::Pipe(e.to_string()))? {
        let reply = match decode_request(&frame) {
            Ok(items) => verify(&l, &items),
            Err(e) => [vec![3u8], e.into_bytes()].concat(),
        };
        write_frame(output, &reply).map_err(|e| PluginError::Pipe(e.to_string()))?;
    }
    // SAFETY: ctx came from init and is torn down once.
    unsafe { (l.teardown)(l.ctx) };
    Ok(())
}

fn refuse(output: &mut impl Write, e: PluginError) -> Result<(), PluginError> {
    let mut hello = vec![1u8];
    hello.extend_from_slice(e.to_string().as_bytes());
    let _ = write_frame(output, &hello);
    Err(e)
}

fn load(lib: &Library) -> Result<(Loaded<'_>, String), PluginError> {
    let sym = |e: libloading::Error| PluginError::Load(e.to_string());
    // SAFETY: the symbol types are those of keel_offload.h, ABI version 1, checked below.
    unsafe {
        let version: Symbol<AbiVersionFn> = lib.get(b"keel_offload_abi_version\0").map_err(sym)?;
        let init: Symbol<InitFn> = lib.get(b"keel_offload_init\0").map_err(sym)?;
        let caps_fn: Symbol<CapsFn> = lib.get(b"keel_offload_capabilities\0").map_err(sym)?;
        let verify: Symbol<VerifyFn> = lib.get(b"keel_offload_verify_batch\0").map_err(sym)?;
        let teardown: Symbol<TeardownFn> = lib.get(b"keel_offload_teardown\0").map_err(sym)?;
        let v = version();
        if v != KEEL_OFFLOAD_ABI_VERSION {
            return Err(PluginError::Abi(v));
        }
        let mut ctx: *mut Ctx = std::ptr::null_mut();
        let rc = init(KEEL_OFFLOAD_ABI_VERSION, &mut ctx);
        if rc != 0 || ctx.is_null() {
            return Err(PluginError::Status {
                call: "init",
                code: rc,
            });
        }
        let mut caps = Caps::default();
        let rc = caps_fn(ctx, &mut caps);
        if rc != 0 {
            return Err(PluginError::Status {
                call: "capabilities",
                code: rc,
            });
        }
        let name = caps.name();
        let max_batch = (caps.max_batch as usize).max(1);
        Ok((
            Loaded {
                ctx,
                verify,
                teardown,
                max_batch,
            },
            name,
        ))
    }
}

fn verify(l: &Loaded<'_>, items: &[crate::vectors::RawTriple]) -> Vec<u8> {
    let mut verdicts = vec![0u8; items.len()];
    for (chunk, out) in items
        .chunks(l.max_batch)
        .zip(verdicts.chunks_mut(l.max_batch))
    {
        let triples: Vec<Triple> = chunk.iter().map(Triple::borrow).collect();
        // SAFETY: `triples` borrows `chunk`, alive across the call; `out` has one byte per item.
        let rc = unsafe { (l.verify)(l.ctx, triples.as_ptr(), triples.len(), out.as_mut_ptr()) };
        if rc != 0 {
            return [
                vec![2u8],
                format!("verify_batch returned {rc}").into_bytes(),
            ]
            .concat();
        }
    }
    // Anything but 0/1 is a broken plug-in; keep it visible rather than coercing it.
    if let Some(v) = verdicts.iter().find(|&&v| v > 1) {
        return [
            vec![2u8],
            format!("verdict byte {v} is neither 0 nor 1").into_bytes(),
        ]
        .concat();
    }
    [vec![0u8], verdicts].concat()
}
