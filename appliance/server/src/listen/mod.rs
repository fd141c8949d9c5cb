//! Binding the listeners: TCP (one socket per network thread with SO_REUSEPORT, so the kernel
//! spreads connections across rings; `uring::balance` then evens out what its hash leaves
//! uneven) and a Unix domain socket (shared by all threads).
//!
//! SO_REUSEPORT only ever joins the rings of this process: before binding, the address must be
//! free of listeners (a plain bind succeeds); after binding, no listener but ours may be on it.
//! A listener no live process holds is a killed daemon's socket that its io_uring keeps until
//! the kernel has torn the ring down: binding waits for it to go (it would otherwise take a
//! share of new connections and reset them when it closes).

mod owner;

pub use owner::{port_owner, process_is_alive};

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::ServerError;

/// How long binding waits for a dead process's listener to disappear.
const ORPHAN_WAIT: Duration = Duration::from_secs(5);

/// The bound listeners of one network thread.
pub(crate) struct Listeners {
    pub(crate) tcp: Option<TcpListener>,
    pub(crate) unix: Option<UnixListener>,
}

/// Binds `count` TCP sockets to `addr` with SO_REUSEPORT (all on the port the first one got,
/// so port 0 works), refusing an address another process listens on. Sockets are non-blocking
/// with TCP_NODELAY set before listen (accepted sockets inherit it).
pub(crate) fn bind_tcp(
    addr: SocketAddr,
    count: usize,
) -> Result<(Vec<TcpListener>, SocketAddr), ServerError> {
    if addr.port() != 0 {
        wait_until_free(addr)?;
    }
    let mut out = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count.max(1) {
        let listener = bind_one(bound, true)?;
        bound = listener
            .local_addr()
            .map_err(|source| listen_error(bound, source))?;
        out.push(listener);
    }
    // Two processes that passed the first check at the same moment both fail here.
    let ours: Vec<u64> = out.iter().filter_map(owner::inode_of).collect();
    if let Some(foreign) = owner::listening_inodes(bound)
        .into_iter()
        .find(|i| !ours.contains(i))
    {
        return Err(in_use(format!("tcp {bound}"), owner::socket_owner(foreign)));
    }
    Ok((out, bound))
}

