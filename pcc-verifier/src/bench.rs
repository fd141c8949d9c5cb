//! `keel bench pcc`: certify and check times per routine, checking throughput, and the Linux
//! verifier's load time for the same routine (its kernel build, through the bridge's loader).
//!
//! Wall-clock measurements for reports only; nothing here is on a consensus path.

use crate::objects::{builtin_routines, safe_corpus};
use crate::{Image, Params, certify, check, link};
use keel_ebpf_bridge::{Engine, Registry};
use std::time::{Duration, Instant};

/// One routine's measurements.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// Routine name.
    pub name: String,
    /// Instruction slots.
    pub slots: usize,
    /// Fastest certification (or the time to the refusal).
    pub certify: Duration,
    /// `Err(reason)` if the certifier refused the routine.
    pub certified: Result<(), String>,
    /// Fastest check of the certificate, if certified.
    pub check: Option<Duration>,
    /// Instruction slots checked per second (slots / check time), if certified.
    pub check_slots_per_sec: Option<u64>,
    /// `certify / check`, in hundredths (the target is >= 1000, i.e. 10x), if certified.
    pub speedup_x100: Option<u64>,
    /// Time for the kernel to load (verify) the routine's kernel build; `Err` says why not.
    pub kernel_load: Result<Duration, String>,
}

fn fastest<T>(rounds: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    // `rounds.max(1)` iterations ran, so `last` is set.
    (best, last.unwrap_or_else(f))
}

fn measure(name: &str, image: &Image, params: &Params, rounds: u32) -> BenchRow {
    let slots = image.text.len() / 8;
    let (certify_time, cert) = fastest(rounds, || certify(image, params));
    let mut row = BenchRow {
        name: name.to_string(),
        slots,
        certify: certify_time,
        certified: Ok(()),
        check: None,
        check_slots_per_sec: None,
        speedup_x100: None,
        kernel_load: Err("no kernel build".into()),
    };
    match cert {
        Err(e) => row.certified = Err(e.to_string()),
        Ok(cert) => {
            let (t, _) = fastest(rounds.saturating_mul(10), || check(image, &cert));
            let nanos = t.as_nanos().max(1);
            row.check = Some(t);
            // `nanos >= 1`; an overflowing rate is reported as unknown.
            let per = |x: u128, k: u128| x.checked_mul(k).and_then(|p| p.checked_div(nanos));
            row.check_slots_per_sec =
                per(slots as u128, 1_000_000_000).and_then(|r| r.try_into().ok());
            row.speedup_x100 = per(certify_time.as_nanos(), 100).and_then(|r| r.try_into().ok());
        }
    }
    row
}

/// Measures every bridge routine and every safe corpus routine, `rounds` times each (the
/// fastest run counts). Kernel loads need root; without it the row says why.
///
/// Errors: the bridge's built-in routines fail to load or link (a build defect).
pub fn bench_pcc(rounds: u32) -> Result<Vec<BenchRow>, String> {
    bench_pcc_with_progress(rounds, &mut |_, _, _| {})
}

/// [`bench_pcc`], calling `progress(routine, i, n)` before measuring routine `i` of `n` (the
/// run takes minutes; the command line shows where it is).
pub fn bench_pcc_with_progress(
    rounds: u32,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Vec<BenchRow>, String> {
    let builtin = builtin_routines()?;
    let corpus = safe_corpus();
    let total = builtin.len().saturating_add(corpus.len());
    let mut rows = Vec::new();
    for r in builtin {
        progress(r.name, rows.len().saturating_add(1), total);
        let image = link(r.elf)?;
        let mut row = measure(r.name, &image, &r.params, rounds);
        row.kernel_load = kernel_load_time(r.name);
        rows.push(row);
    }
    for (name, image, params) in corpus {
        progress(name, rows.len().saturating_add(1), total);
        let mut row = measure(name, &image, &params, rounds);
        row.kernel_load = Err("hand-written sBPF test routine: no kernel build".into());
        rows.push(row);
    }
    Ok(rows)
}

/// Time for the kernel verifier to accept the kernel build of routine `name` (fresh load).
pub fn kernel_load_time(name: &str) -> Result<Duration, String> {
    let registry = Registry::builtin().map_err(|e| e.to_string())?;
    let routine = registry
        .find_by_name(name)
        .ok_or_else(|| format!("no routine {name}"))?;
    let t = Instant::now();
    routine
        .engine_available(Engine::Kernel)
        .map_err(|e| e.to_string())?;
    Ok(t.elapsed())
}

/// A fixed-width text table of `rows`.
pub fn render(rows: &[BenchRow]) -> String {
    let mut out = format!(
        "{:<22} {:>6} {:>12} {:>12} {:>14} {:>9} {:>14}  notes\n",
        "routine", "slots", "certify", "check", "slots/s", "speedup", "kernel load"
    );
    for r in rows {
        let opt = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{d:.2?}"));
        let kernel = match &r.kernel_load {
            Ok(d) => format!("{d:.2?}"),
            Err(_) => "-".into(),
        };
        let mut notes = Vec::new();
        if let Err(e) = &r.certified {
            notes.push(format!("not certified: {e}"));
        }
        if let Err(e) = &r.kernel_load {
            notes.push(format!("kernel: {e}"));
        }
        out += &format!(
            "{:<22} {:>6} {:>12} {:>12} {:>14} {:>9} {:>14}  {}\n",
            r.name,
            r.slots,
            format!("{:.2?}", r.certify),
            opt(r.check),
            r.check_slots_per_sec.map_or("-".into(), |v| v.to_string()),
            r.speedup_x100
                .map_or("-".into(), |v| format!("{}.{:02}x", v / 100, v % 100)),
            kernel,
            notes.join("; ")
        );
    }
    out
}
