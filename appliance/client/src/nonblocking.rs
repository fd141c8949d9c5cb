//! The async (tokio) client: one reader task per connection dispatches responses to waiting
//! calls by request id, so concurrent calls pipeline on one connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keel_crypto::SecretKey;
use keel_protocol::{FrameDecoder, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{Mutex, oneshot};

use crate::{
    ClientError, Endpoint, MAX_RESPONSE_BODY, answer_challenge, ok_or_server_error, read_only_from,
};

type Pending = std::sync::Mutex<Option<HashMap<u64, oneshot::Sender<Response>>>>;

struct Inner {
    writer: Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    /// `None` once the connection is gone.
    pending: Arc<Pending>,
    next_id: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// An async connection; clones share it. Must be used inside a tokio runtime.
#[derive(Clone)]
pub struct AsyncClient {
    inner: Arc<Inner>,
}

impl AsyncClient {
    /// Connects (TCP with `TCP_NODELAY`) and starts the reader task.
    pub async fn connect(endpoint: &Endpoint) -> Result<AsyncClient, ClientError> {
        let (reader, writer): (
            Box<dyn AsyncRead + Send + Unpin>,
            Box<dyn AsyncWrite + Send + Unpin>,
        ) = match endpoint {
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Endpoint::Unix(path) => {
                let (r, w) = UnixStream::connect(path).await?.into_split();
                (Box::new(r), Box::new(w))
            }
        };
        let pending: Arc<Pending> = Arc::new(std::sync::Mutex::new(Some(HashMap::new())));
        let reader = tokio::spawn(read_loop(reader, pending.clone()));
        let inner = Arc::new(Inner {
            writer: Mutex::new(writer),
            pending,
            next_id: AtomicU64::new(1),
            reader,
        });
        Ok(AsyncClient { inner })
    }

    /// Proves possession of `key`; returns whether the connection is read-only.
    pub async fn handshake(
        &self,
        key: &SecretKey,
        expected_server: Option<[u8; 32]>,
    ) -> Result<bool, ClientError> {
        let challenge = self
            .call_raw(Request::Hello {
                public_key: key.public_key().to_bytes(),
            })
            .await?;
        let proof = answer_challenge(key, challenge, expected_server)?;
        read_only_from(self.call_raw(proof).await?)
    }

    /// Sends a request and waits for its answer, raw (error responses are `Ok(Response::Error)`).
    /// Errors: the socket failed or closed before the answer.
    pub async fn call_raw(&self, request: Request) -> Result<Response, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut frame = Vec::new();
        request
            .encode(id, &mut frame)
            .map_err(|_| ClientError::TooLarge)?;
        let (tx, rx) = oneshot::channel();
        match self.inner.pending.lock() {
            Ok(mut p) => match p.as_mut() {
                Some(map) => {
                    map.insert(id, tx);
                }
                None => return Err(ClientError::Closed),
            },
            Err(_) => return Err(ClientError::Closed),
        }
        {
            let mut w = self.inner.writer.lock().await;
            w.write_all(&frame).await?;
        }
        rx.await.map_err(|_| ClientError::Closed)
    }

    /// Sends a request and waits for its answer; an error response is `Err(Server)`.
    pub async fn call(&self, request: Request) -> Result<Response, ClientError> {
        ok_or_server_error(self.call_raw(request).await?)
    }
}

async fn read_loop(mut reader: Box<dyn AsyncRead + Send + Unpin>, pending: Arc<Pending>) {
    let mut decoder = FrameDecoder::new(MAX_RESPONSE_BODY);
    let mut buf = vec![0u8; 64 * 1024];
    'read: loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "bad frame from server; closing");
                    break 'read;
                }
            };
            let Ok(response) = Response::decode(frame.kind, &frame.body) else {
                tracing::warn!(kind = frame.kind, "undecodable response; closing");
                break 'read;
            };
            let Ok(mut guard) = pending.lock() else {
                break 'read;
            };
            let Some(map) = guard.as_mut() else {
                break 'read;
            };
            if frame.request_id == 0 {
                // A connection-level error answers everything outstanding.
                for (_, tx) in map.drain() {
                    let _ = tx.send(response.clone());
                }
                continue;
            }
            if let Some(tx) = map.remove(&frame.request_id) {
                let _ = tx.send(response);
            }
        }
    }
    if let Ok(mut guard) = pending.lock() {
        *guard = None;
    }
}
