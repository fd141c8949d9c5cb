//! The blocking client.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use keel_crypto::SecretKey;
use keel_protocol::{FrameDecoder, Request, Response};

use crate::{
    ClientError, Endpoint, MAX_RESPONSE_BODY, answer_challenge, ok_or_server_error, read_only_from,
};

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
        }
    }
}

/// A blocking connection. Request ids start at 1 and increase.
pub struct Client {
    stream: Stream,
    decoder: FrameDecoder,
    next_id: u64,
    buf: Vec<u8>,
    /// Responses read while waiting for another id.
    early: BTreeMap<u64, Response>,
}

impl Client {
    /// Connects (TCP with `TCP_NODELAY`). Errors: the socket error.
    pub fn connect(endpoint: &Endpoint) -> Result<Client, ClientError> {
        let stream = match endpoint {
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        };
        Ok(Client {
            stream,
            decoder: FrameDecoder::new(MAX_RESPONSE_BODY),
            next_id: 1,
            buf: vec![0; 64 * 1024],
            early: BTreeMap::new(),
        })
    }

    /// Sets a read timeout (`None`: wait forever).
    pub fn set_read_timeout(
        &self,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), ClientError> {
        match &self.stream {
            Stream::Tcp(s) => s.set_read_timeout(timeout)?,
            Stream::Unix(s) => s.set_read_timeout(timeout)?,
        }
        Ok(())
    }

    /// Proves possession of `key`; returns whether the connection is read-only. With
    /// `expected_server`, refuses a server whose id differs. Errors: `Server` with
    /// `HandshakeFailed` if the key is refused or the proof does not verify.
    pub fn handshake(
        &mut self,
        key: &SecretKey,
        expected_server: Option<[u8; 32]>,
    ) -> Result<bool, ClientError> {
        let challenge = self.call_raw(&Request::Hello {
            public_key: key.public_key().to_bytes(),
        })?;
        let proof = answer_challenge(key, challenge, expected_server)?;
        read_only_from(self.call_raw(&proof)?)
    }

    /// Sends one request without waiting; returns its id.
    pub fn send(&mut self, request: &Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut frame = Vec::new();
        request
            .encode(id, &mut frame)
            .map_err(|_| ClientError::TooLarge)?;
        self.stream.write_all(&frame)?;
        Ok(id)
    }

    /// Reads the next response frame, whatever its id (id 0: a connection-level error).
    pub fn recv(&mut self) -> Result<(u64, Response), ClientError> {
        if let Some((id, r)) = self.early.pop_first() {
            return Ok((id, r));
        }
        self.read_frame()
    }

    fn read_frame(&mut self) -> Result<(u64, Response), ClientError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok((frame.request_id, Response::decode(frame.kind, &frame.body)?));
            }
            let n = match self.stream.read(&mut self.buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.decoder.push(&self.buf[..n]);
        }
    }

    /// Reads until the response with `id` arrives (others are kept for later `recv`s).
    /// A connection-level error (id 0) is returned as `Err(Server)`.
    pub fn wait(&mut self, id: u64) -> Result<Response, ClientError> {
        if let Some(r) = self.early.remove(&id) {
            return Ok(r);
        }
        loop {
            let (got, response) = self.read_frame()?;
            if got == id {
                return Ok(response);
            }
            if got == 0 {
                return ok_or_server_error(response).and(Err(ClientError::Closed));
            }
            self.early.insert(got, response);
        }
    }

    /// Sends a request and waits for its answer, raw (error responses are `Ok(Response::Error)`).
    pub fn call_raw(&mut self, request: &Request) -> Result<Response, ClientError> {
        let id = self.send(request)?;
        self.wait(id)
    }

    /// Sends a request and waits for its answer; an error response is `Err(Server)`.
    pub fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        ok_or_server_error(self.call_raw(request)?)
    }

    /// Sends every request keeping at most `window` in flight, and returns the raw responses
    /// in request order (responses may arrive in any order; they are matched by id).
    pub fn pipeline(
        &mut self,
        requests: &[Request],
        window: usize,
    ) -> Result<Vec<Response>, ClientError> {
        let window = window.max(1);
        let first = self.next_id;
        let mut results: Vec<Option<Response>> = vec![None; requests.len()];
        let mut sent = 0;
        let mut received = 0;
        let mut frame = Vec::new();
        while received < requests.len() {
            // Refill the window with one write.
            frame.clear();
            while sent < requests.len() && sent - received < window {
                requests[sent]
                    .encode(self.next_id, &mut frame)
                    .map_err(|_| ClientError::TooLarge)?;
                self.next_id += 1;
                sent += 1;
            }
            if !frame.is_empty() {
                self.stream.write_all(&frame)?;
            }
            let (id, response) = self.recv()?;
            let index = id.checked_sub(first).and_then(|i| usize::try_from(i).ok());
            match index.and_then(|i| results.get_mut(i)) {
                Some(slot @ None) => {
                    *slot = Some(response);
                    received += 1;
                }
                _ if id == 0 => return ok_or_server_error(response).and(Err(ClientError::Closed)),
                _ => return Err(ClientError::UnexpectedId(id)),
            }
        }
        Ok(results.into_iter().flatten().collect())
    }
}
