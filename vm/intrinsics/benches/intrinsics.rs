//! Worst-case-shaped timings of the intrinsics, as input for the VM's gas schedule.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keel_intrinsics::fixed::Q64x64;
use keel_intrinsics::u256;

fn u256_ops(c: &mut Criterion) {
    let a = [0xa5; 32];
    let b = [0x5a; 32];
    let m = [0x7f; 32];
    c.bench_function("u256/mul", |bench| {
        bench.iter(|| u256::mul(black_box(&a), black_box(&b)))
    });
    c.bench_function("u256/div", |bench| {
        bench.iter(|| u256::div(black_box(&a), black_box(&[0x03; 32])))
    });
    c.bench_function("u256/mul_mod", |bench| {
        bench.iter(|| u256::mul_mod(black_box(&a), black_box(&b), black_box(&m)))
    });
    // An all-ones exponent is the most expensive: 256 squarings and 256 multiplications.
    c.bench_function("u256/exp_full_exponent", |bench| {
        bench.iter(|| u256::exp(black_box(&a), black_box(&[0xff; 32])))
    });
}

fn fixed_ops(c: &mut Criterion) {
    let x = Q64x64::from_bits(0x1_2345_6789_abcd_ef01);
    let y = Q64x64::from_bits(-0x0_fedc_ba98_7654_3210);
    c.bench_function("fx/mul", |bench| {
        bench.iter(|| black_box(x).mul(black_box(y)))
    });
    c.bench_function("fx/div", |bench| {
        bench.iter(|| black_box(x).div(black_box(y)))
    });
    c.bench_function("fx/sqrt", |bench| bench.iter(|| black_box(x).sqrt()));
    c.bench_function("fx/exp", |bench| bench.iter(|| black_box(x).exp()));
    c.bench_function("fx/ln", |bench| bench.iter(|| black_box(x).ln()));
    c.bench_function("fx/pow", |bench| {
        bench.iter(|| black_box(x).pow(black_box(y)))
    });
}

criterion_group!(benches, u256_ops, fixed_ops);
criterion_main!(benches);
