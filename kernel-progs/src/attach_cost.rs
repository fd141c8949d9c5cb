//! Attach and detach cost of the admission programs where the daemon attaches them — an XDP
//! link on an interface (in whatever mode the kernel offers for it) and a cgroup_skb ingress link
//! on a cgroup — measured without touching anything the host routes: the XDP targets are the
//! loopback and a veth pair of a private network namespace (created by `unshare` on a helper
//! thread, gone when the thread ends) and the cgroup is an empty one created for the run and
//! removed after it. Nothing is pinned.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use libbpf_rs::query::{LinkInfoIter, LinkTypeInfo};
use libbpf_rs::{Link, ProgramMut, Xdp, XdpFlags};
use serde::{Deserialize, Serialize};

use crate::admission::{Admission, PROG_SKB, PROG_XDP};
use crate::error::KernelError;
use crate::loader;
use crate::sysfs;

/// Highest accepted repeat count: attach and detach take milliseconds at worst, so this bounds
/// a run to minutes.
pub const MAX_ATTACH_REPEATS: u32 = 10_000;
/// The veth pair created inside the private namespace (names are per namespace).
const VETH: (&str, &str) = ("keel-hw0", "keel-hw1");

/// Attach/detach timings of one kind of attachment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachCost {
    /// `xdp_generic`, `xdp_native`, `xdp_offload` (the mode the kernel chose) or `cgroup_skb`.
    pub kind: String,
    /// What it was attached to (`lo`, `keel-hw0` in the private namespace, the private cgroup).
    pub target: String,
    /// Wall time of each attach (link creation), µs, in run order.
    pub attach_us: Vec<f64>,
    /// Wall time of each detach (`bpf_link_detach`), µs, in run order.
    pub detach_us: Vec<f64>,
}

/// Result of [`bench_attach`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttachBench {
    /// Attach/detach cycles per kind.
    pub repeats: u32,
    /// Every kind measured.
    pub costs: Vec<AttachCost>,
    /// Kinds that could not be measured here, with the reason.
    pub skipped: Vec<String>,
    /// Checks made: attached where asked after each attach, nothing left after each detach,
    /// the host namespace's XDP attachments unchanged.
    pub checks: u64,
    /// Checks that failed, described.
    pub failures: Vec<String>,
    /// Inode of the network namespace measured in (differs from `host_netns_inode`).
    pub netns_inode: u64,
    /// Inode of the caller's network namespace.
    pub host_netns_inode: u64,
}

impl AttachBench {
    fn check(&mut self, outcome: Result<(), String>) {
        self.checks = self.checks.saturating_add(1);
        if let Err(what) = outcome {
            self.failures.push(what);
        }
    }
}

/// Measures `repeats` (1..=[`MAX_ATTACH_REPEATS`]) attach/detach cycles per kind on a helper
/// thread in a fresh network namespace. A kind the machine cannot offer (no `ip` for the veth
/// pair, no cgroup v2) is listed in [`AttachBench::skipped`].
///
/// # Errors
/// [`KernelError::NotPermitted`] / [`KernelError::Unsupported`] when no private network
/// namespace can be created or the programs cannot load; [`KernelError::InvalidConfig`] for a
/// repeat count out of range.
pub fn bench_attach(repeats: u32) -> Result<AttachBench, KernelError> {
    if !(1..=MAX_ATTACH_REPEATS).contains(&repeats) {
        return Err(KernelError::InvalidConfig(format!(
            "attach repeats {repeats} outside 1..={MAX_ATTACH_REPEATS}"
        )));
    }
    let host_netns_inode = thread_netns_inode()?;
    let host_before = xdp_attachments_here();
    let mut bench = std::thread::Builder::new()
        .name("keel-attach-cost".into())
        .spawn(move || in_private_netns(repeats))
        .map_err(|e| KernelError::io("spawning the attach thread for", "/proc/self/ns/net", e))?
        .join()
        .map_err(|_| KernelError::InvalidConfig("the attach thread panicked".into()))??;
    bench.host_netns_inode = host_netns_inode;
    let host_after = xdp_attachments_here();
    bench.check(if host_before == host_after {
        Ok(())
    } else {
        Err(format!(
            "the host namespace's XDP attachments changed: {host_before:?} -> {host_after:?}"
        ))
    });
    bench.check(if bench.netns_inode != host_netns_inode {
        Ok(())
    } else {
        Err("measured in the host's network namespace".into())
    });
    Ok(bench)
}

/// `(interface, attached XDP program id)` for every interface of the calling thread's network
/// namespace with an XDP program, sorted. Interfaces that cannot be queried are left out.
pub fn xdp_attachments_here() -> Vec<(String, u32)> {
    let Ok(ifaces) = nix::net::if_::if_nameindex() else {
        return Vec::new();
    };
    let Ok(sock) = std::net::UdpSocket::bind("127.0.0.1:0") else {
        return Vec::new();
    };
    // `Xdp` wants an fd for attaching; querying ignores it.
    let xdp = Xdp::new(sock.as_fd());
    let mut out: Vec<(String, u32)> = ifaces
        .iter()
        .filter_map(|i| {
            let index = i32::try_from(i.index()).ok()?;
            let id = xdp.query_id(index, XdpFlags::NONE).ok()?;
            (id != 0).then(|| (i.name().to_string_lossy().into_owned(), id))
        })
        .collect();
    out.sort();
    out
}

