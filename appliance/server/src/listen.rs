//! Binding the listeners: TCP (one socket per network thread with SO_REUSEPORT, so the kernel
//! spreads connections across rings) and a Unix domain socket (shared by all threads).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::ServerError;

/// The bound listeners of one network thread.
pub(crate) struct Listeners {
    pub(crate) tcp: Option<TcpListener>,
    pub(crate) unix: Option<UnixListener>,
}

/// Binds `count` TCP sockets to `addr` with SO_REUSEPORT (all on the port the first one got,
/// so port 0 works). Sockets are non-blocking with TCP_NODELAY set before listen (accepted
/// sockets inherit it).
pub(crate) fn bind_tcp(
    addr: SocketAddr,
    count: usize,
) -> Result<(Vec<TcpListener>, SocketAddr), ServerError> {
    let mut out = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count.max(1) {
        let err = |source| ServerError::Listen {
            what: format!("tcp {bound}"),
            source,
        };
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .map_err(err)?;
        socket.set_reuse_address(true).map_err(err)?;
        socket.set_reuse_port(true).map_err(err)?;
        socket.set_tcp_nodelay(true).map_err(err)?;
        socket.set_nonblocking(true).map_err(err)?;
        socket.bind(&bound.into()).map_err(err)?;
        socket.listen(1024).map_err(err)?;
        let listener: TcpListener = socket.into();
        bound = listener.local_addr().map_err(err)?;
        out.push(listener);
    }
    Ok((out, bound))
}

/// Binds a Unix socket at `path`, replacing a stale socket file (never any other file).
pub(crate) fn bind_unix(path: &Path) -> Result<(UnixListener, PathBuf), ServerError> {
    let err = |source| ServerError::Listen {
        what: format!("unix {}", path.display()),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok((listener, path.to_path_buf()))
}
