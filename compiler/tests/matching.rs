//! Route table lookups for every match factor.

mod common;

use common::{Request, compile_yaml, route, winner, winner_with};
use portcullis_compiler::graphql::Operation;
use portcullis_compiler::{GraphqlInfo, Lookup};
use portcullis_crds::route::GraphqlOperationType;

const BACKEND: &str = "backends: [{endpoint: \"127.0.0.1:9\"}]";

fn one_rule(name: &str, matches: &str) -> String {
    route(name, &format!("rules:\n- matches: {matches}\n  {BACKEND}"))
}

#[test]
fn host_exact_wildcard_case_and_port() {
    let yaml = [
        route(
            "exact",
            &format!("hostnames: [a.example.com]\nrules:\n- {BACKEND}"),
        ),
        route(
            "wild",
            &format!("hostnames: [\"*.example.com\"]\nrules:\n- {BACKEND}"),
        ),
        route("any", &format!("rules:\n- {BACKEND}")),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        winner(&compiled, &Request::new("GET", "A.Example.COM:8080", "/")),
        "default/exact 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "b.c.example.com", "/")),
        "default/wild 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "example.com", "/")),
        "default/any 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "[::1]:8080", "/")),
        "default/any 0.0"
    );
}

#[test]
fn prefix_is_segment_aware() {
    let compiled = compile_yaml(&one_rule("api", "[{path: {type: Prefix, value: /api/}}]"));
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/api")),
        "default/api 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/api/x")),
        "default/api 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/apix")),
        "none"
    );
}

#[test]
fn path_kinds_rank_exact_template_glob_prefix_regex() {
    let yaml = [
        one_rule("exact", "[{path: {type: Exact, value: /u/1/orders}}]"),
        one_rule(
            "template",
            "[{path: {type: Template, value: \"/u/{id}/orders\"}}]",
        ),
        one_rule("glob", "[{path: {type: Glob, value: \"/u/*/orders\"}}]"),
        one_rule("prefix", "[{path: {type: Prefix, value: /u}}]"),
        one_rule("regex", "[{path: {type: Regex, value: \"/u/.*\"}}]"),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/u/1/orders")),
        "default/exact 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/u/2/orders")),
        "default/template 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/u/2/x")),
        "default/prefix 0.0"
    );
}

#[test]
fn template_captures_follow_rule_variables() {
    let yaml = route(
        "t",
        &format!(
            "rules:\n- matches: [{{path: {{type: Template, value: \"/u/{{id}}/o/{{order}}\"}}}}, {{path: {{type: Template, value: \"/o/{{order}}/u/{{id}}\"}}}}]\n  {BACKEND}"
        ),
    );
    let compiled = compile_yaml(&yaml);
    let request = Request::new("GET", "h", "/o/77/u/42");
    let Lookup::Matched(matched) = compiled
        .snapshot
        .table()
        .lookup(&request.view(GraphqlInfo::NotRead))
    else {
        panic!("template should match");
    };
    assert_eq!(matched.match_index, 1);
    assert_eq!(matched.captures.get(0, &request.path), Some("42"));
    assert_eq!(matched.captures.get(1, &request.path), Some("77"));
}

#[test]
fn glob_star_stays_in_segment() {
    let yaml = [
        one_rule("one", "[{path: {type: Glob, value: \"/s/*.css\"}}]"),
        one_rule("many", "[{path: {type: Glob, value: \"/t/**/x\"}}]"),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/s/a.css")),
        "default/one 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/s/a/b.css")),
        "none"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/t/a/b/x")),
        "default/many 0.0"
    );
}

#[test]
fn regex_is_anchored() {
    let compiled = compile_yaml(&one_rule(
        "r",
        "[{path: {type: Regex, value: \"/v[0-9]+\"}}]",
    ));
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/v12")),
        "default/r 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/v12/x")),
        "none"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/x/v12")),
        "none"
    );
}

#[test]
fn method_condition() {
    let compiled = compile_yaml(&one_rule("m", "[{methods: [GET, HEAD]}]"));
    assert_eq!(
        winner(&compiled, &Request::new("HEAD", "h", "/")),
        "default/m 0.0"
    );
    assert_eq!(winner(&compiled, &Request::new("POST", "h", "/")), "none");
    assert_eq!(winner(&compiled, &Request::new("PURGE", "h", "/")), "none");
}

#[test]
fn header_conditions_ignore_name_case() {
    let matches = "[{headers: [{name: X-Tier, value: gold}, {name: x-id, type: Regex, value: \"[0-9]+\"}, {name: X-Debug, type: Absent}, {name: x-Auth, type: Present}]}]";
    let compiled = compile_yaml(&one_rule("h", matches));
    let base = || {
        Request::new("GET", "h", "/")
            .header("x-tier", "silver")
            .header("x-tier", "gold")
    };
    let good = base().header("x-id", "42").header("x-auth", "t");
    assert_eq!(winner(&compiled, &good), "default/h 0.0");
    let bad_regex = base().header("x-id", "42a").header("x-auth", "t");
    assert_eq!(winner(&compiled, &bad_regex), "none");
    let debug = base()
        .header("x-id", "42")
        .header("x-auth", "t")
        .header("x-debug", "1");
    assert_eq!(winner(&compiled, &debug), "none");
    let no_auth = base().header("x-id", "42");
    assert_eq!(winner(&compiled, &no_auth), "none");
}

