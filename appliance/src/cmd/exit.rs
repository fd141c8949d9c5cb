//! Exit codes shared by the commands (each command's `--help` says which it uses).
//!
//! 0 success; 1 error (could not do what was asked); 2 a submitted transaction FAILED or was
//! REJECTED (`tx send`, `client submit`, `client gov`, `gov … ` without `--print`), or a beacon
//! record does not verify (`chain beacon`); 3 the value asked for is absent (`state get`,
//! `client query`, `client account`, `chain beacon` for a height not final yet).

/// A transaction of the block did not succeed.
pub const TX_NOT_APPLIED: u8 = 2;
/// A beacon record does not verify (`chain beacon`).
pub const NOT_VERIFIED: u8 = 2;
/// The state value asked for does not exist.
pub const ABSENT: u8 = 3;

/// 0 when every receipt is a success, else [`TX_NOT_APPLIED`].
pub fn of_receipts(r: &keel_chain::BlockResult) -> std::process::ExitCode {
    let all_ok = r
        .receipts
        .iter()
        .all(|rc| matches!(rc.status, keel_chain::TxStatus::Success { .. }));
    if all_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(TX_NOT_APPLIED)
    }
}
