//! Compiling on several threads gives the same snapshot, diagnostics and
//! lookups as compiling on one.

mod common;

use common::{Request, resources, route_in, winner};
use portcullis_compiler::{Compiled, Outcome, compile_on};

/// Enough Routes that every stage of the compile splits its work.
const ROUTES: usize = 6_000;

fn manifests() -> String {
    let mut yaml = String::new();
    for index in 0..ROUTES {
        let host = index / 10;
        // Two Routes in ten have a hostname of their own, so that there
        // are enough host scopes to split the trie building.
        let hostnames = match (index % 20, index % 10) {
            (_, 8 | 9) => format!("hostnames: [own{index}.example.com]\n"),
            (0, _) => String::new(),
            (1, _) => format!("hostnames: [\"*.t{host}.example.com\"]\n"),
            _ => format!("hostnames: [s{host}.example.com]\n"),
        };
        let path = match index % 10 {
            0 | 1 => format!("{{value: /api/s{index}}}"),
            2 => format!("{{type: Exact, value: /health/{index}}}"),
            3 => format!("{{type: Template, value: \"/u/{{id}}/o{index}\"}}"),
            4 => format!("{{type: Regex, value: \"/r{index}/v[0-9]+\"}}"),
            5 => format!("{{type: Glob, value: \"/g{index}/**/*.png\"}}"),
            // Shadowed by the prefix of a Route with a higher priority,
            // when that one has the same hostname.
            6 => format!("{{type: Exact, value: /api/s{}/deeper}}", index - 5),
            // Invalid: the regex does not compile.
            7 => "{type: Regex, value: \"/bad[\"}".to_owned(),
            8 => format!("{{value: /beta/{index}}}, headers: [{{name: x-beta, value: \"on\"}}]"),
            _ => format!("{{value: /m/{index}}}, methods: [GET, POST]"),
        };
        let priority = if index % 10 == 1 { "priority: 5\n" } else { "" };
        // A missing certificate is reported on the Route that names it.
        let tls = if index % 100 == 2 {
            "tls: {certificateRefs: [{name: missing}]}\n"
        } else {
            ""
        };
        let spec = format!(
            "{hostnames}{priority}{tls}rules:\n- matches: [{{path: {path}}}]\n  backends: [{{endpoint: \"10.0.{}.{}:8080\"}}]",
            index / 250 % 250,
            index % 250
        );
        yaml.push_str(&route_in(
            &format!("team-{}", index % 7),
            &format!("route-{index}"),
            &spec,
        ));
    }
    yaml
}

fn requests() -> Vec<Request> {
    (0..ROUTES / 10)
        .step_by(7)
        .flat_map(|host| {
            let base = host * 10;
            let name = format!("s{host}.example.com");
            [
                Request::new("GET", &name, &format!("/api/s{}/deeper", base + 1)),
                Request::new("GET", &name, &format!("/health/{}", base + 2)),
                Request::new("GET", &name, &format!("/u/7/o{}", base + 3)),
                Request::new("GET", &name, &format!("/r{}/v12", base + 4)),
                Request::new("GET", &name, &format!("/g{}/a/b.png", base + 5)),
                Request::new(
                    "POST",
                    &format!("own{}.example.com", base + 9),
                    &format!("/m/{}", base + 9),
                ),
                Request::new("GET", &format!("a.t{host}.example.com"), "/api/x"),
                Request::new("GET", "elsewhere.example.com", &format!("/api/s{base}")),
            ]
        })
        .collect()
}

fn fingerprint(compiled: &Compiled) -> (String, Vec<u8>, String) {
    (
        compiled.snapshot.version().to_owned(),
        serde_json::to_vec(compiled.snapshot.ir()).expect("IR serializes"),
        format!("{:?}", compiled.diagnostics),
    )
}

#[test]
fn thread_count_keeps_result() {
    let input = resources(&manifests());
    let single = compile_on(&input, 1);
    let rejected = single
        .diagnostics
        .iter()
        .filter(|d| d.outcome == Outcome::Rejected)
        .count();
    assert_eq!(rejected, ROUTES / 10, "every Route with a bad regex");

    let shadowed = single
        .diagnostics
        .iter()
        .filter(|d| !d.findings.is_empty())
        .count();
    assert_eq!(
        shadowed,
        ROUTES / 20,
        "exact paths under a same-host prefix"
    );

    let unresolved: Vec<&str> = single
        .diagnostics
        .iter()
        .filter(|d| !d.unresolved_refs.is_empty())
        .map(|d| d.object.name.as_str())
        .collect();
    assert_eq!(unresolved.len(), ROUTES / 100);
    assert!(unresolved.iter().all(|name| name.ends_with('2')));

    let expected = fingerprint(&single);
    let requests = requests();
    let winners: Vec<String> = requests.iter().map(|r| winner(&single, r)).collect();
    let found = winners.iter().filter(|w| *w != "none").count();
    assert!(
        found > requests.len() * 3 / 4,
        "{found} of {}",
        requests.len()
    );
    for threads in 2..=4 {
        let many = compile_on(&input, threads);
        assert!(fingerprint(&many) == expected, "{threads} threads differ");
        let theirs: Vec<String> = requests.iter().map(|r| winner(&many, r)).collect();
        assert_eq!(theirs, winners, "{threads} threads");
    }
}
