//! Snapshot swap cost: `SnapshotStore::publish` of a 10,000-route snapshot
//! while a request still keeps the old one, against dropping a snapshot of
//! the same size inline, which is the cost publish avoids by handing
//! retired snapshots to the reaper thread.
//!
//! Run with `cargo bench -p portcullis-dataplane --bench swap`. Besides
//! criterion's report, the run prints the median of each over a few manual
//! rounds and their ratio.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use portcullis_compiler::{Resource, Snapshot, compile};
use portcullis_crds::Route;
use portcullis_crds::route::{
    Backend, DirectResponse, HttpMethod, PathMatch, PathMatchType, RouteMatch, RouteRule, RouteSpec,
};
use portcullis_dataplane::state::SnapshotStore;

/// Routes per snapshot.
const ROUTES: usize = 10_000;

/// Maximum wait for the reaper to free a retired snapshot between rounds.
const REAP_DEADLINE: Duration = Duration::from_secs(5);

/// Rounds of the manual measurement printed after criterion's.
const MANUAL_ROUNDS: usize = 15;

/// Builds `count` Routes with a mix of path match types, methods,
/// backends and direct responses, each on its own hostname.
fn generate_routes(count: usize) -> Vec<Resource> {
    (0..count)
        .map(|index| Resource::Route(Box::new(generate_route(index))))
        .collect()
}

fn generate_route(index: usize) -> Route {
    let (kind, value) = match index % 4 {
        0 => (PathMatchType::Prefix, format!("/svc/{index}")),
        1 => (PathMatchType::Exact, format!("/exact/{index}/item")),
        2 => (PathMatchType::Glob, format!("/glob/{index}/*/files/**")),
        _ => (
            PathMatchType::Template,
            format!("/users/{index}/{{id}}/orders/{{*rest}}"),
        ),
    };
    let path_match = RouteMatch {
        path: Some(PathMatch { kind, value }),
        methods: if index.is_multiple_of(2) {
            vec![HttpMethod::Get, HttpMethod::Head]
        } else {
            Vec::new()
        },
        ..RouteMatch::default()
    };
    let mut rule = RouteRule {
        matches: vec![path_match],
        ..RouteRule::default()
    };
    if index.is_multiple_of(3) {
        rule.direct_response = Some(DirectResponse {
            status: Some(200),
            body: Some(format!("route {index}")),
            ..DirectResponse::default()
        });
    } else {
        rule.backends = Some(vec![Backend {
            endpoint: Some(format!(
                "10.{}.{}.{}:8080",
                index / 65536 % 256,
                index / 256 % 256,
                index % 256
            )),
            ..Backend::default()
        }]);
    }

    let spec = RouteSpec {
        hostnames: vec![format!("host-{index}.bench.example.com")],
        rules: vec![rule],
        ..RouteSpec::default()
    };
    let mut route = Route::new(&format!("route-{index}"), spec);
    route.metadata.namespace = Some("bench".to_owned());
    route
}

/// Builds a fresh snapshot from the serialized form of `template`, as a
/// data plane does with a snapshot received from the operator.
fn rebuild(template: &Snapshot) -> Snapshot {
    Snapshot::from_ir(template.ir().clone()).expect("benchmark snapshot rebuilds")
}

/// Times one publish of a fresh snapshot while the old one is held.
///
/// Before returning it waits, untimed, until the reaper has freed the
/// retired snapshot, so the next publish is not measured against a
/// concurrent free of a 10,000-route table on the other core.
fn time_publish(store: &SnapshotStore, template: &Snapshot) -> Duration {
    let next = rebuild(template);
    let held = store.load();
    let retired = Arc::downgrade(&held);

    let start = Instant::now();
    black_box(store.publish(next, Vec::new()));
    let elapsed = start.elapsed();

    drop(held);
    let deadline = Instant::now() + REAP_DEADLINE;
    while retired.strong_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    elapsed
}

/// Times dropping a snapshot on the calling thread.
fn time_inline_drop(template: &Snapshot) -> Duration {
    let snapshot = rebuild(template);

    let start = Instant::now();
    drop(black_box(snapshot));
    start.elapsed()
}

fn bench_swap(c: &mut Criterion, template: &Snapshot) {
    let store = SnapshotStore::new();
    store.publish(rebuild(template), Vec::new());

    let mut group = c.benchmark_group("swap_10k_routes");
    // Every iteration rebuilds a full snapshot outside the timed part, so
    // keep the sample count at criterion's minimum.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("publish_while_old_is_held", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| time_publish(&store, template)).sum());
    });
    group.bench_function("drop_inline", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| time_inline_drop(template)).sum());
    });
    group.finish();

    // The same call on a hot path: an empty snapshot published over and
    // over, to separate the cost of publish itself from cold caches after
    // a rebuild.
    let mut group = c.benchmark_group("swap_empty");
    group.bench_function("publish_hot", |b| {
        b.iter_batched(
            || compile(&[]).snapshot,
            |snapshot| store.publish(snapshot, Vec::new()),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Prints medians of both operations and their ratio in the same run.
fn report_ratio(template: &Snapshot) {
    let store = SnapshotStore::new();
    store.publish(rebuild(template), Vec::new());
    let publish = median(
        (0..MANUAL_ROUNDS)
            .map(|_| time_publish(&store, template))
            .collect(),
    );
    let inline = median(
        (0..MANUAL_ROUNDS)
            .map(|_| time_inline_drop(template))
            .collect(),
    );
    let ratio = inline.as_secs_f64() / publish.as_secs_f64().max(f64::MIN_POSITIVE);
    println!(
        "swap_10k_routes: publish median {publish:?}, inline drop median {inline:?}, \
         inline drop / publish = {ratio:.0}x ({MANUAL_ROUNDS} rounds)"
    );
}

fn main() {
    let resources = generate_routes(ROUTES);
    let build_start = Instant::now();
    let template = compile(&resources).snapshot;
    println!(
        "compiled {} routes in {:?}",
        template.ir().routes.len(),
        build_start.elapsed()
    );

    let mut criterion = Criterion::default().configure_from_args();
    bench_swap(&mut criterion, &template);
    report_ratio(&template);
    criterion.final_summary();
}
