//! Checks of header names and values that a rule sets on requests or
//! responses.

use portcullis_crds::route::HeaderValue;

use super::{Errors, FieldPath};
use crate::Template;

/// Headers that frame the message or apply to one connection only. The
/// gateway writes them itself, so a configured value would contradict the
/// body it sends: a `content-length` in a direct response, for example,
/// desynchronizes a keep-alive connection.
const FRAMING_HEADERS: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// The message whose headers a list sets, which decides whether `host` may
/// be set. A request Host carries routing data, but a response has no Host.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Request,
    Response,
}

/// Checks each header of a set or add list: a valid name that the gateway
/// does not own, and a value template that uses only `variables`.
pub(super) fn check_header_values(
    headers: &[HeaderValue],
    side: Side,
    field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    for (index, header) in headers.iter().enumerate() {
        let entry = field.item(index);
        check_header_name(&header.name, side, &entry.child("name"), errors);
        match Template::parse(&header.value, variables) {
            Err(message) => errors.push(entry.child("value"), "InvalidTemplate", message),
            Ok(template) => {
                if http::HeaderValue::from_str(&template.literal_text()).is_err() {
                    errors.push(entry.child("value"), "InvalidHeaderValue", "header value holds characters not allowed in HTTP headers, such as control characters");
                }
            }
        }
    }
}

fn check_header_name(name: &str, side: Side, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        errors.push(
            field,
            "InvalidHeaderName",
            format!("{name:?} is not a valid HTTP header name"),
        );
        return;
    }
    let lower = name.to_ascii_lowercase();
    let framing = FRAMING_HEADERS.contains(&lower.as_str());
    if framing || (side == Side::Response && lower == "host") {
        errors.push(
            field,
            "InvalidHeader",
            format!(
                "header {name:?} cannot be set because the gateway sets framing and \
                 connection headers itself; remove the header"
            ),
        );
    }
}
