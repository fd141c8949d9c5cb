//! Network interfaces (with the XDP modes their drivers allow) and accelerators.

use serde::{Deserialize, Serialize};

use super::root::SysRoot;

/// Drivers with native (driver-mode) XDP in mainline Linux. Generic XDP works on every
/// interface; offload (the program runs on the NIC) only on Netronome `nfp`.
const NATIVE_XDP_DRIVERS: [&str; 24] = [
    "i40e",
    "ice",
    "ixgbe",
    "ixgbevf",
    "igb",
    "igc",
    "mlx4_core",
    "mlx4_en",
    "mlx5_core",
    "bnxt_en",
    "nfp",
    "qede",
    "ena",
    "virtio_net",
    "veth",
    "tun",
    "thunderx",
    "sfc",
    "mvneta",
    "mvpp2",
    "stmmac",
    "netsec",
    "gve",
    "lan966x",
];

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// Interface name.
    pub name: String,
    /// Kernel driver (`None` for virtual devices without one, e.g. `lo`).
    pub driver: Option<String>,
    /// `operstate`.
    pub state: Option<String>,
    /// Link speed in Mb/s when known.
    pub speed_mbps: Option<u64>,
    /// XDP modes available: always `generic`; `native` by driver; `offload` for `nfp`.
    pub xdp_modes: Vec<String>,
}

/// GPUs and other accelerators visible to this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accelerators {
    /// `/dev/nvidia*` device nodes.
    pub nvidia_devices: Vec<String>,
    /// DRM cards with their PCI vendor id (`card0: 0x10de`).
    pub drm_cards: Vec<String>,
    /// OpenCL installable client drivers (`/etc/OpenCL/vendors/*.icd`).
    pub opencl_icds: Vec<String>,
    /// Compute accelerators (`/dev/accel/*`: FPGAs, NPUs using the accel subsystem).
    pub accel_devices: Vec<String>,
}

/// Reads the network interfaces under `root`.
pub fn probe_nics(root: &SysRoot) -> Vec<Nic> {
    root.list("sys/class/net")
        .into_iter()
        .map(|name| {
            let dir = format!("sys/class/net/{name}");
            let driver = root.link_name(&format!("{dir}/device/driver"));
            let mut xdp_modes = vec!["generic".to_string()];
            if driver
                .as_deref()
                .is_some_and(|d| NATIVE_XDP_DRIVERS.contains(&d))
                || name == "lo"
            {
                xdp_modes.push("native".into());
            }
            if driver.as_deref() == Some("nfp") {
                xdp_modes.push("offload".into());
            }
            Nic {
                state: root.read(&format!("{dir}/operstate")),
                // Virtual links report -1 (read fails to parse as u64 and is left out).
                speed_mbps: root.read_u64(&format!("{dir}/speed")),
                name,
                driver,
                xdp_modes,
            }
        })
        .collect()
}

/// Reads the accelerators under `root`.
pub fn probe_accelerators(root: &SysRoot) -> Accelerators {
    Accelerators {
        nvidia_devices: root
            .list("dev")
            .into_iter()
            .filter(|n| n.starts_with("nvidia"))
            .collect(),
        drm_cards: root
            .list("sys/class/drm")
            .into_iter()
            .filter(|n| n.starts_with("card") && !n.contains('-'))
            .map(|card| {
                let vendor = root.read(&format!("sys/class/drm/{card}/device/vendor"));
                format!("{card}: {}", vendor.as_deref().unwrap_or("unknown vendor"))
            })
            .collect(),
        opencl_icds: root
            .list("etc/OpenCL/vendors")
            .into_iter()
            .filter(|n| n.ends_with(".icd"))
            .collect(),
        accel_devices: root.list("dev/accel"),
    }
}
