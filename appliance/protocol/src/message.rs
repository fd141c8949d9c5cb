//! Requests and responses: their kind codes and body layouts (borsh).

use crate::error::{BodyError, ErrorCode, FrameError};
use crate::frame::write_frame_with;
use borsh::{BorshDeserialize, BorshSerialize};

/// Domain tag that opens the message a client signs in the handshake.
pub const AUTH_DOMAIN_TAG: &[u8] = b"KEEL-APPLIANCE-AUTH-V1";

/// The message a client signs to prove possession of its key:
/// `AUTH_DOMAIN_TAG || nonce (32 bytes) || server_id (32 bytes)`.
pub fn auth_message(nonce: &[u8; 32], server_id: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(AUTH_DOMAIN_TAG.len() + 64);
    m.extend_from_slice(AUTH_DOMAIN_TAG);
    m.extend_from_slice(nonce);
    m.extend_from_slice(server_id);
    m
}

/// One item of a BLS batch verification: compressed public key (48 bytes), message, compressed
/// signature (96 bytes).
pub type BlsItem = ([u8; 48], Vec<u8>, [u8; 96]);

/// Most items one `BlsBatchVerify` request may carry (PROTOCOL.md §9). It bounds the pairing
/// work one untrusted request can queue: about one distinct-message check per item, plus the
/// bisection if its signatures are bad.
pub const BLS_BATCH_MAX_ITEMS: u32 = 1024;
/// Most body bytes of one `BlsBatchVerify` request (PROTOCOL.md §9): 1024 items with messages
/// of about 100 bytes. It bounds the hashing and the memory a request takes.
pub const BLS_BATCH_MAX_BYTES: usize = 256 * 1024;

/// Most body bytes of one `SubmitTx` request (PROTOCOL.md §9): a signed transaction of up to
/// 1 MiB (a deploy carries its code) and its length prefix. Checked before anything is decoded.
pub const SUBMIT_TX_MAX_BYTES: usize = (1 << 20) + 4;

/// Refuses a `SubmitTx` body over [`SUBMIT_TX_MAX_BYTES`] before anything is decoded.
fn check_submit_tx_limit(body: &[u8]) -> Result<(), BodyError> {
    if body.len() > SUBMIT_TX_MAX_BYTES {
        return Err(BodyError::SubmitTxTooLarge {
            len: body.len(),
            max: SUBMIT_TX_MAX_BYTES,
        });
    }
    Ok(())
}

/// What a `BuildBlock` request asks for: the header fields only the proposer knows, and caps.
/// Encoded as the tuple of its fields, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildRequest {
    /// The block's timestamp (must exceed the head's when it is submitted).
    pub timestamp: u64,
    /// The proposer's address (a validator's).
    pub proposer: [u8; 32],
    /// Per-dimension gas caps (compute, storage bytes, memory pages, bandwidth), summed over
    /// the transactions' limits; the server lowers each to the chain's block limit, and `0`
    /// means the chain's limit.
    pub gas_limits: [u64; 4],
    /// Most transactions (`0`: the chain's limit).
    pub max_txs: u32,
}

/// Refuses a `BlsBatchVerify` body over [`BLS_BATCH_MAX_BYTES`] or declaring more than
/// [`BLS_BATCH_MAX_ITEMS`] items (borsh: a `u32` LE count first), before anything is decoded.
fn check_bls_batch_limits(body: &[u8]) -> Result<(), BodyError> {
    if body.len() > BLS_BATCH_MAX_BYTES {
        return Err(BodyError::BlsBatchBodyTooLarge {
            len: body.len(),
            max: BLS_BATCH_MAX_BYTES,
        });
    }
    if let Some(count) = body.first_chunk::<4>().map(|c| u32::from_le_bytes(*c))
        && count > BLS_BATCH_MAX_ITEMS
    {
        return Err(BodyError::BlsBatchTooManyItems {
            items: count,
            max: BLS_BATCH_MAX_ITEMS,
        });
    }
    Ok(())
}

/// The chain's status as the service reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusReply {
    /// Height of the last committed block.
    pub height: u64,
    /// State root after that block.
    pub state_root: [u8; 32],
    /// Service-defined details (opaque at this layer).
    pub detail: Vec<u8>,
}

