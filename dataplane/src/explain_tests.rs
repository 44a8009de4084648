use super::*;

fn query(text: &str) -> Result<ExplainRequest, InputError> {
    ExplainInput::from_query(text).and_then(|input| input.validate(Source::Query))
}

fn json(text: &str) -> Result<ExplainRequest, InputError> {
    ExplainInput::from_json(text.as_bytes()).and_then(|input| input.validate(Source::Json))
}

#[test]
fn query_parameters_fill_request() {
    let request = query(
        "method=POST&host=a.example.com&path=/x&header=x-a:1&header=x-a:2\
         &query=a%3D1%26b%3D2&client=192.0.2.1&country=de&graphqlOperation=GetUser&graphqlType=query",
    )
    .expect("valid input");
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.host, "a.example.com");
    assert_eq!(request.path, "/x");
    let values: Vec<_> = request.headers.get_all("x-a").iter().collect();
    assert_eq!(values, ["1", "2"]);
    assert_eq!(request.query.as_deref(), Some("a=1&b=2"));
    assert_eq!(
        request.client_addr,
        "192.0.2.1".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(request.country.as_deref(), Some("DE"));
    assert_eq!(
        request.graphql,
        Some((Some("GetUser".to_owned()), GraphqlOperationType::Query))
    );
}

#[test]
fn method_defaults_to_get() {
    let request = query("host=a.example.com&path=/").expect("valid input");
    assert_eq!(request.method, Method::GET);
    assert_eq!(request.client_addr, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(request.graphql, None);
}

#[test]
fn unknown_query_parameter_is_named() {
    let error = query("host=a&path=/&colour=red").expect_err("unknown parameter");
    assert_eq!(error.parameter, "query");
    assert!(error.message.contains("\"colour\""), "{}", error.message);
}

#[test]
fn repeated_query_parameter_is_rejected() {
    let error = query("host=a&host=b&path=/").expect_err("repeated host");
    assert!(error.message.contains("repeated"), "{}", error.message);
}

#[test]
fn missing_host_is_named_per_source() {
    assert_eq!(query("path=/").expect_err("no host").parameter, "host");
    assert_eq!(
        json(r#"{"path":"/"}"#).expect_err("no host").parameter,
        "host"
    );
    let input = ExplainInput {
        path: Some("/".to_owned()),
        ..ExplainInput::default()
    };
    assert_eq!(
        input
            .validate(Source::Flags)
            .expect_err("no host")
            .parameter,
        "--host"
    );
}

#[test]
fn invalid_values_are_named() {
    let cases = [
        ("host=a&path=x", "path"),
        ("host=a&path=/a?b", "path"),
        ("host=a&path=/&method=G%20T", "method"),
        ("host=a&path=/&header=novalue", "header"),
        ("host=a&path=/&header=bad%20name:1", "header"),
        ("host=a&path=/&client=300.1.1.1", "client"),
        ("host=a&path=/&country=DEU", "country"),
        ("host=a&path=/&graphqlType=query2", "graphqlType"),
    ];
    for (input, parameter) in cases {
        let error = query(input).expect_err(input);
        assert_eq!(error.parameter, parameter, "input {input}: {error}");
    }
}

#[test]
fn json_body_fills_request() {
    let request = json(
        r#"{"method":"POST","host":"a.example.com","path":"/graphql",
            "headers":{"x-one":"1","x-many":["a","b"]},"query":"q=1",
            "clientAddr":"2001:db8::1","country":"FR",
            "graphql":{"operationName":"AddUser","operationType":"mutation"}}"#,
    )
    .expect("valid input");
    assert_eq!(request.method, Method::POST);
    assert_eq!(
        request.headers.get("x-one").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(request.headers.get_all("x-many").iter().count(), 2);
    assert_eq!(
        request.client_addr,
        "2001:db8::1".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(
        request.graphql,
        Some((Some("AddUser".to_owned()), GraphqlOperationType::Mutation))
    );
}

#[test]
fn json_errors_use_json_names() {
    let error = json(r#"{"host":"a","path":"/","clientAddr":"x"}"#).expect_err("bad ip");
    assert_eq!(error.parameter, "clientAddr");
    let error = json(r#"{"host":"a","path":"/","graphql":{"operationType":"read"}}"#)
        .expect_err("bad type");
    assert_eq!(error.parameter, "graphql.operationType");
}

#[test]
fn json_unknown_field_or_syntax_is_rejected() {
    let error = json(r#"{"host":"a","path":"/","hots":"b"}"#).expect_err("unknown field");
    assert_eq!(error.parameter, "body");
    assert!(error.message.contains("hots"), "{}", error.message);
    assert_eq!(json("{").expect_err("truncated").parameter, "body");
}

#[test]
fn graphql_type_alone_has_no_name() {
    let request = query("host=a&path=/&graphqlType=subscription").expect("valid input");
    assert_eq!(
        request.graphql,
        Some((None, GraphqlOperationType::Subscription))
    );
}

#[test]
fn flag_header_needs_colon() {
    let error = split_header("x-a 1", Source::Flags).expect_err("no colon");
    assert_eq!(error.parameter, "--header");
    let (name, value) = split_header("x-a:  spaced value ", Source::Flags).expect("valid");
    assert_eq!((name.as_str(), value.as_str()), ("x-a", "spaced value"));
}
