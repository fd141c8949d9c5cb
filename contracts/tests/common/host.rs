//! A minimal in-memory `keel` host on wasmi, only for checking contract logic in this crate.
//! It is not the Keel VM (no gas, no admission, fresh instance per call): the VM's own tests
//! re-run these contracts on the real engine. Intrinsics a contract's logic depends on are
//! implemented exactly (u256 via ruint); `fx_pow` and `fx_exp` are scripted mocks so the tests
//! check what the interest contract passes and how it combines the answers.

use std::collections::BTreeMap;

use ruint::aliases::U256;
use wasmi::{Caller, Engine, Error, Extern, Linker, Module, Store};

#[derive(Default)]
pub struct Host {
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// (topic, data) of every event, in emission order.
    pub events: Vec<(Vec<u8>, Vec<u8>)>,
    pub caller: [u8; 32],
    pub aborted: Option<String>,
    /// (intrinsic, Q64.64 raw arguments) of every fx_pow / fx_exp call, in order.
    pub fx_calls: Vec<(&'static str, Vec<i128>)>,
    /// Scripted (status, raw result) of fx_pow and fx_exp.
    pub fx_pow: (i32, i128),
    pub fx_exp: (i32, i128),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Returned(Vec<u8>),
    Aborted(String),
}

pub struct Runner {
    engine: Engine,
    linker: Linker<Host>,
    module: Module,
}

type Ctx<'a> = Caller<'a, Host>;

fn len(v: i32) -> usize {
    v as u32 as usize
}

fn read(caller: &Ctx<'_>, ptr: i32, n: i32) -> Result<Vec<u8>, Error> {
    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| Error::new("no memory"))?;
    let mut buf = vec![0; len(n)];
    memory
        .read(caller, len(ptr), &mut buf)
        .map_err(|e| Error::new(e.to_string()))?;
    Ok(buf)
}

fn write(caller: &mut Ctx<'_>, ptr: i32, bytes: &[u8]) -> Result<(), Error> {
    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| Error::new("no memory"))?;
    memory
        .write(caller, len(ptr), bytes)
        .map_err(|e| Error::new(e.to_string()))
}

fn read_u256(caller: &Ctx<'_>, ptr: i32) -> Result<U256, Error> {
    let bytes: [u8; 32] = read(caller, ptr, 32)?
        .try_into()
        .map_err(|_| Error::new("u256"))?;
    Ok(U256::from_le_bytes(bytes))
}

fn read_fx(caller: &Ctx<'_>, ptr: i32) -> Result<i128, Error> {
    let bytes: [u8; 16] = read(caller, ptr, 16)?
        .try_into()
        .map_err(|_| Error::new("fx"))?;
    Ok(i128::from_le_bytes(bytes))
}

/// Exact Q64.64 product, truncated toward zero; `None` when it does not fit.
pub fn fx_mul(a: i128, b: i128) -> Option<i128> {
    let magnitude = (U256::from(a.unsigned_abs()) * U256::from(b.unsigned_abs())) >> 64;
    let magnitude = i128::try_from(u128::try_from(magnitude).ok()?).ok()?;
    Some(if (a < 0) != (b < 0) {
        -magnitude
    } else {
        magnitude
    })
}