macro_rules! kinds {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $code,)*
        }

        impl $name {
            /// Every kind, in code order.
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The kind for a wire byte, or `None` if unknown.
            pub fn from_u8(code: u8) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// A stable snake_case-free name (used in logs and metric labels).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

kinds! {
    /// The kind byte of a request frame.
    RequestKind {
        /// Handshake step 1: the client's public key.
        Hello = 0x01,
        /// Handshake step 2: the signature over the challenge.
        AuthProof = 0x02,
        /// Liveness; answered by the transport itself with the same payload.
        Ping = 0x03,
        /// Chain status.
        Status = 0x04,
        /// Submit a block for execution and commit.
        SubmitBlock = 0x05,
        /// Execute a block (and commit it).
        ExecuteBlock = 0x06,
        /// Execute a transaction against current state without committing.
        SimulateTx = 0x07,
        /// Read a state key, optionally with a Merkle proof.
        QueryState = 0x08,
        /// Deploy a contract (a transaction).
        Deploy = 0x09,
        /// Submit a governance transaction.
        GovernanceSubmit = 0x0A,
        /// Verify a batch of BLS signatures.
        BlsBatchVerify = 0x0B,
        /// Admit a signed transaction to the mempool.
        SubmitTx = 0x0C,
        /// Pack a block from the mempool for the proposer.
        BuildBlock = 0x0D,
    }
}

kinds! {
    /// The kind byte of a response frame.
    ResponseKind {
        /// Handshake: the server's challenge.
        Challenge = 0x81,
        /// Handshake: success.
        Authenticated = 0x82,
        /// Answer to Ping.
        Pong = 0x83,
        /// Answer to Status.
        Status = 0x84,
        /// Answer to SubmitBlock / ExecuteBlock.
        BlockOutcome = 0x85,
        /// Answer to SimulateTx / Deploy / GovernanceSubmit.
        TxOutcome = 0x86,
        /// Answer to QueryState.
        StateValue = 0x87,
        /// Answer to BlsBatchVerify.
        VerifyResult = 0x88,
        /// Answer to SubmitTx.
        TxAdmitted = 0x89,
        /// Answer to BuildBlock.
        BlockBuilt = 0x8A,
        /// Any request can be answered with an error.
        Error = 0xFF,
    }
}

impl RequestKind {
    /// Whether the request changes chain state (needs an allowlisted, writable key).
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            RequestKind::SubmitBlock
                | RequestKind::ExecuteBlock
                | RequestKind::BuildBlock
                | RequestKind::Deploy
                | RequestKind::GovernanceSubmit
        )
    }

    /// Whether the request is part of the handshake.
    pub fn is_handshake(self) -> bool {
        matches!(self, RequestKind::Hello | RequestKind::AuthProof)
    }
}

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Opens the handshake with the client's compressed BLS public key.
    Hello {
        /// Compressed G1 public key.
        public_key: [u8; 48],
    },
    /// Answers the challenge: a BLS signature over [`auth_message`].
    AuthProof {
        /// Compressed G2 signature.
        signature: [u8; 96],
    },
    /// Echo request.
    Ping {
        /// Returned unchanged in the Pong.
        payload: Vec<u8>,
    },
    /// Chain status.
    Status,
    /// A block to execute and commit (opaque bytes).
    SubmitBlock {
        /// Encoded block.
        block: Vec<u8>,
    },
    /// A block to execute (opaque bytes).
    ExecuteBlock {
        /// Encoded block.
        block: Vec<u8>,
    },
    /// A transaction to simulate (opaque bytes).
    SimulateTx {
        /// Encoded transaction.
        tx: Vec<u8>,
    },
    /// A state read.
    QueryState {
        /// State key.
        key: Vec<u8>,
        /// Whether to include a Merkle proof.
        with_proof: bool,
    },
    /// A deployment transaction (opaque bytes).
    Deploy {
        /// Encoded transaction.
        tx: Vec<u8>,
    },
    /// A governance transaction (opaque bytes).
    GovernanceSubmit {
        /// Encoded transaction.
        tx: Vec<u8>,
    },
    /// Signatures to verify.
    BlsBatchVerify {
        /// The items.
        items: Vec<BlsItem>,
    },
    /// A signed transaction for the mempool (opaque bytes).
    SubmitTx {
        /// Encoded signed transaction.
        tx: Vec<u8>,
    },
    /// Build a block from the mempool.
    BuildBlock(BuildRequest),
}

