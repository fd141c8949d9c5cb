//! The benchmark runs end to end and reports a row per routine (numbers are not asserted:
//! timing targets belong in benchmarks, not tests).

#[test]
fn bench_reports_every_bridge_and_corpus_routine() {
    let rows = keel_pcc::bench::bench_pcc(1).unwrap();
    println!("{}", keel_pcc::bench::render(&rows));
    assert_eq!(rows.len(), 4 + keel_pcc::objects::safe_corpus().len());
    for r in rows.iter().filter(|r| r.certified.is_ok()) {
        assert!(r.check.is_some() && r.check_slots_per_sec.is_some());
    }
}
