//! The ring's teardown on every exit path (error, leak bound, normal shutdown, panic), driven
//! through the real event loop with clients connected and pinging. They need io_uring (root
//! CI has it); elsewhere they print a SKIPPED line.
#![allow(clippy::unwrap_used)]

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keel_client::{Client, Endpoint};
use keel_protocol::{ErrorCode, Request, Response};

use super::event_loop::run_ring_with;
use super::owner::RingOwner;
use super::{Balance, Inbox, probe};
use crate::admission::Admission;
use crate::auth::AuthPolicy;
use crate::config::ServerConfig;
use crate::listen::bind_tcp;
use crate::metrics::Metrics;
use crate::pool::WorkerPool;
use crate::service::{RequestContext, Service};
use crate::shared::Shared;

const CLIENTS: usize = 8;

struct Refuse;

impl Service for Refuse {
    fn handle(&self, _: &RequestContext, _: Request) -> Response {
        Response::error(ErrorCode::Unsupported, "teardown tests only ping")
    }
}

fn io_uring_available() -> bool {
    match probe() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("SKIPPED: io_uring unavailable ({reason}); the teardown test did not run");
            false
        }
    }
}

fn shared() -> Arc<Shared> {
    shared_with(false)
}

fn shared_with(ring_sleeps_in_epoll: bool) -> Arc<Shared> {
    shared_tuned(|c| c.ring_sleeps_in_epoll = ring_sleeps_in_epoll)
}

fn shared_tuned(tweak: impl FnOnce(&mut ServerConfig)) -> Arc<Shared> {
    let mut config = ServerConfig {
        ring_entries: 64,
        recv_buffers: 64,
        // The ping clients never authenticate; they must live as long as the test needs.
        handshake_timeout_ms: 600_000,
        ..ServerConfig::ephemeral()
    };
    tweak(&mut config);
    let policy = AuthPolicy::from_config(&config).unwrap();
    // Pings are answered on the ring itself: no worker thread is needed.
    let (pool, _rx) = WorkerPool::new(16);
    Arc::new(Shared {
        policy,
        metrics: Metrics::default(),
        service: Arc::new(Refuse),
        pool,
        shutting_down: AtomicBool::new(false),
        connections: AtomicUsize::new(0),
        admission: Admission::new(&config),
        config,
    })
}

/// Clients that ping until the server goes away; each returns whether it saw the connection end.
fn ping_clients(addr: SocketAddr, pongs: &Arc<AtomicU64>) -> Vec<JoinHandle<bool>> {
    (0..CLIENTS)
        .map(|_| {
            let pongs = pongs.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&Endpoint::Tcp(addr)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let payload = vec![0x5A; 600];
                while c
                    .call(&Request::Ping {
                        payload: payload.clone(),
                    })
                    .is_ok()
                {
                    pongs.fetch_add(1, Ordering::Relaxed);
                }
                true
            })
        })
        .collect()
}

/// Runs one ring with pinging clients; once every client is connected and has been answered
/// a few times, `act` decides how the loop ends. Returns the loop's result, the in-flight
/// count at that moment, and the ring's shared state (for its metrics).
fn run_with_clients(
    act: &mut dyn FnMut(&mut RingOwner) -> Option<io::Error>,
) -> (io::Result<()>, usize, Arc<Shared>) {
    let shared = shared();
    let balance = Balance::new(vec![Inbox::new().unwrap()]);
    let (mut tcp, addr) = bind_tcp("127.0.0.1:0".parse().unwrap(), 1).unwrap();
    let tcp = tcp.pop().unwrap();
    let pongs = Arc::new(AtomicU64::new(0));
    let clients = ping_clients(addr, &pongs);
    let started = Instant::now();
    let mut at_fault = 0;
    let mut fault = |o: &mut RingOwner| {
        let busy = o.state.open == CLIENTS && pongs.load(Ordering::Relaxed) >= 20 * CLIENTS as u64;
        if started.elapsed() > Duration::from_secs(20) {
            return Some(io::Error::other("clients never got going"));
        }
        if !busy {
            return None;
        }
        at_fault = o.ring.in_flight();
        act(o)
    };
    let result = run_ring_with(
        shared.clone(),
        (balance, 0),
        Some(&tcp),
        None,
        None,
        &mut fault,
    );
    for c in clients {
        assert!(c.join().unwrap(), "a client did not see its connection end");
    }
    (result, at_fault, shared)
}

