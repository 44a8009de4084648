//! Compile time for 10,000 and 100,000 Routes, to show that compiling
//! scales linearly.

mod fixtures;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_compiler::compile;

fn compile_routes(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for count in [10_000, 100_000] {
        let resources = fixtures::routes(count);
        group.bench_function(format!("{count}_routes"), |b| {
            // Freeing a snapshot is left out: the data plane drops retired
            // snapshots on a background thread.
            b.iter_with_large_drop(|| compile(black_box(&resources)))
        });
    }
    group.finish();
}

criterion_group!(benches, compile_routes);
criterion_main!(benches);
