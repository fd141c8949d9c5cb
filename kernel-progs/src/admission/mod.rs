//! Admission control and per-source rate limiting of the appliance's TCP port.
//!
//! Pins (under `<pin_dir>/admission/`): the maps by name, and one link per attach point
//! (`link_xdp_<ifname>`, `link_cgroup`). Dropping an [`Admission`] leaves pinned links attached,
//! so a restarting daemon finds them and swaps its freshly loaded program in with
//! `bpf_link_update` (no window without admission). [`Admission::detach`] removes everything.

pub(crate) mod maps;

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use libbpf_rs::query::LinkTypeInfo;
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, Object};

use crate::config::{AdmissionConfig, AttachMode};
use crate::error::KernelError;
use crate::loader;
use crate::status::{AdmissionStatus, AttachKind, Attachment};
use crate::sysfs;

pub use maps::{AdmissionCounters, SourceStats};

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/admission.bpf.o"));

pub(crate) const PROG_XDP: &str = "keel_admit_xdp";
pub(crate) const PROG_SKB: &str = "keel_admit_skb";
pub(crate) const PROG_PASS_XDP: &str = "keel_pass_xdp";
pub(crate) const PROG_PASS_SKB: &str = "keel_pass_skb";
const LINK_XDP_PREFIX: &str = "link_xdp_";
const LINK_CGROUP: &str = "link_cgroup";
/// Subdirectory of the pin root holding this subsystem's pins.
pub const PIN_SUBDIR: &str = "admission";

/// The loaded admission program, its maps and its attachment.
pub struct Admission {
    object: Object,
    params: MapHandle,
    allow_v4: MapHandle,
    allow_v6: MapHandle,
    buckets: MapHandle,
    drops: MapHandle,
    links: Vec<(Attachment, Link)>,
    pin_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("attachments", &self.attachments())
            .field("pin_dir", &self.pin_dir)
            .finish_non_exhaustive()
    }
}

impl Admission {
    /// Loads the program, applies `config` (parameters and allowlist, before any packet is
    /// judged by the new program) and attaches it per `config.attach`. With `pin_root`, maps and
    /// links are pinned under `pin_root/admission` and pins of an earlier run are reused.
    ///
    /// # Errors
    /// [`KernelError::InvalidConfig`] for a config that fails [`AdmissionConfig::validate`];
    /// [`KernelError::NotPermitted`] without privileges; [`KernelError::NoSuchInterface`] or
    /// [`KernelError::Unsupported`] when the attach point is unavailable (in `Auto` mode only
    /// when the cgroup fallback fails too); others from libbpf and bpffs.
    pub fn attach(config: &AdmissionConfig, pin_root: Option<&Path>) -> Result<Self, KernelError> {
        config.validate()?;
        let pin_dir = pin_root.map(|root| root.join(PIN_SUBDIR));
        if let Some(dir) = &pin_dir {
            sysfs::prepare_pin_dir(dir)?;
        }
        let mut adm = Self::load(pin_dir)?;
        adm.apply(config)?;
        adm.attach_links(config)?;
        adm.remove_stale_links();
        Ok(adm)
    }

    /// Loads an unattached, unpinned instance (for benchmarks and packet-level tests).
    pub(crate) fn load_private() -> Result<Self, KernelError> {
        Self::load(None)
    }

    fn load(pin_dir: Option<PathBuf>) -> Result<Self, KernelError> {
        let object = loader::load("keel_admission", OBJECT, pin_dir.as_deref())?;
        Ok(Self {
            params: loader::map(&object, maps::PARAMS)?,
            allow_v4: loader::map(&object, maps::ALLOW_V4)?,
            allow_v6: loader::map(&object, maps::ALLOW_V6)?,
            buckets: loader::map(&object, maps::BUCKETS)?,
            drops: loader::map(&object, maps::DROPS)?,
            object,
            links: Vec::new(),
            pin_dir,
        })
    }

    pub(crate) fn object(&self) -> &Object {
        &self.object
    }

    /// Applies a reloaded config's port, rate limit and allowlist to the running program.
    /// The attach point is not changed (that needs a new [`Admission::attach`]).
    ///
    /// # Errors
    /// [`KernelError::InvalidConfig`] when `config` fails validation (nothing is changed then);
    /// [`KernelError::Bpf`] when a map update fails.
    pub fn apply(&self, config: &AdmissionConfig) -> Result<(), KernelError> {
        config.validate()?;
        self.replace_allowlist(&config.allowlist)?;
        maps::write_params(&self.params, config)
    }

