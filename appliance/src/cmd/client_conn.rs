//! How `keel client` reaches a daemon: the `--endpoint` forms, the handshake, and errors that
//! say what to do (which flag to pass) rather than only what the daemon refused.

use anyhow::Context;
use clap::Args;
use keel_client::{Client, ClientError, Endpoint};
use keel_protocol::{ErrorCode, Request, Response};
use std::net::ToSocketAddrs;
use std::path::PathBuf;

/// The daemon's default TCP port.
const DEFAULT_PORT: u16 = 7411;

#[derive(Args, Clone)]
pub struct Conn {
    /// Daemon address: `host:port` or `host` (TCP, port 7411 by default; `localhost` is TCP),
    /// or `unix:PATH` / a path containing `/` for the Unix socket.
    #[arg(long, default_value = "127.0.0.1:7411", env = "KEEL_ENDPOINT")]
    pub endpoint: String,
    /// Keystore to authenticate from.
    #[arg(long, default_value = "./keel-data/keystore.json")]
    pub keystore: PathBuf,
    /// Keystore index of the key to authenticate with (the demo daemon allows the validators'
    /// keys 0-3 to read and write). Omit to stay unauthenticated: reads only, and only where
    /// the daemon opens them (`open_reads`).
    #[arg(long)]
    pub key: Option<usize>,
}

/// Parses an `--endpoint` value.
pub fn parse_endpoint(text: &str) -> anyhow::Result<Endpoint> {
    if let Some(path) = text.strip_prefix("unix:") {
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if text.contains('/') {
        return Ok(Endpoint::Unix(PathBuf::from(text)));
    }
    let with_port = if text.contains(':') && !text.ends_with(']') {
        text.to_string()
    } else {
        format!("{text}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("endpoint {text:?} is neither host:port nor unix:PATH"))?
        .next()
        .map(Endpoint::Tcp)
        .with_context(|| format!("endpoint {text:?} resolves to no address"))
}

/// Connects, and authenticates with `--key` when given.
pub fn connect(conn: &Conn) -> anyhow::Result<Client> {
    let endpoint = parse_endpoint(&conn.endpoint)?;
    let mut c = Client::connect(&endpoint).with_context(|| {
        format!(
            "cannot connect to {} (is `keel serve` running?)",
            conn.endpoint
        )
    })?;
    if let Some(i) = conn.key {
        let keys = super::chain::keystore_secrets(&conn.keystore)?;
        let key = keys
            .get(i)
            .with_context(|| format!("no key {i} in {}", conn.keystore.display()))?;
        c.handshake(key, None).context("handshake failed")?;
    }
    Ok(c)
}

/// One request; a refusal says which flag would have been accepted.
pub fn ask(c: &mut Client, conn: &Conn, request: &Request) -> anyhow::Result<Response> {
    c.call(request).map_err(|e| explain(e, conn))
}

fn explain(e: ClientError, conn: &Conn) -> anyhow::Error {
    let hint = match &e {
        ClientError::Server {
            code: ErrorCode::NotAuthenticated,
            ..
        } => Some(
            "this daemon answers authenticated connections only: pass --key N, the keystore \
             index of an allowlisted key (the demo daemon allows the validators, --key 0..3, \
             from ./keel-data/keystore.json; --keystore FILE for another)"
                .to_string(),
        ),
        ClientError::Server {
            code: ErrorCode::Forbidden,
            ..
        } => Some(format!(
            "key {} is not allowed to make this request: use a key on the daemon's [server] \
             allowlist (writes) or readers list (reads)",
            conn.key.map_or("(none)".into(), |k| k.to_string())
        )),
        _ => None,
    };
    match hint {
        Some(h) => anyhow::Error::new(e).context(h),
        None => anyhow::Error::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_tcp_with_a_default_port_or_as_unix_paths() {
        let tcp = |t: &str| match parse_endpoint(t).unwrap() {
            Endpoint::Tcp(a) => a,
            Endpoint::Unix(p) => panic!("{t} parsed as unix {}", p.display()),
        };
        assert_eq!(tcp("127.0.0.1:7000").port(), 7000);
        assert_eq!(tcp("localhost").port(), DEFAULT_PORT);
        assert!(tcp("localhost:7411").ip().is_loopback());
        assert_eq!(tcp("[::1]").port(), DEFAULT_PORT);
        for unix in ["unix:keel.sock", "./keel-data/keel.sock", "/run/keel.sock"] {
            assert!(
                matches!(parse_endpoint(unix).unwrap(), Endpoint::Unix(_)),
                "{unix}"
            );
        }
        assert!(parse_endpoint("no such host name.invalid").is_err());
    }
}
