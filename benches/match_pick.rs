//! The request path's routing cost: normalize + longest-prefix match + pick,
//! on tables of 10, 1,000 and 100,000 routes, with and without hosts; and the control plane's cost of
//! rebuilding a snapshot of 10,000 instances, and of 10,000 services when one
//! of them changed.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use portico::consul::Instance;
use portico::discovery::Update;
use portico::metrics::Metrics;
use portico::routing::host::request_host;
use portico::routing::path::normalize;
use portico::snapshot::build::{build, build_reusing, View};
use portico::snapshot::registry::StateRegistry;
use portico::snapshot::reuse::{Dirty, Reuse};
use portico::snapshot::Snapshot;

fn view(services: usize, instances: usize) -> View {
    view_with(services, instances, |i| vec![format!("portico.route=/svc-{i}/api")])
}

fn view_with(services: usize, instances: usize, tags: impl Fn(usize) -> Vec<String>) -> View {
    let mut view = View::default();
    let catalog = (0..services).map(|i| (format!("svc-{i}"), tags(i))).collect();
    view.apply(Update::Catalog(catalog));
    for i in 0..services {
        let list = (0..instances)
            .map(|j| Instance {
                id: format!("svc-{i}-{j}"),
                node: "node-1".into(),
                address: "10.0.0.1".into(),
                port: 10_000 + j as u16,
                weight: 1,
                meta: Default::default(),
                tags: Vec::new(),
            })
            .collect();
        view.apply(Update::Instances { service: format!("svc-{i}"), instances: list });
    }
    view
}

fn snapshot(routes: usize) -> Snapshot {
    build(&view(routes, 3), &[], &StateRegistry::default(), 1, &Metrics::default()).0
}

fn match_and_pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("match_pick");
    for routes in [10usize, 1_000, 100_000] {
        let snap = snapshot(routes);
        let path = format!("/svc-{}/api/items/42", routes / 2);
        group.bench_with_input(BenchmarkId::from_parameter(routes), &path, |b, path| {
            b.iter(|| {
                let normalized = normalize(black_box(path)).expect("valid");
                let route = snap.route(&normalized).expect("route");
                black_box(route.upstream.pick_avoiding(&[], std::time::Duration::ZERO).map(|(_, e)| &e.authority));
            })
        });
    }
    group.finish();
}

/// Half the services routed by exact host, a quarter by wildcard, the rest
/// on any host with a header matcher in front: the request names a host.
fn match_host_and_pick(c: &mut Criterion) {
    let tags = |i: usize| match i % 4 {
        0 | 1 => vec![format!("portico.route=svc-{i}.example.com/api")],
        2 => vec![format!("portico.route=*.zone-{i}.example.com/api")],
        _ => vec![format!("portico.route=/svc-{i}/api"), "portico.match=header:X-Beta=1".into()],
    };
    let mut group = c.benchmark_group("match_host_pick");
    for routes in [1_000usize, 100_000] {
        let snap = build(&view_with(routes, 3, tags), &[], &StateRegistry::default(), 1, &Metrics::default()).0;
        let host = format!("svc-{}.example.com:8080", routes / 2);
        group.bench_with_input(BenchmarkId::from_parameter(routes), &host, |b, host| {
            b.iter(|| {
                let normalized = normalize(black_box("/api/items/42")).expect("valid");
                let host = request_host(black_box(host));
                let route = snap.table.find(Some(&host), &normalized, |_| false).expect("route");
                black_box(route.upstream.pick_avoiding(&[], std::time::Duration::ZERO).map(|(_, e)| &e.authority));
            })
        });
    }
    group.finish();
}

fn rebuild(c: &mut Criterion) {
    let view = view(2_000, 5);
    let metrics = Metrics::default();
    let (_, registry) = build(&view, &[], &StateRegistry::default(), 1, &metrics);
    c.bench_function("rebuild_10000_instances", |b| {
        b.iter_batched(
            || registry.clone(),
            |old| black_box(build_reusing(&view, &[], old, 2, &metrics, &Reuse::default())),
            BatchSize::LargeInput,
        );
    });
}

fn rebuild_one_changed(c: &mut Criterion) {
    let view = view(10_000, 3);
    let metrics = Metrics::default();
    let (previous, registry) = build(&view, &[], &StateRegistry::default(), 1, &metrics);
    c.bench_function("rebuild_10000_services_one_changed", |b| {
        b.iter_batched(
            || registry.clone(),
            |old| {
                let dirty: Dirty = ["svc-42".to_string()].into_iter().collect();
                black_box(build_reusing(&view, &[], old, 2, &metrics, &Reuse::from(&previous, dirty)))
            },
            BatchSize::LargeInput,
        );
    });
}

criterion_group!(benches, match_and_pick, match_host_and_pick, rebuild, rebuild_one_changed);
criterion_main!(benches);
