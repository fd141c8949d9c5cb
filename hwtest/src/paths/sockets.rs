//! Sockets: the serve benchmark (`keel bench serve`'s library) runs the same pipelined protocol
//! workload against the io_uring and the epoll servers and checks that every request gets
//! exactly its own answer on both — protocol equivalence — then reports throughput and p99.

use keel_server::bench::{BenchConfig, BenchRequest, run_serve_bench};

use crate::paths::{Better, Curve, Metric, PathResult, Phase, Series};

/// Runs the serve benchmark with `clients` client counts and `requests` per client.
pub fn run_sockets(clients: Vec<usize>, requests: usize) -> Vec<PathResult> {
    let mut r = PathResult::new("sockets", "io_uring vs epoll");
    let config = BenchConfig {
        clients,
        requests_per_client: requests,
        window: 16,
        request: BenchRequest::Status,
        rounds: 1,
        ..BenchConfig::default()
    };
    let report = match run_serve_bench(&config) {
        Ok(rep) => rep,
        Err(e) => {
            r.conformance.fail(e.to_string());
            r.performance = Phase::skipped("the load test failed");
            return vec![r];
        }
    };
    r.conformance.checks = report.results.len() as u64;
    r.conformance.note = report
        .io_uring_skipped
        .clone()
        .map(|w| format!("io_uring skipped: {w}"));
    let mut series: Vec<Series> = Vec::new();
    for res in &report.results {
        let name = res.backend.name();
        let key = format!("{name}.c{}", res.clients);
        r.metrics.push(Metric::new(
            format!("{key}.req_per_s"),
            res.throughput as f64,
            "req/s",
            Better::Higher,
        ));
        r.metrics.push(Metric::new(
            format!("{key}.p99_us"),
            res.p99.as_secs_f64() * 1e6,
            "µs",
            Better::Lower,
        ));
        match series.iter_mut().find(|s| s.label == name) {
            Some(s) => s.points.push((res.clients as f64, res.throughput as f64)),
            None => series.push(Series {
                label: name.into(),
                points: vec![(res.clients as f64, res.throughput as f64)],
            }),
        }
    }
    r.performance.checks = report.results.len() as u64;
    r.curves.push(Curve {
        title: "Requests/s vs concurrent clients".into(),
        x_label: "clients".into(),
        y_label: "requests/s".into(),
        log_x: true,
        series,
    });
    vec![r]
}