fn thread_netns_inode() -> Result<u64, KernelError> {
    let path = "/proc/thread-self/ns/net";
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| KernelError::io("reading", path, e))
}

/// The body of the helper thread: its own namespace, then every kind in turn.
fn in_private_netns(repeats: u32) -> Result<AttachBench, KernelError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        nix::errno::Errno::EPERM => KernelError::NotPermitted {
            action: "create a private network namespace (unshare CLONE_NEWNET)".into(),
        },
        e => KernelError::Unsupported {
            feature: "private network namespaces".into(),
            detail: e.to_string(),
        },
    })?;
    let mut bench = AttachBench {
        repeats,
        netns_inode: thread_netns_inode()?,
        ..AttachBench::default()
    };
    let adm = Admission::load_private()?;
    let xdp = loader::program(adm.object(), PROG_XDP)?;
    measure_xdp(&mut bench, &xdp, "lo");
    match make_veth() {
        Ok(()) => measure_xdp(&mut bench, &xdp, VETH.0),
        Err(why) => bench.skipped.push(format!("XDP on a veth: {why}")),
    }
    let skb = loader::program(adm.object(), PROG_SKB)?;
    match PrivateCgroup::create() {
        Ok(cg) => measure_cgroup(&mut bench, &skb, &cg),
        Err(e) => bench.skipped.push(format!("cgroup_skb: {e}")),
    }
    Ok(bench)
}