fn injected(_: &mut RingOwner) -> Option<io::Error> {
    Some(io::Error::other("injected failure"))
}

#[test]
fn an_error_return_with_operations_in_flight_cancels_and_drains_before_freeing() {
    if !io_uring_available() {
        return;
    }
    for _ in 0..5 {
        let (result, at_fault, shared) = run_with_clients(&mut injected);
        assert_eq!(result.unwrap_err().to_string(), "injected failure");
        // One multishot recv per client, the multishot accept, the wake read, the tick.
        assert!(
            at_fault > CLIENTS + 2,
            "only {at_fault} operations in flight"
        );
        assert_eq!(
            shared.metrics.ring_teardowns(),
            [1, 0, at_fault as u64, 0],
            "freed once, with every operation in flight at the error reaped first"
        );
        assert_eq!(shared.connections.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn a_teardown_that_cannot_drain_leaks_instead_of_freeing() {
    if !io_uring_available() {
        return;
    }
    let (result, at_fault, shared) = run_with_clients(&mut |o| {
        o.drain_rounds = 0;
        injected(o)
    });
    assert!(result.is_err());
    let [freed, leaked, ops, left] = shared.metrics.ring_teardowns();
    assert_eq!((freed, leaked, ops), (0, 1, at_fault as u64));
    assert!(left > 0, "the operations it could not reap are reported");
}

#[test]
fn a_normal_shutdown_goes_through_the_same_teardown() {
    if !io_uring_available() {
        return;
    }
    let (result, _, shared) = run_with_clients(&mut |o| {
        o.state.shared.shutting_down.store(true, Ordering::SeqCst);
        o.state.inbox.wake();
        None
    });
    result.unwrap();
    let [freed, leaked, ops, left] = shared.metrics.ring_teardowns();
    assert_eq!((freed, leaked, left), (1, 0, 0));
    assert!(ops >= 2, "the wake read and the tick are always armed");
}

#[test]
fn a_panic_in_the_loop_unwinds_through_the_teardown() {
    if !io_uring_available() {
        return;
    }
    let mut shared_seen = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_with_clients(&mut |o| {
            shared_seen = Some(o.state.shared.clone());
            panic!("injected panic")
        })
    }));
    assert!(outcome.is_err());
    let [freed, leaked, ops, left] = shared_seen.unwrap().metrics.ring_teardowns();
    assert_eq!((freed, leaked, left), (1, 0, 0));
    assert!(ops > CLIENTS as u64 + 2);
}

