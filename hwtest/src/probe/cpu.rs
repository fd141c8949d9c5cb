//! The CPU: model, the instruction-set features Keel's paths depend on, cores, SMT, caches and
//! frequency scaling (`/proc/cpuinfo`, `/sys/devices/system/cpu`).

use serde::{Deserialize, Serialize};

use super::root::{SysRoot, parse_list};

/// CPU features that decide which code runs (blst's assembly, hashing, vector paths).
pub const FEATURES: [(&str, &str); 7] = [
    ("adx", "blst's fast field multiplication (mulx/adcx/adox)"),
    ("bmi2", "blst's fast field multiplication (mulx)"),
    ("avx2", "vectorised hashing and memory copies"),
    ("avx512f", "wide vector units (not used by blst)"),
    (
        "sha_ni",
        "SHA-256 instructions (the sha2 crate's fast path)",
    ),
    ("aes", "AES-NI"),
    ("pclmulqdq", "carry-less multiplication"),
];

/// One cache level as seen by CPU 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    /// 1, 2, 3.
    pub level: u32,
    /// `Data`, `Instruction`, `Unified`.
    pub kind: String,
    /// e.g. `32K`, `1024K`.
    pub size: String,
    /// CPUs sharing it (kernel list syntax).
    pub shared_with: String,
}

/// Frequency scaling of one CPU (`cpufreq`), in kHz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFreq {
    /// Logical CPU.
    pub cpu: usize,
    /// `scaling_cur_freq`.
    pub cur_khz: Option<u64>,
    /// `cpuinfo_max_freq`.
    pub max_khz: Option<u64>,
    /// `scaling_governor`.
    pub governor: Option<String>,
}

/// What the CPU offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// `model name` of the first processor (`None` if cpuinfo is unreadable).
    pub model: Option<String>,
    /// `vendor_id`.
    pub vendor: Option<String>,
    /// Online logical CPUs.
    pub logical: usize,
    /// Distinct (package, core) pairs; `None` when topology files are missing.
    pub physical_cores: Option<usize>,
    /// `smt/active`; `None` when the file is missing.
    pub smt_active: Option<bool>,
    /// The features of [`FEATURES`] this CPU has.
    pub features: Vec<String>,
    /// CPU 0's caches.
    pub caches: Vec<Cache>,
    /// Frequency scaling per CPU (empty without cpufreq, as in many VMs).
    pub freq: Vec<CpuFreq>,
}

impl CpuInfo {
    /// Whether the CPU has `feature` (a name of [`FEATURES`]).
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// Reads the CPU description under `root`.
pub fn probe_cpu(root: &SysRoot) -> CpuInfo {
    let cpuinfo = root.read("proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "flags").then_some(v)
        })
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    let features = FEATURES
        .iter()
        .filter(|(f, _)| flags.contains(f))
        .map(|(f, _)| (*f).to_string())
        .collect();
    let online = online_cpus(root, &cpuinfo);
    CpuInfo {
        model: field("model name"),
        vendor: field("vendor_id"),
        logical: online.len(),
        physical_cores: physical_cores(root, &online),
        smt_active: root
            .read_u64("sys/devices/system/cpu/smt/active")
            .map(|v| v == 1),
        features,
        caches: caches(root),
        freq: online.iter().filter_map(|&c| cpufreq(root, c)).collect(),
    }
}

/// Online CPUs from sysfs, else the `processor` lines of cpuinfo.
fn online_cpus(root: &SysRoot, cpuinfo: &str) -> Vec<usize> {
    if let Some(list) = root
        .read("sys/devices/system/cpu/online")
        .and_then(|s| parse_list(&s))
        .filter(|l| !l.is_empty())
    {
        return list;
    }
    cpuinfo
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "processor").then(|| v.trim().parse().ok())?
        })
        .collect()
}

fn physical_cores(root: &SysRoot, online: &[usize]) -> Option<usize> {
    let mut cores = std::collections::BTreeSet::new();
    for cpu in online {
        let dir = format!("sys/devices/system/cpu/cpu{cpu}/topology");
        let pkg = root.read_u64(&format!("{dir}/physical_package_id"))?;
        let core = root.read_u64(&format!("{dir}/core_id"))?;
        cores.insert((pkg, core));
    }
    (!cores.is_empty()).then_some(cores.len())
}

fn caches(root: &SysRoot) -> Vec<Cache> {
    let base = "sys/devices/system/cpu/cpu0/cache";
    root.list(base)
        .into_iter()
        .filter(|n| n.starts_with("index"))
        .filter_map(|idx| {
            let f = |name: &str| root.read(&format!("{base}/{idx}/{name}"));
            Some(Cache {
                level: f("level")?.parse().ok()?,
                kind: f("type")?,
                size: f("size")?,
                shared_with: f("shared_cpu_list").unwrap_or_default(),
            })
        })
        .collect()
}

/// One CPU's frequency scaling; `None` when the CPU has no cpufreq directory.
pub fn cpufreq(root: &SysRoot, cpu: usize) -> Option<CpuFreq> {
    let dir = format!("sys/devices/system/cpu/cpu{cpu}/cpufreq");
    if !root.exists(&dir) {
        return None;
    }
    Some(CpuFreq {
        cpu,
        cur_khz: root.read_u64(&format!("{dir}/scaling_cur_freq")),
        max_khz: root.read_u64(&format!("{dir}/cpuinfo_max_freq")),
        governor: root.read(&format!("{dir}/scaling_governor")),
    })
}