/// A veth pair in the calling thread's namespace (`ip` runs in it: a child inherits the
/// namespace of the thread that spawns it).
fn make_veth() -> Result<(), String> {
    let out = Command::new("ip")
        .args([
            "link", "add", VETH.0, "type", "veth", "peer", "name", VETH.1,
        ])
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip link add … type veth` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn measure_xdp(bench: &mut AttachBench, prog: &ProgramMut<'_>, ifname: &str) {
    let index = nix::net::if_::if_nametoindex(ifname)
        .ok()
        .and_then(|i| i32::try_from(i).ok());
    let Some(index) = index else {
        bench
            .skipped
            .push(format!("XDP on {ifname}: no such interface"));
        return;
    };
    let xdp = Xdp::new(prog.as_fd());
    let mut cost = AttachCost {
        kind: String::new(),
        target: ifname.to_owned(),
        attach_us: Vec::new(),
        detach_us: Vec::new(),
    };
    let mut prog_id = 0;
    for _ in 0..bench.repeats {
        let start = Instant::now();
        let link = match prog.attach_xdp(index) {
            Ok(l) => l,
            Err(e) => {
                bench
                    .skipped
                    .push(format!("XDP on {ifname}: attach refused: {e}"));
                return;
            }
        };
        cost.attach_us.push(micros(start));
        prog_id = link.info().map_or(prog_id, |i| i.prog_id);
        let kind = xdp
            .query(index, XdpFlags::NONE)
            .map_or("xdp_unknown", |q| xdp_kind(q.attach_mode));
        bench.check(attached_xdp(&xdp, index, prog_id, ifname));
        cost.kind = kind.to_owned();
        cost.detach_us.push(detach_timed(bench, link, ifname));
        bench.check(match xdp.query_id(index, XdpFlags::NONE) {
            Ok(0) => Ok(()),
            Ok(id) => Err(format!(
                "{ifname}: program {id} still attached after detach"
            )),
            Err(e) => Err(format!("{ifname}: XDP query failed: {e}")),
        });
    }
    bench.check(no_live_link_of(prog_id, ifname));
    bench.costs.push(cost);
}

fn attached_xdp(xdp: &Xdp<'_>, index: i32, want: u32, ifname: &str) -> Result<(), String> {
    match xdp.query_id(index, XdpFlags::NONE) {
        Ok(id) if id == want && id != 0 => Ok(()),
        Ok(id) => Err(format!("{ifname}: program {id} attached, expected {want}")),
        Err(e) => Err(format!("{ifname}: XDP query failed: {e}")),
    }
}

fn xdp_kind(mode: u8) -> &'static str {
    match std::os::raw::c_uint::from(mode) {
        libbpf_sys::XDP_ATTACHED_SKB => "xdp_generic",
        libbpf_sys::XDP_ATTACHED_DRV => "xdp_native",
        libbpf_sys::XDP_ATTACHED_HW => "xdp_offload",
        _ => "xdp_unknown",
    }
}

fn measure_cgroup(bench: &mut AttachBench, prog: &ProgramMut<'_>, cg: &PrivateCgroup) {
    let target = cg.dir.display().to_string();
    let mut cost = AttachCost {
        kind: "cgroup_skb".into(),
        target: target.clone(),
        attach_us: Vec::new(),
        detach_us: Vec::new(),
    };
    let mut prog_id = 0;
    for _ in 0..bench.repeats {
        let start = Instant::now();
        let link = match prog.attach_cgroup(std::os::fd::AsRawFd::as_raw_fd(&cg.file)) {
            Ok(l) => l,
            Err(e) => {
                bench
                    .skipped
                    .push(format!("cgroup_skb: attach refused: {e}"));
                return;
            }
        };
        cost.attach_us.push(micros(start));
        let info = link.info();
        prog_id = info.as_ref().map_or(prog_id, |i| i.prog_id);
        bench.check(match info.map(|i| i.info) {
            Ok(LinkTypeInfo::Cgroup(c)) if c.cgroup_id == cg.id => Ok(()),
            Ok(other) => Err(format!("cgroup_skb link attached elsewhere: {other:?}")),
            Err(e) => Err(format!("cgroup_skb link info: {e}")),
        });
        cost.detach_us.push(detach_timed(bench, link, &target));
    }
    bench.check(no_live_link_of(prog_id, &target));
    bench.costs.push(cost);
}

fn detach_timed(bench: &mut AttachBench, link: Link, target: &str) -> f64 {
    let start = Instant::now();
    let outcome = link.detach();
    let us = micros(start);
    bench.check(outcome.map_err(|e| format!("{target}: detach failed: {e}")));
    drop(link);
    us
}

/// No link of `prog`'s program is still attached to an interface or cgroup anywhere (a
/// detached link reports target 0 until its last fd is closed).
fn no_live_link_of(id: u32, target: &str) -> Result<(), String> {
    if id == 0 {
        return Err(format!("{target}: the program's id was never read"));
    }
    let live: Vec<u32> = LinkInfoIter::default()
        .filter(|l| l.prog_id == id)
        .filter(|l| match &l.info {
            LinkTypeInfo::Xdp(x) => x.ifindex != 0,
            LinkTypeInfo::Cgroup(c) => c.cgroup_id != 0,
            _ => true,
        })
        .map(|l| l.id)
        .collect();
    if live.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{target}: links {live:?} still attached after detach"
        ))
    }
}

fn micros(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e6
}

/// An empty cgroup v2 directory of this run: no process is in it, so a program attached to
/// it judges no packet. Removed on drop.
struct PrivateCgroup {
    dir: PathBuf,
    file: std::fs::File,
    id: u64,
}

impl PrivateCgroup {
    fn create() -> Result<Self, KernelError> {
        let root = sysfs::cgroup2_root()?;
        let dir = root.join(format!(
            "keel-hwtest-attach-{}-{}",
            std::process::id(),
            nix::unistd::gettid()
        ));
        std::fs::create_dir(&dir).map_err(|e| KernelError::io("creating cgroup", &dir, e))?;
        let opened = std::fs::File::open(&dir).and_then(|f| Ok((f.metadata()?.ino(), f)));
        match opened {
            Ok((id, file)) => Ok(Self { dir, file, id }),
            Err(e) => {
                remove_cgroup(&dir);
                Err(KernelError::io("opening cgroup", dir, e))
            }
        }
    }
}

impl Drop for PrivateCgroup {
    fn drop(&mut self) {
        remove_cgroup(&self.dir);
    }
}

fn remove_cgroup(dir: &Path) {
    if let Err(e) = std::fs::remove_dir(dir) {
        tracing::warn!(cgroup = %dir.display(), error = %e, "cannot remove hwtest's private cgroup");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::privileged_or_skip;

    #[test]
    fn a_repeat_count_out_of_range_is_refused() {
        assert!(matches!(
            bench_attach(0),
            Err(KernelError::InvalidConfig(_))
        ));
        assert!(matches!(
            bench_attach(MAX_ATTACH_REPEATS + 1),
            Err(KernelError::InvalidConfig(_))
        ));
    }

    #[test]
    fn attach_and_detach_are_timed_in_a_private_namespace_and_leave_nothing_attached() {
        if !privileged_or_skip("attach cost") {
            return;
        }
        let b = bench_attach(3).expect("bench");
        assert!(b.failures.is_empty(), "{:?}", b.failures);
        assert_ne!(b.netns_inode, b.host_netns_inode);
        let lo = b
            .costs
            .iter()
            .find(|c| c.target == "lo")
            .expect("lo measured");
        assert_eq!(lo.kind, "xdp_generic", "loopback has no driver XDP");
        for c in &b.costs {
            assert_eq!((c.attach_us.len(), c.detach_us.len()), (3, 3), "{c:?}");
            assert!(c.attach_us.iter().chain(&c.detach_us).all(|t| *t > 0.0));
        }
        // Loopback alone: attached, detach call and nothing-left checks per cycle, one final
        // link scan, plus the two host checks.
        let cgroup = b.costs.iter().any(|c| c.kind == "cgroup_skb");
        assert!(
            cgroup || !b.skipped.is_empty(),
            "cgroup neither measured nor skipped"
        );
        let loopback_alone = 3 * 3 + 1 + 2;
        assert!(b.checks >= loopback_alone, "{}", b.checks);
    }
}
