//! Compile time for 10,000 and 100,000 Routes, to show that compiling
//! scales linearly: on the threads a compile uses by default, and on one.

mod fixtures;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portcullis_compiler::{compile, compile_on};

/// The allocator of the `portcullis` binary, which compiles in standalone
/// mode and rebuilds every snapshot it receives.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn compile_routes(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for count in [10_000, 100_000] {
        let resources = fixtures::routes(count);
        // Freeing a snapshot is left out, since the data plane drops
        // retired snapshots on a background thread. Each one is freed
        // before the next compile, as in a running gateway, so the
        // allocator reuses its memory.
        group.bench_function(format!("{count}_routes"), |b| {
            b.iter_batched(
                || (),
                |()| compile(black_box(&resources)),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("{count}_routes_one_thread"), |b| {
            b.iter_batched(
                || (),
                |()| compile_on(black_box(&resources), 1),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, compile_routes);
criterion_main!(benches);
