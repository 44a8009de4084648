//! Checks a raw Route document against the Route CRD's OpenAPI schema.
//!
//! In a cluster the API server applies the schema and prunes unknown
//! fields silently. Standalone mode has no API server, so this module
//! applies the same structural schema, generated from the Rust types, and
//! rejects unknown fields with their path instead of dropping them. The
//! CEL rules (`x-kubernetes-validations`) are checked on the typed Route by
//! [`crate::validate`].

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::FieldError;

/// The `spec` schema of the served Route version, and its compiled string
/// patterns.
struct RouteSchema {
    spec: Value,
    patterns: FxHashMap<String, Regex>,
}

static SCHEMA: LazyLock<RouteSchema> = LazyLock::new(load_schema);

const TOP_LEVEL_FIELDS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

/// Checks a whole Route document: its top-level fields and its `spec`.
/// Returns every problem found, each with the path of the field.
pub(crate) fn check_route(document: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(object) = document.as_object() else {
        errors.push(FieldError::new(
            "",
            "InvalidType",
            "a Route document must be a mapping",
        ));
        return errors;
    };
    for key in object.keys() {
        if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
            errors.push(unknown_field(key));
        }
    }
    if document
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(FieldError::new(
            "metadata.name",
            "FieldRequired",
            "metadata.name is required; give the Route a name",
        ));
    }
    match object.get("spec") {
        Some(spec) => check(spec, &SCHEMA.spec, "spec", &mut errors),
        None => errors.push(FieldError::new(
            "spec",
            "FieldRequired",
            "spec is required; add it",
        )),
    }
    errors
}

fn load_schema() -> RouteSchema {
    let manifest = portcullis_crds::crd_manifests();
    let crd: Value = serde_yaml_ng::from_str(&manifest).expect("generated CRD YAML parses");
    let spec = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec")
        .cloned()
        .expect("generated CRD has a spec schema");
    let mut patterns = FxHashMap::default();
    collect_patterns(&spec, &mut patterns);
    RouteSchema { spec, patterns }
}

fn collect_patterns(schema: &Value, patterns: &mut FxHashMap<String, Regex>) {
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let regex = Regex::new(pattern).expect("CRD schema patterns are valid regexes");
        patterns.insert(pattern.to_owned(), regex);
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        properties
            .values()
            .for_each(|child| collect_patterns(child, patterns));
    }
    if let Some(items) = schema.get("items") {
        collect_patterns(items, patterns);
    }
}

fn check(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !schema
            .get("nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            errors.push(FieldError::new(
                path,
                "InvalidType",
                format!("{path} must not be null; set a value or remove it"),
            ));
        }
        return;
    }
    let expected = schema.get("type").and_then(Value::as_str).unwrap_or("");
    match (expected, value) {
        ("object", Value::Object(map)) => check_object(map, schema, path, errors),
        ("array", Value::Array(items)) => check_array(items, schema, path, errors),
        ("string", Value::String(text)) => check_string(text, schema, path, errors),
        ("integer", Value::Number(number)) if number.is_i64() || number.is_u64() => {
            check_integer(number, schema, path, errors)
        }
        ("boolean", Value::Bool(_)) | ("", _) => {}
        _ => errors.push(FieldError::new(
            path,
            "InvalidType",
            format!(
                "{path} must be of type {expected}, not {}",
                type_name(value)
            ),
        )),
    }
}

fn check_object(
    map: &Map<String, Value>,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (key, child) in map {
        let child_path = format!("{path}.{key}");
        match properties.get(key) {
            Some(child_schema) => check(child, child_schema, &child_path, errors),
            None => errors.push(unknown_field(&child_path)),
        }
    }
    let required = schema.get("required").and_then(Value::as_array);
    for key in required.into_iter().flatten().filter_map(Value::as_str) {
        if !map.contains_key(key) {
            errors.push(FieldError::new(
                format!("{path}.{key}"),
                "FieldRequired",
                format!("{path}.{key} is required; add it"),
            ));
        }
    }
}

fn check_array(items: &[Value], schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let count = items.len() as f64;
    if let Some(max) = schema
        .get("maxItems")
        .and_then(Value::as_f64)
        .filter(|max| count > *max)
    {
        errors.push(FieldError::new(
            path,
            "TooMany",
            format!("{path} has {count} items; at most {max} are allowed"),
        ));
    }
    if let Some(min) = schema
        .get("minItems")
        .and_then(Value::as_f64)
        .filter(|min| count < *min)
    {
        errors.push(FieldError::new(
            path,
            "TooFew",
            format!("{path} has {count} items; at least {min} are required"),
        ));
    }
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
        for (index, item) in items.iter().enumerate() {
            if items[..index].contains(item) {
                let field = format!("{path}[{index}]");
                errors.push(FieldError::new(
                    &field,
                    "Duplicate",
                    format!("{field} repeats an earlier value; remove it"),
                ));
            }
        }
    }
    if let Some(item_schema) = schema.get("items") {
        for (index, item) in items.iter().enumerate() {
            check(item, item_schema, &format!("{path}[{index}]"), errors);
        }
    }
}