fn define(linker: &mut Linker<Host>) -> Result<(), Error> {
    linker.func_wrap("keel", "input_size", |c: Ctx<'_>| {
        c.data().input.len() as i32
    })?;
    linker.func_wrap(
        "keel",
        "input_copy",
        |mut c: Ctx<'_>, dst: i32, off: i32, n: i32| {
            let chunk = c
                .data()
                .input
                .get(len(off)..len(off) + len(n))
                .ok_or_else(|| Error::new("input range"))?
                .to_vec();
            write(&mut c, dst, &chunk)
        },
    )?;
    linker.func_wrap("keel", "return_data", |mut c: Ctx<'_>, p: i32, n: i32| {
        c.data_mut().output = read(&c, p, n)?;
        Ok(())
    })?;
    linker.func_wrap(
        "keel",
        "storage_read",
        |mut c: Ctx<'_>, k: i32, kn: i32, v: i32, cap: i32| {
            let key = read(&c, k, kn)?;
            let Some(value) = c.data().storage.get(&key).cloned() else {
                return Ok(-1);
            };
            write(&mut c, v, &value[..value.len().min(len(cap))])?;
            Ok(value.len() as i32)
        },
    )?;
    linker.func_wrap(
        "keel",
        "storage_write",
        |mut c: Ctx<'_>, k: i32, kn: i32, v: i32, vn: i32| {
            let (key, value) = (read(&c, k, kn)?, read(&c, v, vn)?);
            c.data_mut().storage.insert(key, value);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "keel",
        "storage_remove",
        |mut c: Ctx<'_>, k: i32, kn: i32| {
            let key = read(&c, k, kn)?;
            Ok(i32::from(c.data_mut().storage.remove(&key).is_some()))
        },
    )?;
    linker.func_wrap(
        "keel",
        "emit_event",
        |mut c: Ctx<'_>, t: i32, tn: i32, d: i32, dn: i32| {
            let event = (read(&c, t, tn)?, read(&c, d, dn)?);
            c.data_mut().events.push(event);
            Ok(())
        },
    )?;
    linker.func_wrap("keel", "caller", |mut c: Ctx<'_>, dst: i32| {
        let me = c.data().caller;
        write(&mut c, dst, &me)
    })?;
    linker.func_wrap(
        "keel",
        "abort",
        |mut c: Ctx<'_>, p: i32, n: i32| -> Result<(), Error> {
            let msg = String::from_utf8_lossy(&read(&c, p, n)?).into_owned();
            c.data_mut().aborted = Some(msg);
            Err(Error::new("keel.abort"))
        },
    )?;
    linker.func_wrap(
        "keel",
        "u256_add",
        |mut c: Ctx<'_>, a: i32, b: i32, out: i32| {
            let (v, wrapped) = read_u256(&c, a)?.overflowing_add(read_u256(&c, b)?);
            write(&mut c, out, &v.to_le_bytes::<32>())?;
            Ok(i32::from(wrapped))
        },
    )?;
    linker.func_wrap(
        "keel",
        "u256_sub",
        |mut c: Ctx<'_>, a: i32, b: i32, out: i32| {
            let (v, wrapped) = read_u256(&c, a)?.overflowing_sub(read_u256(&c, b)?);
            write(&mut c, out, &v.to_le_bytes::<32>())?;
            Ok(i32::from(wrapped))
        },
    )?;
    linker.func_wrap("keel", "u256_cmp", |c: Ctx<'_>, a: i32, b: i32| {
        Ok(read_u256(&c, a)?.cmp(&read_u256(&c, b)?) as i32)
    })?;
    linker.func_wrap(
        "keel",
        "fx_mul",
        |mut c: Ctx<'_>, a: i32, b: i32, out: i32| {
            let (status, v) = match fx_mul(read_fx(&c, a)?, read_fx(&c, b)?) {
                Some(v) => (0, v),
                None => (1, 0),
            };
            write(&mut c, out, &v.to_le_bytes())?;
            Ok(status)
        },
    )?;
    linker.func_wrap(
        "keel",
        "fx_pow",
        |mut c: Ctx<'_>, a: i32, b: i32, out: i32| {
            let args = vec![read_fx(&c, a)?, read_fx(&c, b)?];
            c.data_mut().fx_calls.push(("fx_pow", args));
            let (status, v) = c.data().fx_pow;
            write(&mut c, out, &v.to_le_bytes())?;
            Ok(status)
        },
    )?;
    linker.func_wrap("keel", "fx_exp", |mut c: Ctx<'_>, a: i32, out: i32| {
        let args = vec![read_fx(&c, a)?];
        c.data_mut().fx_calls.push(("fx_exp", args));
        let (status, v) = c.data().fx_exp;
        write(&mut c, out, &v.to_le_bytes())?;
        Ok(status)
    })?;
    Ok(())
}

impl Runner {
    pub fn new(wasm: &[u8]) -> Self {
        let engine = Engine::default();
        let module = Module::new(&engine, wasm).unwrap();
        let mut linker = Linker::new(&engine);
        define(&mut linker).unwrap();
        Self {
            engine,
            linker,
            module,
        }
    }

    /// Calls `entry` on a fresh instance with `input`; storage and events carry over in `host`.
    /// Panics on any trap other than `keel.abort`.
    pub fn call(&self, host: &mut Host, entry: &str, input: &[u8]) -> Outcome {
        let mut data = std::mem::take(host);
        data.input = input.to_vec();
        data.output.clear();
        data.aborted = None;
        let mut store = Store::new(&self.engine, data);
        let instance = self
            .linker
            .instantiate_and_start(&mut store, &self.module)
            .unwrap();
        let func = instance.get_typed_func::<(), ()>(&store, entry).unwrap();
        let result = func.call(&mut store, ());
        *host = store.into_data();
        match (result, host.aborted.clone()) {
            (Ok(()), None) => Outcome::Returned(host.output.clone()),
            (Err(_), Some(msg)) => Outcome::Aborted(msg),
            (result, aborted) => panic!("{entry}: unexpected end {result:?} / abort {aborted:?}"),
        }
    }

    /// Calls `entry` with a default host and returns its output, panicking on abort.
    pub fn output(&self, entry: &str, input: &[u8]) -> Vec<u8> {
        match self.call(&mut Host::default(), entry, input) {
            Outcome::Returned(out) => out,
            Outcome::Aborted(msg) => panic!("{entry} aborted: {msg}"),
        }
    }
}
