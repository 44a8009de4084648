//! Route lookup speed with 10, 1,000 and 10,000 Routes, and the p50/p99
//! of single lookups at 10,000 Routes.

mod fixtures;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_compiler::{Lookup, compile};

fn lookup(c: &mut Criterion) {
    let now = jiff::Timestamp::now();
    let mut group = c.benchmark_group("lookup");
    for count in [10, 1_000, 10_000] {
        let compiled = compile(&fixtures::routes(count));
        let table = compiled.snapshot.table();
        let probes = fixtures::probes(count);
        let views: Vec<_> = probes.iter().map(|probe| probe.view(now)).collect();
        let hits = views
            .iter()
            .filter(|view| matches!(table.lookup(view), Lookup::Matched(_)))
            .count();
        println!(
            "lookup/{count}: {hits} of {} probe requests match",
            views.len()
        );
        let mut next = 0usize;
        group.bench_function(format!("{count}_routes"), |b| {
            b.iter(|| {
                next = (next + 1) % views.len();
                black_box(table.lookup(black_box(&views[next])));
            })
        });
    }
    group.finish();
    percentiles(10_000, now);
}

/// Times batches of 64 lookups, one per probe request, and prints the
/// per-lookup p50 and p99 over the batches.
fn percentiles(count: usize, now: jiff::Timestamp) {
    let compiled = compile(&fixtures::routes(count));
    let table = compiled.snapshot.table();
    let probes = fixtures::probes(count);
    let views: Vec<_> = probes.iter().map(|probe| probe.view(now)).collect();
    let mut per_lookup: Vec<Duration> = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let start = Instant::now();
        for view in &views {
            black_box(table.lookup(black_box(view)));
        }
        per_lookup.push(start.elapsed() / views.len() as u32);
    }
    per_lookup.sort_unstable();
    let at = |share: f64| {
        per_lookup[((per_lookup.len() as f64 * share) as usize).min(per_lookup.len() - 1)]
    };
    println!(
        "lookup/{count}_routes per lookup over batches of {}: p50 {:?}, p99 {:?}, max {:?}",
        views.len(),
        at(0.50),
        at(0.99),
        per_lookup[per_lookup.len() - 1]
    );
}

criterion_group!(benches, lookup);
criterion_main!(benches);