#[test]
fn query_conditions_decode_values() {
    let matches = "[{queryParams: [{name: q, value: \"a b\"}, {name: n, type: Regex, value: \"[0-9]{2}\"}, {name: flag, type: Present}]}]";
    let compiled = compile_yaml(&one_rule("q", matches));
    let good = Request::new("GET", "h", "/").query("q=a%20b&n=12&flag");
    assert_eq!(winner(&compiled, &good), "default/q 0.0");
    let plus = Request::new("GET", "h", "/").query("flag=&q=a+b&n=99");
    assert_eq!(winner(&compiled, &plus), "default/q 0.0");
    let missing = Request::new("GET", "h", "/").query("q=a%20b&n=12");
    assert_eq!(winner(&compiled, &missing), "none");
    assert_eq!(winner(&compiled, &Request::new("GET", "h", "/")), "none");
}

#[test]
fn geo_condition_needs_known_country() {
    let compiled = compile_yaml(&one_rule("g", "[{geo: {countries: [US, CA]}}]"));
    assert!(compiled.snapshot.table().uses_geo());
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/").country("CA")),
        "default/g 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/").country("DE")),
        "none"
    );
    assert_eq!(winner(&compiled, &Request::new("GET", "h", "/")), "none");
}

#[test]
fn graphql_condition_asks_for_body() {
    let yaml = [
        route("gql", &format!("priority: 1\nrules:\n- matches: [{{path: {{value: /graphql}}, graphql: {{operationType: mutation}}}}]\n  {BACKEND}")),
        one_rule("plain", "[{path: {value: /graphql}}]"),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let request = Request::new("POST", "h", "/graphql");
    assert_eq!(winner(&compiled, &request), "needs-body");
    let mutation = GraphqlInfo::Operation(Operation {
        name: Some("M"),
        kind: GraphqlOperationType::Mutation,
    });
    assert_eq!(
        winner_with(&compiled, &request, mutation),
        "default/gql 0.0"
    );
    let query = GraphqlInfo::Operation(Operation {
        name: None,
        kind: GraphqlOperationType::Query,
    });
    assert_eq!(winner_with(&compiled, &request, query), "default/plain 0.0");
    assert_eq!(
        winner_with(&compiled, &request, GraphqlInfo::Unavailable),
        "default/plain 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/other")),
        "none"
    );
}

#[test]
fn graphql_not_asked_when_better_route_wins() {
    let yaml = [
        one_rule(
            "gql",
            "[{path: {value: /graphql}, graphql: {operationName: Q}}]",
        ),
        route(
            "top",
            &format!(
                "priority: 5\nrules:\n- matches: [{{path: {{value: /graphql}}}}]\n  {BACKEND}"
            ),
        ),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        winner(&compiled, &Request::new("POST", "h", "/graphql")),
        "default/top 0.0"
    );
}

#[test]
fn time_window_overnight_and_zone() {
    let matches =
        "[{timeWindow: {days: [Fri], start: \"22:00\", end: \"02:00\", timeZone: Europe/Berlin}}]";
    let compiled = compile_yaml(&one_rule("night", matches));
    assert!(compiled.snapshot.table().uses_time());
    // 2024-06-07 is a Friday; Berlin is UTC+2 in June.
    let friday_late = Request::new("GET", "h", "/").at("2024-06-07T20:30:00Z");
    assert_eq!(winner(&compiled, &friday_late), "default/night 0.0");
    let saturday_early = Request::new("GET", "h", "/").at("2024-06-07T23:30:00Z");
    assert_eq!(winner(&compiled, &saturday_early), "default/night 0.0");
    let saturday_late = Request::new("GET", "h", "/").at("2024-06-08T20:30:00Z");
    assert_eq!(winner(&compiled, &saturday_late), "none");
    let friday_evening = Request::new("GET", "h", "/").at("2024-06-07T19:30:00Z");
    assert_eq!(winner(&compiled, &friday_evening), "none");
}

#[test]
fn priority_beats_specificity_and_names_break_ties() {
    let yaml = [
        one_rule("b", "[{path: {type: Exact, value: /x}}]"),
        route("low", &format!("priority: -1\nrules:\n- matches: [{{path: {{type: Exact, value: /x}}}}]\n  {BACKEND}")),
        route("high", &format!("priority: 2\nrules:\n- {BACKEND}")),
        one_rule("a", "[{path: {type: Exact, value: /y}}]"),
        one_rule("c", "[{path: {type: Exact, value: /y}}]"),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/x")),
        "default/high 0.0"
    );
    let without_high: String = yaml.replace("priority: 2", "priority: -5");
    let compiled = compile_yaml(&without_high);
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/x")),
        "default/b 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/y")),
        "default/a 0.0"
    );
}

#[test]
fn more_conditions_win_at_equal_path() {
    let yaml = [
        one_rule("plain", "[{path: {value: /api}}]"),
        one_rule(
            "header",
            "[{path: {value: /api}, headers: [{name: x-beta, type: Present}]}]",
        ),
        one_rule("longer", "[{path: {value: /api/v1}}]"),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert_eq!(
        winner(
            &compiled,
            &Request::new("GET", "h", "/api/x").header("x-beta", "1")
        ),
        "default/header 0.0"
    );
    assert_eq!(
        winner(&compiled, &Request::new("GET", "h", "/api/x")),
        "default/plain 0.0"
    );
    assert_eq!(
        winner(
            &compiled,
            &Request::new("GET", "h", "/api/v1/x").header("x-beta", "1")
        ),
        "default/longer 0.0"
    );
}
