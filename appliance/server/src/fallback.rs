//! The epoll fallback: the same sessions driven by tokio (which uses epoll on Linux).
//!
//! One task per connection waits on socket readiness, worker completions and a timer, and
//! reads/writes with non-blocking `try_read`/`try_write` so a slow reader never blocks the
//! processing of completions.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{Interest, Ready};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use keel_protocol::ErrorCode;

use crate::listen::Listeners;
use crate::pool::{Completion, CompletionSink};
use crate::service::Peer;
use crate::session::{Flow, Session, write_error};
use crate::shared::Shared;

/// Write-buffer capacity a connection keeps between answers.
const RETAINED_OUT_BYTES: usize = 256 * 1024;

struct ChannelSink(mpsc::UnboundedSender<Completion>);

impl CompletionSink for ChannelSink {
    fn complete(&self, completion: Completion) {
        // The receiver is gone only if the connection already closed; dropping is correct.
        let _ = self.0.send(completion);
    }
}

/// The readiness-based socket operations both stream types offer.
trait ReadyStream: Send + Sync + 'static {
    fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + Send;
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

macro_rules! ready_stream {
    ($t:ty) => {
        impl ReadyStream for $t {
            fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + Send {
                <$t>::ready(self, interest)
            }
            fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                <$t>::try_read(self, buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$t>::try_write(self, buf)
            }
        }
    };
}
ready_stream!(TcpStream);
ready_stream!(UnixStream);

/// Runs the fallback until shutdown completes. Blocks the calling thread.
pub(crate) fn run(
    shared: Arc<Shared>,
    listeners: Listeners,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // Counting the cores reads cgroup files, which a network thread may not open: before
    // entering the sandbox.
    let threads = shared.config.epoll_threads();
    // Before the runtime exists: its worker threads inherit this thread's filter.
    keel_sandbox::enter(keel_sandbox::ThreadClass::Network);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("keel-epoll")
        .enable_all()
        .build()?;
    runtime.block_on(serve(shared, listeners, stop))
}

async fn serve(
    shared: Arc<Shared>,
    listeners: Listeners,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let tcp = listeners
        .tcp
        .map(|l| TcpListener::from_std(l))
        .transpose()?;
    let unix = listeners
        .unix
        .map(|l| UnixListener::from_std(l))
        .transpose()?;
    let mut conns = JoinSet::new();
    let mut next_id = 0u64;
    while !*stop.borrow() {
        tokio::select! {
            r = async { backoff(tcp.as_ref()?.accept().await).await }, if tcp.is_some() => {
                if let Some((s, addr)) = r {
                    let _ = s.set_nodelay(true);
                    next_id += 1;
                    conns.spawn(connection(s, Peer::Tcp(addr), shared.clone(), next_id));
                }
            }
            r = async { backoff(unix.as_ref()?.accept().await).await }, if unix.is_some() => {
                if let Some((s, _)) = r {
                    next_id += 1;
                    conns.spawn(connection(s, Peer::Unix, shared.clone(), next_id));
                }
            }
            _ = stop.changed() => {}
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop((tcp, unix));
    // Connections finish their in-flight requests (they see the shutdown flag on their tick).
    let deadline = tokio::time::sleep(shared.config.shutdown_grace());
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = conns.join_next() => if next.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!(left = conns.len(), "shutdown grace expired; cutting connections");
                conns.abort_all();
                while conns.join_next().await.is_some() {}
                break;
            }
        }
    }
    Ok(())
}

/// An accepted connection, or `None` after a failed accept. Out of descriptors (EMFILE,
/// ENFILE), the listener stays readable and would fail again at once: pause before the next
/// try instead of spinning a core while the connections already open starve.
async fn backoff<T>(accepted: io::Result<T>) -> Option<T> {
    match accepted {
        Ok(t) => Some(t),
        Err(e) => {
            if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                tracing::warn!(error = %e, "out of file descriptors: accepting paused");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            None
        }
    }
}

