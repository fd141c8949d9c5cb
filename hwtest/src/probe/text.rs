//! The probe as text for people (the same facts as its JSON).

use std::fmt::{self, Display, Formatter};

use super::Probe;

fn opt<T: Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "unknown".into(), ToString::to_string)
}

impl Display for Probe {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let c = &self.cpu;
        writeln!(f, "host        {}", opt(&self.hostname))?;
        writeln!(f, "cpu         {} ({})", opt(&c.model), opt(&c.vendor))?;
        writeln!(
            f,
            "            {} logical, {} cores, SMT {}",
            c.logical,
            opt(&c.physical_cores),
            opt(&c.smt_active)
        )?;
        writeln!(f, "features    {}", c.features.join(" "))?;
        for k in &c.caches {
            writeln!(
                f,
                "cache       L{} {} {} (cpus {})",
                k.level, k.kind, k.size, k.shared_with
            )?;
        }
        for q in &c.freq {
            writeln!(
                f,
                "cpufreq     cpu{} {} kHz / max {} kHz, {}",
                q.cpu,
                opt(&q.cur_khz),
                opt(&q.max_khz),
                opt(&q.governor)
            )?;
        }
        let m = &self.memory;
        writeln!(
            f,
            "memory      {} KiB total, {} KiB available, THP {}",
            opt(&m.mem_total_kib),
            opt(&m.mem_available_kib),
            opt(&m.transparent_hugepages)
        )?;
        for h in &m.hugepages {
            writeln!(
                f,
                "hugepages   {} KiB: {} total, {} free",
                h.size_kib, h.total, h.free
            )?;
        }
        for n in &m.nodes {
            writeln!(
                f,
                "numa        node{} cpus {:?} mem {} KiB distances {:?} ({})",
                n.id,
                n.cpus,
                opt(&n.mem_total_kib),
                n.distances,
                m.numa_source
            )?;
        }
        let k = &self.kernel;
        writeln!(
            f,
            "kernel      {} clocksource {}",
            opt(&k.release),
            opt(&k.clocksource)
        )?;
        writeln!(
            f,
            "bpf         jit_enable {} jit_harden {} unprivileged_disabled {} btf {}",
            opt(&k.bpf_jit_enable),
            opt(&k.bpf_jit_harden),
            opt(&k.unprivileged_bpf_disabled),
            k.btf
        )?;
        writeln!(
            f,
            "io_uring    io_uring_disabled {}",
            opt(&k.io_uring_disabled)
        )?;
        for (key, v) in &k.config {
            writeln!(f, "config      {key}={v}")?;
        }
        if let Some(live) = &self.live {
            let u = &live.io_uring;
            if let Some(why) = &u.unavailable {
                writeln!(f, "io_uring    unavailable: {why}")?;
            }
            let yes = |v: &[(String, bool)]| {
                v.iter()
                    .map(|(n, ok)| format!("{n}{}", if *ok { "" } else { "(no)" }))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            writeln!(f, "io_uring    opcodes {}", yes(&u.opcodes))?;
            writeln!(f, "io_uring    setup {}", yes(&u.setup_flags))?;
        }
        for n in &self.nics {
            writeln!(
                f,
                "nic         {} driver {} {} speed {} Mb/s xdp {}",
                n.name,
                opt(&n.driver),
                opt(&n.state),
                opt(&n.speed_mbps),
                n.xdp_modes.join(",")
            )?;
        }
        let a = &self.accelerators;
        writeln!(
            f,
            "accel       nvidia {:?} drm {:?} opencl {:?} accel {:?}",
            a.nvidia_devices, a.drm_cards, a.opencl_icds, a.accel_devices
        )?;
        for cap in &self.capabilities {
            writeln!(
                f,
                "capability  {:<16} {:<3} {}",
                cap.name,
                if cap.effective { "yes" } else { "no" },
                cap.needed_for
            )?;
        }
        writeln!(f)?;
        for ch in &self.choices {
            writeln!(f, "use {:<16} {} — {}", ch.path, ch.uses, ch.reason)?;
        }
        Ok(())
    }
}