#[test]
fn connections_accepted_by_one_ring_are_served_evenly_by_both_rings() {
    if !io_uring_available() {
        return;
    }
    let shared = shared();
    let balance = Balance::new(vec![Inbox::new().unwrap(), Inbox::new().unwrap()]);
    // Only ring 0 listens: without hand-over it would serve every client.
    let (mut tcp, addr) = bind_tcp("127.0.0.1:0".parse().unwrap(), 1).unwrap();
    let tcp = tcp.pop().unwrap();
    let pongs = Arc::new(AtomicU64::new(0));
    let most_on_ring_1 = Arc::new(AtomicUsize::new(0));
    let ring_1 = {
        let (shared, balance, most) = (shared.clone(), balance.clone(), most_on_ring_1.clone());
        std::thread::spawn(move || {
            let mut watch = |o: &mut RingOwner| {
                most.fetch_max(o.state.open, Ordering::Relaxed);
                None
            };
            run_ring_with(shared, (balance, 1), None, None, None, &mut watch)
        })
    };
    let clients = ping_clients(addr, &pongs);
    let started = Instant::now();
    let mut on_ring_0 = 0;
    let mut stop = |o: &mut RingOwner| {
        on_ring_0 = on_ring_0.max(o.state.open);
        let all_busy = on_ring_0 + most_on_ring_1.load(Ordering::Relaxed) == CLIENTS
            && pongs.load(Ordering::Relaxed) >= 20 * CLIENTS as u64;
        if all_busy || started.elapsed() > Duration::from_secs(20) {
            o.state.shared.shutting_down.store(true, Ordering::SeqCst);
            for i in 0..2 {
                balance.inbox(i).unwrap().wake();
            }
        }
        None
    };
    run_ring_with(
        shared.clone(),
        (balance.clone(), 0),
        Some(&tcp),
        None,
        None,
        &mut stop,
    )
    .unwrap();
    ring_1.join().unwrap().unwrap();
    for c in clients {
        assert!(c.join().unwrap(), "a client did not see its connection end");
    }
    assert_eq!(
        (on_ring_0, most_on_ring_1.load(Ordering::Relaxed)),
        (CLIENTS / 2, CLIENTS / 2),
        "ring 0 accepted every connection and kept half"
    );
    assert_eq!(
        (balance.load(0), balance.load(1)),
        (0, 0),
        "every close is counted"
    );
    assert_eq!(shared.connections.load(Ordering::SeqCst), 0);
}

/// Runs one ring serving one client that sends 200 pings one at a time and checks every
/// answer; returns where the ring slept until the last answer: (in epoll, in the ring).
fn sleeps_serving_sequential_pings(ring_sleeps_in_epoll: bool) -> (u64, u64) {
    // No busy poll: on a quiet machine it catches every next ping, leaving no sleep to count.
    let shared = shared_tuned(|c| {
        c.ring_sleeps_in_epoll = ring_sleeps_in_epoll;
        c.ring_busy_poll_us = 0;
    });
    let balance = Balance::new(vec![Inbox::new().unwrap()]);
    let (mut tcp, addr) = bind_tcp("127.0.0.1:0".parse().unwrap(), 1).unwrap();
    let tcp = tcp.pop().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut c = Client::connect(&Endpoint::Tcp(addr)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            for i in 0..200u8 {
                let payload = vec![i; 8];
                let answer = c
                    .call(&Request::Ping {
                        payload: payload.clone(),
                    })
                    .unwrap();
                assert_eq!(answer, Response::Pong { payload });
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let started = Instant::now();
    let mut sleeps = None;
    let mut stop = |o: &mut RingOwner| {
        let over = done.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(20);
        if over && sleeps.is_none() {
            sleeps = Some((o.epoll_sleeps, o.ring_waits));
            o.state.shared.shutting_down.store(true, Ordering::SeqCst);
            o.state.inbox.wake();
        }
        None
    };
    run_ring_with(shared, (balance, 0), Some(&tcp), None, None, &mut stop).unwrap();
    client.join().unwrap();
    assert!(done.load(Ordering::SeqCst), "the client did not finish");
    sleeps.unwrap()
}

#[test]
fn an_idle_ring_sleeps_in_epoll_and_still_answers_every_request() {
    if !io_uring_available() {
        return;
    }
    // Pings are answered by sends that complete at once: nothing in flight ever needs the
    // ring's own wait, so every sleep (waiting for the connection, for a next ping that has
    // not arrived yet) is in epoll.
    let (in_epoll, in_ring) = sleeps_serving_sequential_pings(true);
    assert!(in_epoll > 0, "never slept in epoll");
    assert_eq!(
        in_ring, 0,
        "slept in io_uring_enter with nothing unannounced in flight"
    );
    let (in_epoll, in_ring) = sleeps_serving_sequential_pings(false);
    assert_eq!(
        in_epoll, 0,
        "ring_sleeps_in_epoll = false sleeps in the ring only"
    );
    assert!(in_ring > 0);
}