/// A response from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The handshake challenge.
    Challenge {
        /// Fresh random bytes.
        nonce: [u8; 32],
        /// The server's identity, bound into the signed message.
        server_id: [u8; 32],
    },
    /// The handshake succeeded.
    Authenticated {
        /// Whether the key may only read.
        read_only: bool,
    },
    /// The Ping payload, unchanged.
    Pong {
        /// Echoed payload.
        payload: Vec<u8>,
    },
    /// Chain status.
    Status(StatusReply),
    /// Result of a block (opaque receipts / root).
    BlockOutcome {
        /// Encoded outcome.
        output: Vec<u8>,
    },
    /// Result of a transaction (opaque receipt).
    TxOutcome {
        /// Encoded outcome.
        output: Vec<u8>,
    },
    /// A state value and optional proof.
    StateValue {
        /// The value, if the key is set.
        value: Option<Vec<u8>>,
        /// The proof, if requested.
        proof: Option<Vec<u8>>,
    },
    /// One verdict per item, in order.
    VerifyResult {
        /// `true` where the signature is valid.
        valid: Vec<bool>,
    },
    /// The transaction is in the mempool.
    TxAdmitted {
        /// Its hash (SHA-256 of the signed transaction's encoding).
        tx_hash: [u8; 32],
        /// The pending transaction it replaced (same sender and nonce), if any.
        replaced: Option<[u8; 32]>,
        /// Whether it can go into the next block (no nonce gap before it).
        ready: bool,
    },
    /// A block built from the mempool, ready for `SubmitBlock`.
    BlockBuilt {
        /// Encoded block (opaque at this layer).
        block: Vec<u8>,
        /// Service-defined details (opaque at this layer).
        detail: Vec<u8>,
    },
    /// The request failed.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

fn put<T: BorshSerialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> std::io::Result<()> {
    value.serialize(out)
}

fn take<T: BorshDeserialize>(kind: u8, body: &[u8]) -> Result<T, BodyError> {
    borsh::from_slice(body).map_err(|e| BodyError::Malformed {
        kind,
        reason: e.to_string(),
    })
}

impl Request {
    /// The request's kind.
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Hello { .. } => RequestKind::Hello,
            Request::AuthProof { .. } => RequestKind::AuthProof,
            Request::Ping { .. } => RequestKind::Ping,
            Request::Status => RequestKind::Status,
            Request::SubmitBlock { .. } => RequestKind::SubmitBlock,
            Request::ExecuteBlock { .. } => RequestKind::ExecuteBlock,
            Request::SimulateTx { .. } => RequestKind::SimulateTx,
            Request::QueryState { .. } => RequestKind::QueryState,
            Request::Deploy { .. } => RequestKind::Deploy,
            Request::GovernanceSubmit { .. } => RequestKind::GovernanceSubmit,
            Request::BlsBatchVerify { .. } => RequestKind::BlsBatchVerify,
            Request::SubmitTx { .. } => RequestKind::SubmitTx,
            Request::BuildBlock(_) => RequestKind::BuildBlock,
        }
    }

    /// Appends this request as a frame with `request_id`. Errors only if the body would exceed
    /// the protocol's absolute limit (64 MiB).
    pub fn encode(&self, request_id: u64, out: &mut Vec<u8>) -> Result<(), FrameError> {
        write_frame_with(out, self.kind() as u8, request_id, |out| match self {
            Request::Hello { public_key } => put(out, public_key),
            Request::AuthProof { signature } => put(out, signature),
            Request::Ping { payload } => put(out, payload),
            Request::Status => Ok(()),
            Request::SubmitBlock { block } | Request::ExecuteBlock { block } => put(out, block),
            Request::SimulateTx { tx }
            | Request::Deploy { tx }
            | Request::GovernanceSubmit { tx }
            | Request::SubmitTx { tx } => put(out, tx),
            Request::BuildBlock(b) => put(out, &(b.timestamp, b.proposer, b.gas_limits, b.max_txs)),
            Request::QueryState { key, with_proof } => put(out, &(key, with_proof)),
            Request::BlsBatchVerify { items } => put(out, items),
        })
    }

    /// Decodes a request body of the given kind. Deterministic: a body decodes to at most one
    /// request and trailing bytes are an error.
    pub fn decode(kind: u8, body: &[u8]) -> Result<Request, BodyError> {
        let k = RequestKind::from_u8(kind).ok_or(BodyError::UnknownKind(kind))?;
        Ok(match k {
            RequestKind::Hello => Request::Hello {
                public_key: take(kind, body)?,
            },
            RequestKind::AuthProof => Request::AuthProof {
                signature: take(kind, body)?,
            },
            RequestKind::Ping => Request::Ping {
                payload: take(kind, body)?,
            },
            RequestKind::Status => {
                take::<()>(kind, body)?;
                Request::Status
            }
            RequestKind::SubmitBlock => Request::SubmitBlock {
                block: take(kind, body)?,
            },
            RequestKind::ExecuteBlock => Request::ExecuteBlock {
                block: take(kind, body)?,
            },
            RequestKind::SimulateTx => Request::SimulateTx {
                tx: take(kind, body)?,
            },
            RequestKind::QueryState => {
                let (key, with_proof) = take(kind, body)?;
                Request::QueryState { key, with_proof }
            }
            RequestKind::Deploy => Request::Deploy {
                tx: take(kind, body)?,
            },
            RequestKind::GovernanceSubmit => Request::GovernanceSubmit {
                tx: take(kind, body)?,
            },
            RequestKind::BlsBatchVerify => {
                check_bls_batch_limits(body)?;
                Request::BlsBatchVerify {
                    items: take(kind, body)?,
                }
            }
            RequestKind::SubmitTx => {
                check_submit_tx_limit(body)?;
                Request::SubmitTx {
                    tx: take(kind, body)?,
                }
            }
            RequestKind::BuildBlock => {
                let (timestamp, proposer, gas_limits, max_txs) = take(kind, body)?;
                Request::BuildBlock(BuildRequest {
                    timestamp,
                    proposer,
                    gas_limits,
                    max_txs,
                })
            }
        })
    }
}