    /// Admits `net` (an address as /32 or /128, or a prefix).
    ///
    /// # Errors
    /// [`KernelError::Bpf`] when the trie is full or the update fails.
    pub fn allow(&self, net: IpNet) -> Result<(), KernelError> {
        self.trie(&net)
            .update(&maps::allow_key(&net), &[1u8], MapFlags::ANY)
            .map_err(|e| KernelError::bpf(format!("adding {net} to the allowlist"), e))
    }

    /// Stops admitting `net` (exactly this prefix). Returns whether it was present.
    ///
    /// # Errors
    /// [`KernelError::Bpf`] when the delete fails for another reason than absence.
    pub fn disallow(&self, net: IpNet) -> Result<bool, KernelError> {
        match self.trie(&net).delete(&maps::allow_key(&net)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(KernelError::bpf(
                format!("removing {net} from the allowlist"),
                e,
            )),
        }
    }

    /// Makes the allowlist exactly `nets`: new entries are added before stale ones are removed,
    /// so a source present in both the old and the new list is never dropped in between.
    ///
    /// # Errors
    /// [`KernelError::Bpf`] when an update or delete fails (the list may then be partly applied).
    pub fn replace_allowlist(&self, nets: &[IpNet]) -> Result<(), KernelError> {
        let wanted: Vec<IpNet> = nets.iter().map(IpNet::trunc).collect();
        for net in &wanted {
            self.allow(*net)?;
        }
        for net in self.allowlist() {
            if !wanted.contains(&net) {
                self.disallow(net)?;
            }
        }
        Ok(())
    }

    /// The allowlist as the kernel holds it, sorted.
    pub fn allowlist(&self) -> Vec<IpNet> {
        maps::read_allowlist(&self.allow_v4, &self.allow_v6)
    }

    fn trie(&self, net: &IpNet) -> &MapHandle {
        match net {
            IpNet::V4(_) => &self.allow_v4,
            IpNet::V6(_) => &self.allow_v6,
        }
    }

    /// Verdict counters, summed over CPUs.
    ///
    /// # Errors
    /// [`KernelError::Bpf`] when the map cannot be read.
    pub fn counters(&self) -> Result<AdmissionCounters, KernelError> {
        maps::read_counters(&self.drops)
    }

    /// Settings, allowlist and counters as the kernel holds them.
    ///
    /// # Errors
    /// [`KernelError::Bpf`] or [`KernelError::MapLayout`] when a map cannot be read.
    pub fn status(&self) -> Result<AdmissionStatus, KernelError> {
        crate::status::admission_status(&self.params, &self.allow_v4, &self.allow_v6, &self.drops)
    }

    /// The rate-limit state of one source, if it has sent to the port since its bucket was
    /// created (buckets are evicted least-recently-used).
    ///
    /// # Errors
    /// [`KernelError::Bpf`] or [`KernelError::MapLayout`] when the map cannot be read.
    pub fn source_stats(&self, addr: IpAddr) -> Result<Option<SourceStats>, KernelError> {
        let value = self
            .buckets
            .lookup(&maps::src_key(addr), MapFlags::ANY)
            .map_err(|e| KernelError::bpf(format!("reading the bucket of {addr}"), e))?;
        value.map(|v| maps::decode_bucket(&v)).transpose()
    }

    /// Where the program is attached.
    pub fn attachments(&self) -> Vec<Attachment> {
        self.links.iter().map(|(a, _)| a.clone()).collect()
    }

    /// The pin directory in use, if pinned.
    pub fn pin_dir(&self) -> Option<&Path> {
        self.pin_dir.as_deref()
    }

    /// Detaches the program and removes its pins (maps and links): admission stops now and a
    /// restarted daemon starts from empty maps.
    ///
    /// # Errors
    /// [`KernelError::Io`] when a pin cannot be removed (the program is detached regardless).
    pub fn detach(mut self) -> Result<(), KernelError> {
        for (att, mut link) in self.links.drain(..) {
            let _ = link.unpin();
            if let Err(e) = link.detach() {
                tracing::warn!(target = %att.target, error = %e, "detaching admission link");
            }
        }
        if let Some(dir) = self.pin_dir.take() {
            for name in sysfs::pins_with_prefix(&dir, "") {
                sysfs::remove_pin(&dir.join(name))?;
            }
            let _ = std::fs::remove_dir(&dir);
        }
        Ok(())
    }