fn check_string(text: &str, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    // Kubernetes counts string length in characters, not bytes.
    let length = text.chars().count() as f64;
    if let Some(max) = schema
        .get("maxLength")
        .and_then(Value::as_f64)
        .filter(|max| length > *max)
    {
        errors.push(FieldError::new(
            path,
            "TooLong",
            format!("{path} is {length} characters long; shorten it to at most {max}"),
        ));
    }
    if let Some(min) = schema
        .get("minLength")
        .and_then(Value::as_f64)
        .filter(|min| length < *min)
    {
        errors.push(FieldError::new(
            path,
            "TooShort",
            format!("{path} must be at least {min} characters long"),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let matches = SCHEMA
            .patterns
            .get(pattern)
            .is_some_and(|regex| regex.is_match(text));
        if !matches {
            errors.push(FieldError::new(
                path,
                "InvalidFormat",
                format!("{path} value {text:?} does not match the pattern {pattern}"),
            ));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.iter().any(|option| option.as_str() == Some(text))
    {
        let options: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        errors.push(FieldError::new(
            path,
            "NotSupported",
            format!(
                "{path} value {text:?} is not supported; use one of {}",
                options.join(", ")
            ),
        ));
    }
}

fn check_integer(
    number: &serde_json::Number,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let value = number.as_f64().unwrap_or_default();
    let below = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .filter(|min| value < *min);
    let above = schema
        .get("maximum")
        .and_then(Value::as_f64)
        .filter(|max| value > *max);
    if below.is_some() || above.is_some() {
        let min = schema.get("minimum").and_then(Value::as_f64);
        let max = schema.get("maximum").and_then(Value::as_f64);
        let range = format!("{} to {}", bound(min), bound(max));
        errors.push(FieldError::new(
            path,
            "OutOfRange",
            format!("{path} value {number} is out of range; use {range}"),
        ));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.iter().any(|option| option.as_f64() == Some(value))
    {
        let options: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(FieldError::new(
            path,
            "NotSupported",
            format!(
                "{path} value {number} is not supported; use one of {}",
                options.join(", ")
            ),
        ));
    }
}

fn bound(limit: Option<f64>) -> String {
    limit.map_or_else(|| "any".to_owned(), |limit| format!("{limit}"))
}

fn unknown_field(path: &str) -> FieldError {
    FieldError::new(
        path,
        "UnknownField",
        format!("{path} is not a field of the Route API; remove it or fix its spelling"),
    )
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(spec: Value) -> Vec<(String, String)> {
        let document = serde_json::json!({
            "apiVersion": "portcullis.io/v1alpha1",
            "kind": "Route",
            "metadata": {"name": "r"},
            "spec": spec,
        });
        check_route(&document)
            .into_iter()
            .map(|error| (error.field, error.reason))
            .collect()
    }

    #[test]
    fn schema_rejects_unknown_fields_with_path() {
        let errors = errors_of(serde_json::json!({
            "rules": [{"matches": [{"path": {"value": "/", "tpye": "Exact"}}], "backends": [{"endpoint": "a:1"}]}]
        }));
        assert_eq!(
            errors,
            [(
                "spec.rules[0].matches[0].path.tpye".to_owned(),
                "UnknownField".to_owned()
            )]
        );
    }

    #[test]
    fn schema_checks_ranges_lengths_and_enums() {
        let errors = errors_of(serde_json::json!({
            "priority": 5_000_000,
            "hostnames": ["bad host"],
            "rules": [{"matches": [{"methods": ["FETCH"]}], "backends": [{"endpoint": "a:1"}]}]
        }));
        let reasons: Vec<&str> = errors.iter().map(|(_, reason)| reason.as_str()).collect();
        assert!(reasons.contains(&"OutOfRange"), "{errors:?}");
        assert!(reasons.contains(&"InvalidFormat"), "{errors:?}");
        assert!(reasons.contains(&"NotSupported"), "{errors:?}");
    }

    #[test]
    fn schema_accepts_valid_spec() {
        let errors = errors_of(serde_json::json!({
            "hostnames": ["a.example.com", "*.example.org"],
            "rules": [{"backends": [{"name": "svc", "port": 80}]}]
        }));
        assert!(errors.is_empty(), "{errors:?}");
    }
}
