//! Per-client rate of `BlsBatchVerify` signatures: a token bucket per client identity (its
//! proven key, else its address), so one client's batches cannot take the client lane from
//! the others. Node-local policy; never on the consensus path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use keel_server::{Peer, RequestContext};

/// Most clients tracked at once; beyond it, buckets that are full again are forgotten first.
const MAX_CLIENTS: usize = 4096;

/// Who a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Client {
    Key([u8; 48]),
    Address(std::net::IpAddr),
    Unix,
}

fn client(ctx: &RequestContext) -> Client {
    match (ctx.public_key, &ctx.peer) {
        (Some(k), _) => Client::Key(k),
        (None, Peer::Tcp(a)) => Client::Address(a.ip()),
        (None, Peer::Unix) => Client::Unix,
    }
}

/// Token buckets of `per_second` signatures, holding at most one second's worth.
pub struct VerifyRate {
    per_second: u64,
    buckets: Mutex<HashMap<Client, (f64, Instant)>>,
}

impl VerifyRate {
    /// `per_second == 0` disables the limit.
    pub fn new(per_second: u64) -> VerifyRate {
        VerifyRate {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `items` tokens from the client's bucket; `false` (nothing taken) if it has fewer.
    pub fn admit(&self, ctx: &RequestContext, items: usize, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let full = self.per_second as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * full < full
            });
        }
        let (tokens, at) = buckets.entry(client(ctx)).or_insert((full, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * full).min(full);
        *at = now;
        let want = items as f64;
        if *tokens < want {
            return false;
        }
        *tokens -= want;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ctx(key: u8) -> RequestContext {
        RequestContext {
            peer: Peer::Unix,
            public_key: Some([key; 48]),
            read_only: true,
            request_id: 1,
        }
    }

    #[test]
    fn a_client_gets_its_rate_and_others_are_not_charged_for_it() {
        let r = VerifyRate::new(1000);
        let t = Instant::now();
        assert!(r.admit(&ctx(1), 600, t));
        assert!(!r.admit(&ctx(1), 600, t), "only 400 left");
        assert!(
            r.admit(&ctx(2), 1000, t),
            "another client has its own bucket"
        );
        assert!(
            r.admit(&ctx(1), 600, t + Duration::from_millis(200)),
            "refilled to 600"
        );
        assert!(VerifyRate::new(0).admit(&ctx(1), usize::MAX, t));
    }
}