/// Returns once a plain (non-SO_REUSEPORT) bind of `addr` would succeed. A listener held by a
/// live process is an error at once; one held by none is waited for, up to [`ORPHAN_WAIT`].
fn wait_until_free(addr: SocketAddr) -> Result<(), ServerError> {
    let deadline = Instant::now() + ORPHAN_WAIT;
    let mut announced = false;
    loop {
        match bind_one(addr, false) {
            Ok(_) => return Ok(()),
            Err(ServerError::Listen { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(e),
        }
        let owner = owner::listening_inodes(addr)
            .into_iter()
            .find_map(owner::socket_owner);
        if owner.is_some() || Instant::now() >= deadline {
            return Err(in_use(format!("tcp {addr}"), owner));
        }
        if !announced {
            tracing::info!(%addr, "waiting for a stopped process's listener to close");
            announced = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bind_one(addr: SocketAddr, reuse_port: bool) -> Result<TcpListener, ServerError> {
    let err = |source| listen_error(addr, source);
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_reuse_port(reuse_port).map_err(err)?;
    socket.set_tcp_nodelay(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    if reuse_port {
        socket.listen(1024).map_err(err)?;
    }
    Ok(socket.into())
}

fn listen_error(addr: SocketAddr, source: std::io::Error) -> ServerError {
    ServerError::Listen {
        what: format!("tcp {addr}"),
        source,
    }
}

fn in_use(what: String, owner: Option<u32>) -> ServerError {
    ServerError::AddressInUse { what, owner }
}

/// A bound Unix socket and the identity of the file it created, so that only that file is
/// removed at shutdown (never a successor's).
pub(crate) struct UnixBinding {
    pub(crate) listener: UnixListener,
    pub(crate) path: PathBuf,
    file_id: Option<FileId>,
}

impl UnixBinding {
    /// Removes the socket file if it is still the one this binding created.
    pub(crate) fn remove_file(path: &Path, file_id: Option<FileId>) {
        if file_id.is_some() && file_identity(path) == file_id {
            let _ = std::fs::remove_file(path);
        }
    }

    pub(crate) fn file_id(&self) -> Option<FileId> {
        self.file_id
    }
}

/// Binds a Unix socket at `path`, replacing a stale socket file (never any other file, and
/// never a socket a live process still accepts on: that is [`ServerError::AddressInUse`]).
pub(crate) fn bind_unix(path: &Path) -> Result<UnixBinding, ServerError> {
    let err = |source| ServerError::Listen {
        what: format!("unix {}", path.display()),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        // A killed daemon's listener still accepts while its io_uring is torn down; once the
        // file is replaced nobody reaches it, so only a live process's socket is refused.
        if let Ok(live) = UnixStream::connect(path)
            && let pid = peer_pid(&live)
            && pid.is_none_or(process_is_alive)
        {
            return Err(in_use(format!("unix {}", path.display()), pid));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(UnixBinding {
        listener,
        path: path.to_path_buf(),
        file_id: file_identity(path),
    })
}

/// A file's identity: device, inode and change time (an inode number alone is reused at once
/// when a socket file is removed and another created).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
}

fn file_identity(path: &Path) -> Option<FileId> {
    std::fs::symlink_metadata(path).ok().map(|m| FileId {
        dev: m.dev(),
        ino: m.ino(),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

/// The pid of the process at the other end of a connected Unix socket (SO_PEERCRED).
fn peer_pid(stream: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| u32::try_from(cred.pid).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run as a child process by the next test (KEEL_TEST_REUSEPORT_PORT set): holds a
    /// SO_REUSEPORT listener on that port until killed. Without the variable it does nothing.
    #[test]
    fn child_holding_a_reuseport_listener() {
        let Ok(port) = std::env::var("KEEL_TEST_REUSEPORT_PORT") else {
            return;
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port.parse().unwrap()));
        let _l = bind_one(addr, true).unwrap();
        println!("listening");
        std::thread::sleep(Duration::from_secs(30));
    }

    #[test]
    fn a_port_another_process_listens_on_is_refused_not_shared() {
        use std::io::BufRead;
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "listen::tests::child_holding_a_reuseport_listener",
            ])
            .args(["--nocapture", "--test-threads", "1"])
            .env("KEEL_TEST_REUSEPORT_PORT", addr.port().to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        assert!(out.lines().any(|l| l.unwrap().contains("listening")));
        let result = bind_tcp(addr, 2);
        let _ = child.kill();
        let _ = child.wait();
        match result {
            Err(ServerError::AddressInUse { owner, .. }) => assert_eq!(owner, Some(child.id())),
            Err(e) => panic!("expected AddressInUse, got {e}"),
            Ok(_) => panic!("joined another process's SO_REUSEPORT group"),
        }
    }

    #[test]
    fn our_own_rings_share_a_port() {
        let (ls, addr) = bind_tcp("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_eq!(ls.len(), 3);
        assert!(ls.iter().all(|l| l.local_addr().unwrap() == addr));
        drop(ls);
        // And the same fixed port again right after (no lingering state).
        let (again, _) = bind_tcp(addr, 2).unwrap();
        assert_eq!(again.len(), 2);
    }

    #[test]
    fn a_live_unix_socket_is_not_taken_over_and_only_our_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.sock");
        let first = bind_unix(&path).unwrap();
        match bind_unix(&path) {
            Err(ServerError::AddressInUse { owner, .. }) => {
                assert_eq!(owner, Some(std::process::id()))
            }
            other => panic!("expected AddressInUse, got {:?}", other.err()),
        }
        let id = first.file_id();
        drop(first);
        // Stale now: replaced by a new binding, whose file the old one must not remove.
        let second = bind_unix(&path).unwrap();
        UnixBinding::remove_file(&path, id);
        assert!(path.exists());
        UnixBinding::remove_file(&path, second.file_id());
        assert!(!path.exists());
    }
}
