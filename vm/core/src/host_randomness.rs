//! `randomness(height_lo, height_hi, out) -> i32`: the final randomness-beacon value of a past
//! block, for contracts (ABI.md; the fairness argument is in docs/DESIGN.md).
//!
//! The value comes from the state ([`crate::host::StateView::beacon`]), which holds a height's
//! value only once its VDF output was carried and verified by a committed block, `lag` blocks
//! later. So a call answers the same on every node and engine, and never a value the current
//! block's proposer could still influence.

use crate::abi::HostFn;
use crate::host::{HostFault, HostState, range, write};

/// Status: the height's beacon is not final in this state (a future, the current or a
/// too-recent height, height 0, or a height before the beacon existed). Nothing is written.
pub const RANDOMNESS_NOT_FINAL: i32 = -1;

/// Bytes a beacon value has.
pub const RANDOMNESS_LEN: usize = 32;

impl HostState {
    /// `randomness(height_lo, height_hi, out) -> i32`: writes the 32-byte final beacon value of
    /// block `height = hi·2³² + lo` (both read as u32) to `out` and answers 0, or answers
    /// [`RANDOMNESS_NOT_FINAL`]. Charged a flat price before any work; traps only on an
    /// out-of-bounds `out` or gas. Heights at or above the current block's are refused without
    /// a state read (their values cannot be final).
    pub fn randomness(
        &mut self,
        mem: &mut [u8],
        height_lo: i32,
        height_hi: i32,
        out: i32,
    ) -> Result<i32, HostFault> {
        let f = HostFn::Randomness;
        self.charge(f, 0)?;
        range(mem.len(), f, out, RANDOMNESS_LEN as i32)?;
        let mut le = [0u8; 8];
        le[..4].copy_from_slice(&height_lo.to_le_bytes());
        le[4..].copy_from_slice(&height_hi.to_le_bytes());
        let height = u64::from_le_bytes(le);
        if height == 0 || height >= self.context.block_height {
            return Ok(RANDOMNESS_NOT_FINAL);
        }
        match self.state.beacon(height).map_err(HostFault::State)? {
            Some(value) => write(mem, &mut self.memory_written, f, out, &value).map(|()| 0),
            None => Ok(RANDOMNESS_NOT_FINAL),
        }
    }
}
