//! io_uring on the live kernel: which opcodes and setup flags it accepts, and whether this
//! process may use SQPOLL. These are asked of the kernel itself (creating small rings), so they
//! are not read from the probe's root.

use io_uring::{IoUring, Probe, opcode};
use serde::{Deserialize, Serialize};

/// What the kernel's io_uring accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UringInfo {
    /// Why no ring could be created (`None`: rings work).
    pub unavailable: Option<String>,
    /// Opcodes the server uses or could use, and whether the kernel supports each.
    pub opcodes: Vec<(String, bool)>,
    /// Setup flags and whether a ring with each could be created.
    pub setup_flags: Vec<(String, bool)>,
}

const OPCODES: [(&str, u8); 12] = [
    ("ACCEPT", opcode::Accept::CODE),
    ("ACCEPT_MULTI", opcode::AcceptMulti::CODE),
    ("RECV", opcode::Recv::CODE),
    ("RECV_MULTI", opcode::RecvMulti::CODE),
    ("SEND", opcode::Send::CODE),
    ("SEND_ZC", opcode::SendZc::CODE),
    ("READ", opcode::Read::CODE),
    ("WRITE", opcode::Write::CODE),
    ("TIMEOUT", opcode::Timeout::CODE),
    ("CLOSE", opcode::Close::CODE),
    ("PROVIDE_BUFFERS", opcode::ProvideBuffers::CODE),
    ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
];

/// Probes io_uring on this kernel.
pub fn probe_uring() -> UringInfo {
    let ring = match IoUring::new(8) {
        Ok(r) => r,
        Err(e) => {
            return UringInfo {
                unavailable: Some(e.to_string()),
                opcodes: Vec::new(),
                setup_flags: Vec::new(),
            };
        }
    };
    let mut probe = Probe::new();
    let probed = ring.submitter().register_probe(&mut probe).is_ok();
    let opcodes = OPCODES
        .iter()
        .map(|(name, code)| ((*name).to_string(), probed && probe.is_supported(*code)))
        .collect();
    type Setup = fn(&mut io_uring::Builder) -> &mut io_uring::Builder;
    let flags: [(&str, Setup); 5] = [
        ("SQPOLL", |b| b.setup_sqpoll(100)),
        ("COOP_TASKRUN", |b| b.setup_coop_taskrun()),
        ("SINGLE_ISSUER", |b| b.setup_single_issuer()),
        ("DEFER_TASKRUN", |b| {
            b.setup_single_issuer().setup_defer_taskrun()
        }),
        ("SUBMIT_ALL", |b| b.setup_submit_all()),
    ];
    let setup_flags = flags
        .iter()
        .map(|(name, set)| {
            let mut b = IoUring::builder();
            set(&mut b);
            ((*name).to_string(), b.build(8).is_ok())
        })
        .collect();
    UringInfo {
        unavailable: None,
        opcodes,
        setup_flags,
    }
}
