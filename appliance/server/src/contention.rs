//! CPU contention for the serving benchmark: one busy thread per core, so the server's threads
//! are descheduled the way they are on a machine shared with co-located validators and builds.
//! Bounded in time: the hogs stop when dropped or at their deadline, whichever comes first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Busy threads, one per core, until dropped or `limit` has passed.
pub struct CpuHogs {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl CpuHogs {
    /// Starts `count` hogs (0 = one per core) that spin for at most `limit`.
    pub fn start(count: usize, limit: Duration) -> CpuHogs {
        let count = if count == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            count
        };
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + limit;
        let threads = (0..count)
            .filter_map(|i| {
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name(format!("keel-bench-hog-{i}"))
                    .spawn(move || spin(&stop, deadline))
                    .ok()
            })
            .collect();
        CpuHogs { stop, threads }
    }

    /// How many hogs run.
    pub fn count(&self) -> usize {
        self.threads.len()
    }
}

fn spin(stop: &AtomicBool, deadline: Instant) {
    let mut x = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        if Instant::now() >= deadline {
            break;
        }
    }
}

impl Drop for CpuHogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hogs_stop_at_their_deadline_even_if_not_dropped() {
        let hogs = CpuHogs::start(2, Duration::from_millis(50));
        assert_eq!(hogs.count(), 2);
        let begun = Instant::now();
        for t in &hogs.threads {
            while !t.is_finished() {
                std::thread::sleep(Duration::from_millis(5));
                assert!(begun.elapsed() < Duration::from_secs(10));
            }
        }
    }
}
