//! Route status written by the operator: Accepted, ResolvedRefs,
//! Programmed and Shadowed, with events for rejections.

mod common;

use common::{Operator, route, service_with_endpoints};

const BACKEND: &str = r#"backends: [{endpoint: "127.0.0.1:9000"}]"#;

#[test]
fn valid_route_accepted_resolved_and_programmed() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("valid");
    let _operator = Operator::start(&cluster, &namespace, &[]);
    cluster.apply(&service_with_endpoints(&namespace, "web"));
    cluster.apply(&route(
        &namespace,
        "shop",
        "{hostnames: [shop.example.com], rules: [{backends: [{name: web, port: 80}]}]}",
    ));
    for condition in ["Accepted", "ResolvedRefs", "Programmed"] {
        cluster.wait_condition(&namespace, "shop", condition);
    }
    let route = cluster.route(&namespace, "shop");
    let generation = route["metadata"]["generation"]
        .as_i64()
        .expect("generation is set");
    for type_ in ["Accepted", "ResolvedRefs", "Programmed"] {
        let condition = common::condition(&route, type_).expect("condition is present");
        assert_eq!(
            condition["observedGeneration"].as_i64(),
            Some(generation),
            "{type_}"
        );
        assert_eq!(condition["reason"], type_, "{type_}");
    }
    let ready = common::condition(&route, "Ready").expect("Ready is present");
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(ready["reason"], "NoReplicas");
}

#[test]
fn uncompilable_route_not_accepted() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("invalid");
    let operator = Operator::start(&cluster, &namespace, &[]);
    let spec = format!(
        r#"{{rules: [{{matches: [{{path: {{type: Regex, value: "/a("}}}}], {BACKEND}}}]}}"#
    );
    cluster.apply(&route(&namespace, "bad-regex", &spec));
    cluster.wait_condition(&namespace, "bad-regex", "Accepted=False");
    let route = cluster.route(&namespace, "bad-regex");
    let accepted = common::condition(&route, "Accepted").expect("Accepted is present");
    assert_eq!(accepted["reason"], "Invalid");
    let message = accepted["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("spec.rules[0].matches[0].path.value"),
        "{message}"
    );
    assert!(message.contains("InvalidRegex"), "{message}");
    let programmed = common::condition(&route, "Programmed").expect("Programmed is present");
    assert_eq!(programmed["status"], "False");

    let event = cluster.wait_event(&namespace, "RouteRejected", "bad-regex");
    assert_eq!(event["type"], "Warning");
    assert!(operator.metric("portcullis_operator_events_published_total") >= 1);
}

#[test]
fn missing_service_resolves_once_created() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("refs");
    let _operator = Operator::start(&cluster, &namespace, &[]);
    cluster.apply(&route(
        &namespace,
        "later",
        "{rules: [{backends: [{name: api, port: 80}]}]}",
    ));
    cluster.wait_condition(&namespace, "later", "ResolvedRefs=False");
    let route = cluster.route(&namespace, "later");
    let refs = common::condition(&route, "ResolvedRefs").expect("ResolvedRefs is present");
    assert_eq!(refs["reason"], "BackendNotFound");
    let message = refs["message"].as_str().unwrap_or_default();
    assert!(message.contains("spec.rules[0].backends[0]"), "{message}");
    assert!(
        message.contains(&format!("Service {namespace}/api")),
        "{message}"
    );
    assert_eq!(
        common::condition(&route, "Accepted").expect("Accepted")["status"],
        "True"
    );

    cluster.apply(&service_with_endpoints(&namespace, "api"));
    cluster.wait_condition(&namespace, "later", "ResolvedRefs=True");
}

#[test]
fn shadowed_route_names_winner() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("shadow");
    let _operator = Operator::start(&cluster, &namespace, &[]);
    let winner = format!(
        "{{hostnames: [a.example.com], priority: 10, rules: [{{matches: [{{path: {{type: Prefix, value: /}}}}], {BACKEND}}}]}}"
    );
    let loser = format!(
        "{{hostnames: [a.example.com], rules: [{{matches: [{{path: {{type: Prefix, value: /x}}}}], {BACKEND}}}]}}"
    );
    cluster.apply(&route(&namespace, "winner", &winner));
    cluster.apply(&route(&namespace, "loser", &loser));
    cluster.wait_condition(&namespace, "loser", "Shadowed=True");
    let route = cluster.route(&namespace, "loser");
    let shadowed = common::condition(&route, "Shadowed").expect("Shadowed is present");
    assert_eq!(shadowed["reason"], "ShadowedByRoute");
    let message = shadowed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("Route/{namespace}/winner")),
        "{message}"
    );
    assert_eq!(
        common::condition(&route, "Accepted").expect("Accepted")["status"],
        "True"
    );
    let winner = cluster.route(&namespace, "winner");
    assert!(
        common::condition(&winner, "Shadowed").is_none(),
        "the winner is not shadowed"
    );

    cluster.kubectl_ok(&["delete", "route", "winner", "-n", &namespace]);
    cluster.wait_for_condition(&namespace, "loser", "Accepted", |_| {
        let route = cluster.route(&namespace, "loser");
        common::condition(&route, "Shadowed").is_none()
    });
}

#[test]
fn cross_namespace_backend_not_permitted() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("from");
    let target = cluster.namespace("to");
    let _operator = Operator::start(&cluster, &namespace, &["--namespace", &target]);
    cluster.apply(&service_with_endpoints(&target, "shared"));
    let spec =
        format!("{{rules: [{{backends: [{{name: shared, namespace: {target}, port: 80}}]}}]}}");
    cluster.apply(&route(&namespace, "crossing", &spec));
    cluster.wait_condition(&namespace, "crossing", "ResolvedRefs=False");
    let route = cluster.route(&namespace, "crossing");
    let refs = common::condition(&route, "ResolvedRefs").expect("ResolvedRefs is present");
    assert_eq!(refs["reason"], "RefNotPermitted");
    let message = refs["message"].as_str().unwrap_or_default();
    assert!(message.contains("ReferenceGrant"), "{message}");
    assert_eq!(
        common::condition(&route, "Accepted").expect("Accepted")["status"],
        "True"
    );
}