    fn attach_links(&mut self, config: &AdmissionConfig) -> Result<(), KernelError> {
        match (config.attach, config.interface.as_deref()) {
            (AttachMode::Xdp, Some(ifname)) => self.attach_xdp(ifname),
            (AttachMode::Xdp, None) => Err(KernelError::InvalidConfig(
                "XDP attach needs an interface".into(),
            )),
            (AttachMode::Cgroup, _) | (AttachMode::Auto, None) => {
                self.attach_cgroup(config.cgroup.as_deref())
            }
            (AttachMode::Auto, Some(ifname)) => match self.attach_xdp(ifname) {
                Ok(()) => Ok(()),
                Err(e) => {
                    tracing::warn!(
                        interface = ifname,
                        error = %e,
                        "XDP admission unavailable; falling back to cgroup_skb ingress"
                    );
                    self.attach_cgroup(config.cgroup.as_deref())
                }
            },
        }
    }

    fn attach_xdp(&mut self, ifname: &str) -> Result<(), KernelError> {
        let ifindex = nix::net::if_::if_nametoindex(ifname)
            .map_err(|_| KernelError::NoSuchInterface(ifname.to_owned()))?;
        let prog = loader::program(&self.object, PROG_XDP)?;
        let pin = loader::link_pin(
            self.pin_dir.as_deref(),
            &format!("{LINK_XDP_PREFIX}{ifname}"),
        );
        let (link, reused) = loader::reuse_or_attach(
            pin.as_deref(),
            &prog,
            |info| matches!(&info.info, LinkTypeInfo::Xdp(x) if x.ifindex == ifindex),
            || {
                let index = i32::try_from(ifindex)
                    .map_err(|_| KernelError::NoSuchInterface(ifname.to_owned()))?;
                prog.attach_xdp(index)
                    .map_err(|e| KernelError::bpf(format!("attaching XDP to {ifname}"), e))
            },
        )?;
        self.record(
            AttachKind::Xdp,
            ifname.to_owned(),
            link,
            pin.is_some(),
            reused,
        );
        Ok(())
    }

    fn attach_cgroup(&mut self, cgroup: Option<&Path>) -> Result<(), KernelError> {
        let dir = match cgroup {
            Some(d) => d.to_path_buf(),
            None => sysfs::cgroup2_root()?,
        };
        let file = File::open(&dir).map_err(|e| KernelError::io("opening cgroup", &dir, e))?;
        // A cgroup v2 directory's inode number is its cgroup id (what the link reports).
        let cgroup_id = file
            .metadata()
            .map_err(|e| KernelError::io("reading cgroup", &dir, e))?
            .ino();
        let prog = loader::program(&self.object, PROG_SKB)?;
        let pin = loader::link_pin(self.pin_dir.as_deref(), LINK_CGROUP);
        let (link, reused) = loader::reuse_or_attach(
            pin.as_deref(),
            &prog,
            |info| matches!(&info.info, LinkTypeInfo::Cgroup(c) if c.cgroup_id == cgroup_id),
            || {
                prog.attach_cgroup(file.as_raw_fd()).map_err(|e| {
                    KernelError::bpf(format!("attaching cgroup_skb to {}", dir.display()), e)
                })
            },
        )?;
        let target = dir.display().to_string();
        self.record(AttachKind::CgroupSkb, target, link, pin.is_some(), reused);
        Ok(())
    }

    fn record(&mut self, kind: AttachKind, target: String, link: Link, pinned: bool, reused: bool) {
        let info = link.info().ok();
        let att = Attachment {
            kind,
            target,
            link_id: info.as_ref().map_or(0, |i| i.id),
            prog_id: info.as_ref().map_or(0, |i| i.prog_id),
            pinned,
            reused,
        };
        tracing::info!(kind = %att.kind, target = %att.target, pinned, reused, "admission attached");
        self.links.push((att, link));
    }

    /// Detaches pinned links of an earlier configuration that this one no longer uses
    /// (e.g. the interface changed, or XDP became cgroup_skb).
    fn remove_stale_links(&self) {
        let Some(dir) = &self.pin_dir else { return };
        let current: Vec<PathBuf> = self
            .links
            .iter()
            .filter_map(|(_, l)| l.pin_path())
            .collect();
        for name in sysfs::pins_with_prefix(dir, "link_") {
            let path = dir.join(&name);
            if current.contains(&path) {
                continue;
            }
            tracing::warn!(pin = %path.display(), "detaching a pinned admission link the config no longer uses");
            if let Ok(mut link) = Link::open(&path) {
                let _ = link.unpin();
                let _ = link.detach();
            } else {
                let _ = sysfs::remove_pin(&path);
            }
        }
    }
}

#[cfg(test)]
mod verdict_tests;