/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

async fn connection<S: ReadyStream>(stream: S, peer: Peer, shared: Arc<Shared>, id: u64) {
    let now = Instant::now();
    let mut out = Vec::new();
    let Some(ticket) = shared.admit_connection(&peer) else {
        write_error(
            &shared,
            &mut out,
            0,
            ErrorCode::TooManyConnections,
            "connection limit reached",
        );
        let _ = write_all_with_deadline(&stream, &out, Duration::from_secs(1)).await;
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sink: Arc<dyn CompletionSink> = Arc::new(ChannelSink(tx));
    let mut session = Session::new(id, peer, ticket, &shared, now);
    let mut sent = 0usize;
    let mut buf = vec![0u8; shared.config.recv_buffer_bytes as usize];
    let mut tick = tokio::time::interval(shared.config.tick());
    let mut reading = true;
    let mut closing = false;
    loop {
        let pending = sent < out.len();
        if closing && !pending {
            break;
        }
        if !reading && !closing && session.in_flight() == 0 && !pending {
            break; // peer finished sending and every answer is out
        }
        let interest = match (reading && !closing, pending) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        let mut flow = Flow::Continue;
        tokio::select! {
            r = async { stream.ready(interest?).await.ok() }, if interest.is_some() => {
                let Some(ready) = r else { break };
                if ready.is_readable() {
                    match stream.try_read(&mut buf) {
                        Ok(0) => reading = false,
                        Ok(n) => flow = session.on_bytes(&buf[..n], Instant::now(), &shared, &sink, &mut out),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                }
            }
            Some(c) = rx.recv() => {
                let now = Instant::now();
                flow = session.on_completion(c, now, &shared, &sink, &mut out);
                // Batch whatever else completed meanwhile into the same write.
                while flow == Flow::Continue && let Ok(c) = rx.try_recv() {
                    flow = session.on_completion(c, now, &shared, &sink, &mut out);
                }
            }
            _ = tick.tick() => flow = session.on_tick(Instant::now(), &shared, &mut out),
        }
        if flow == Flow::Close {
            closing = true;
        }
        while sent < out.len() {
            match stream.try_write(&out[sent..]) {
                Ok(n) => {
                    sent += n;
                    shared.metrics.bytes_out(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closing = true;
                    out.clear();
                    sent = 0;
                }
            }
        }
        if sent == out.len() {
            out.clear();
            // A large answer's buffer is not kept for the connection's life.
            if out.capacity() > RETAINED_OUT_BYTES {
                out = Vec::new();
            }
            sent = 0;
        } else if out.len() - sent > shared.config.max_write_buffer_bytes {
            tracing::debug!(conn = id, "peer does not read its responses; closing");
            break;
        }
    }
    shared.release_connection();
}

async fn write_all_with_deadline<S: ReadyStream>(
    stream: &S,
    mut data: &[u8],
    limit: Duration,
) -> io::Result<()> {
    tokio::time::timeout(limit, async {
        while !data.is_empty() {
            stream.ready(Interest::WRITABLE).await?;
            match stream.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .await
    .unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accept_out_of_descriptors_pauses_and_other_failures_do_not() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let begun = Instant::now();
        let r: Option<()> = rt.block_on(backoff(Err(io::Error::from_raw_os_error(libc::EMFILE))));
        assert!(r.is_none());
        assert!(
            begun.elapsed() >= ACCEPT_BACKOFF,
            "EMFILE must pause the accept loop"
        );
        let begun = Instant::now();
        let r: Option<()> = rt.block_on(backoff(Err(io::Error::from_raw_os_error(
            libc::ECONNABORTED,
        ))));
        assert!(r.is_none());
        assert!(
            begun.elapsed() < ACCEPT_BACKOFF,
            "an aborted handshake is retried at once"
        );
        assert_eq!(rt.block_on(backoff(Ok(7))), Some(7));
    }
}