impl Response {
    /// The response's kind.
    pub fn kind(&self) -> ResponseKind {
        match self {
            Response::Challenge { .. } => ResponseKind::Challenge,
            Response::Authenticated { .. } => ResponseKind::Authenticated,
            Response::Pong { .. } => ResponseKind::Pong,
            Response::Status(_) => ResponseKind::Status,
            Response::BlockOutcome { .. } => ResponseKind::BlockOutcome,
            Response::TxOutcome { .. } => ResponseKind::TxOutcome,
            Response::StateValue { .. } => ResponseKind::StateValue,
            Response::VerifyResult { .. } => ResponseKind::VerifyResult,
            Response::TxAdmitted { .. } => ResponseKind::TxAdmitted,
            Response::BlockBuilt { .. } => ResponseKind::BlockBuilt,
            Response::Error { .. } => ResponseKind::Error,
        }
    }

    /// An error response.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Response {
        Response::Error {
            code,
            message: message.into(),
        }
    }

    /// Appends this response as a frame with `request_id`. Errors only if the body would exceed
    /// the protocol's absolute limit (64 MiB).
    pub fn encode(&self, request_id: u64, out: &mut Vec<u8>) -> Result<(), FrameError> {
        write_frame_with(out, self.kind() as u8, request_id, |out| match self {
            Response::Challenge { nonce, server_id } => put(out, &(nonce, server_id)),
            Response::Authenticated { read_only } => put(out, read_only),
            Response::Pong { payload } => put(out, payload),
            Response::Status(s) => put(out, &(s.height, s.state_root, &s.detail)),
            Response::BlockOutcome { output } | Response::TxOutcome { output } => put(out, output),
            Response::StateValue { value, proof } => put(out, &(value, proof)),
            Response::VerifyResult { valid } => put(out, valid),
            Response::TxAdmitted {
                tx_hash,
                replaced,
                ready,
            } => put(out, &(tx_hash, replaced, ready)),
            Response::BlockBuilt { block, detail } => put(out, &(block, detail)),
            Response::Error { code, message } => put(out, &(*code as u16, message)),
        })
    }

    /// Decodes a response body of the given kind. Deterministic, trailing bytes are an error.
    pub fn decode(kind: u8, body: &[u8]) -> Result<Response, BodyError> {
        let k = ResponseKind::from_u8(kind).ok_or(BodyError::UnknownKind(kind))?;
        Ok(match k {
            ResponseKind::Challenge => {
                let (nonce, server_id) = take(kind, body)?;
                Response::Challenge { nonce, server_id }
            }
            ResponseKind::Authenticated => Response::Authenticated {
                read_only: take(kind, body)?,
            },
            ResponseKind::Pong => Response::Pong {
                payload: take(kind, body)?,
            },
            ResponseKind::Status => {
                let (height, state_root, detail) = take(kind, body)?;
                Response::Status(StatusReply {
                    height,
                    state_root,
                    detail,
                })
            }
            ResponseKind::BlockOutcome => Response::BlockOutcome {
                output: take(kind, body)?,
            },
            ResponseKind::TxOutcome => Response::TxOutcome {
                output: take(kind, body)?,
            },
            ResponseKind::StateValue => {
                let (value, proof) = take(kind, body)?;
                Response::StateValue { value, proof }
            }
            ResponseKind::VerifyResult => Response::VerifyResult {
                valid: take(kind, body)?,
            },
            ResponseKind::TxAdmitted => {
                let (tx_hash, replaced, ready) = take(kind, body)?;
                Response::TxAdmitted {
                    tx_hash,
                    replaced,
                    ready,
                }
            }
            ResponseKind::BlockBuilt => {
                let (block, detail) = take(kind, body)?;
                Response::BlockBuilt { block, detail }
            }
            ResponseKind::Error => {
                let (code, message): (u16, String) = take(kind, body)?;
                let code = ErrorCode::from_u16(code).ok_or(BodyError::UnknownErrorCode(code))?;
                Response::Error { code, message }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FrameDecoder;

    fn round_trip_request(req: Request) {
        let mut bytes = Vec::new();
        req.encode(7, &mut bytes).unwrap();
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&bytes);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(f.request_id, 7);
        assert_eq!(Request::decode(f.kind, &f.body).unwrap(), req);
    }

    fn round_trip_response(resp: Response) {
        let mut bytes = Vec::new();
        resp.encode(9, &mut bytes).unwrap();
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&bytes);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(Response::decode(f.kind, &f.body).unwrap(), resp);
    }

    #[test]
    fn every_request_round_trips() {
        for req in [
            Request::Hello {
                public_key: [3; 48],
            },
            Request::AuthProof { signature: [4; 96] },
            Request::Ping {
                payload: b"hi".to_vec(),
            },
            Request::Status,
            Request::SubmitBlock {
                block: vec![1, 2, 3],
            },
            Request::ExecuteBlock { block: vec![] },
            Request::SimulateTx { tx: vec![5] },
            Request::QueryState {
                key: b"k".to_vec(),
                with_proof: true,
            },
            Request::Deploy { tx: vec![6, 6] },
            Request::GovernanceSubmit { tx: vec![7] },
            Request::BlsBatchVerify {
                items: vec![([1; 48], b"m".to_vec(), [2; 96])],
            },
            Request::SubmitTx { tx: vec![8, 9] },
            Request::BuildBlock(BuildRequest {
                timestamp: 3,
                proposer: [4; 32],
                gas_limits: [1, 2, 3, 4],
                max_txs: 5,
            }),
        ] {
            round_trip_request(req);
        }
    }

    fn bls_body(items: Vec<BlsItem>) -> Vec<u8> {
        borsh::to_vec(&items).unwrap()
    }

    #[test]
    fn a_bls_batch_at_the_limits_decodes_and_one_over_is_refused_with_its_own_code() {
        let item = |msg_len: usize| ([1; 48], vec![0; msg_len], [2; 96]);
        let kind = RequestKind::BlsBatchVerify as u8;
        let max = BLS_BATCH_MAX_ITEMS as usize;
        assert!(Request::decode(kind, &bls_body(vec![item(8); max])).is_ok());

        let too_many = Request::decode(kind, &bls_body(vec![item(8); max + 1])).unwrap_err();
        assert_eq!(
            too_many,
            BodyError::BlsBatchTooManyItems {
                items: BLS_BATCH_MAX_ITEMS + 1,
                max: BLS_BATCH_MAX_ITEMS
            }
        );
        assert_eq!(too_many.code(), ErrorCode::RequestTooLarge);

        // A lying count is refused from the first four bytes, before any item is decoded.
        let mut lying = u32::MAX.to_le_bytes().to_vec();
        lying.extend_from_slice(&[0; 16]);
        assert!(matches!(
            Request::decode(kind, &lying),
            Err(BodyError::BlsBatchTooManyItems {
                items: u32::MAX,
                ..
            })
        ));

        let big = bls_body(vec![item(BLS_BATCH_MAX_BYTES / 2); 2]);
        let too_big = Request::decode(kind, &big).unwrap_err();
        assert_eq!(
            too_big,
            BodyError::BlsBatchBodyTooLarge {
                len: big.len(),
                max: BLS_BATCH_MAX_BYTES
            }
        );
        assert_eq!(too_big.code(), ErrorCode::RequestTooLarge);
        assert_eq!(ErrorCode::from_u16(17), Some(ErrorCode::RequestTooLarge));
    }

    #[test]
    fn a_submit_tx_over_its_limit_is_refused_before_decoding_with_its_own_code() {
        let kind = RequestKind::SubmitTx as u8;
        let at_limit = borsh::to_vec(&vec![0u8; SUBMIT_TX_MAX_BYTES - 4]).unwrap();
        assert!(Request::decode(kind, &at_limit).is_ok());
        let over = borsh::to_vec(&vec![0u8; SUBMIT_TX_MAX_BYTES - 3]).unwrap();
        let e = Request::decode(kind, &over).unwrap_err();
        assert_eq!(e.code(), ErrorCode::RequestTooLarge);
        assert!(RequestKind::BuildBlock.is_mutating());
        assert!(
            !RequestKind::SubmitTx.is_mutating(),
            "users submit through read access"
        );
    }

    #[test]
    fn every_response_round_trips() {
        for resp in [
            Response::Challenge {
                nonce: [1; 32],
                server_id: [2; 32],
            },
            Response::Authenticated { read_only: true },
            Response::Pong { payload: vec![9] },
            Response::Status(StatusReply {
                height: 5,
                state_root: [8; 32],
                detail: b"x".to_vec(),
            }),
            Response::BlockOutcome { output: vec![1] },
            Response::TxOutcome { output: vec![] },
            Response::StateValue {
                value: Some(vec![1]),
                proof: None,
            },
            Response::VerifyResult {
                valid: vec![true, false],
            },
            Response::TxAdmitted {
                tx_hash: [3; 32],
                replaced: Some([4; 32]),
                ready: false,
            },
            Response::BlockBuilt {
                block: vec![1, 2],
                detail: b"{}".to_vec(),
            },
            Response::error(ErrorCode::Forbidden, "no"),
            Response::error(ErrorCode::MempoolRefused, "full"),
        ] {
            round_trip_response(resp);
        }
    }

    #[test]
    fn query_state_body_matches_the_spec_layout() {
        // PROTOCOL.md: key as u32-LE length + bytes, then with_proof as one byte.
        let mut bytes = Vec::new();
        Request::QueryState {
            key: vec![0xAA, 0xBB],
            with_proof: true,
        }
        .encode(1, &mut bytes)
        .unwrap();
        assert_eq!(&bytes[crate::HEADER_LEN..], &[2, 0, 0, 0, 0xAA, 0xBB, 1]);
    }

    #[test]
    fn trailing_bytes_and_bad_booleans_are_rejected() {
        assert!(Request::decode(RequestKind::Status as u8, &[0]).is_err());
        assert!(Request::decode(RequestKind::QueryState as u8, &[0, 0, 0, 0, 2]).is_err());
        assert_eq!(
            Request::decode(0x7F, &[]),
            Err(BodyError::UnknownKind(0x7F))
        );
    }

    #[test]
    fn a_huge_declared_vector_length_fails_without_allocating_it() {
        let body = [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3];
        assert!(Request::decode(RequestKind::SubmitBlock as u8, &body).is_err());
    }

    #[test]
    fn auth_message_is_tag_then_nonce_then_server_id() {
        let m = auth_message(&[1; 32], &[2; 32]);
        assert_eq!(&m[..AUTH_DOMAIN_TAG.len()], AUTH_DOMAIN_TAG);
        assert_eq!(m.len(), AUTH_DOMAIN_TAG.len() + 64);
        assert_eq!(m[AUTH_DOMAIN_TAG.len()], 1);
        assert_eq!(m[m.len() - 1], 2);
    }
}
