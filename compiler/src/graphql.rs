//! Selects the GraphQL operation of a JSON request body.

use portcullis_crds::route::GraphqlOperationType;

/// The operation a GraphQL request asks to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation<'a> {
    /// Operation name; `None` for an anonymous operation.
    pub name: Option<&'a str>,
    /// Operation type.
    pub kind: GraphqlOperationType,
}

/// A parsed GraphQL request body, owning the strings an [`Operation`]
/// borrows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedBody {
    /// Selected operation name.
    pub name: Option<String>,
    /// Selected operation type.
    pub kind: GraphqlOperationType,
}

impl ParsedBody {
    /// Borrows the operation.
    pub fn operation(&self) -> Operation<'_> {
        Operation {
            name: self.name.as_deref(),
            kind: self.kind,
        }
    }
}

/// The fields of a GraphQL-over-HTTP JSON body that select the operation.
#[derive(serde::Deserialize)]
struct Body {
    query: String,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

/// Parses a JSON body `{"query": ..., "operationName": ...}` and selects the
/// operation: the one named by `operationName`, or the only operation in
/// the document. Returns `None` when the body is not such JSON, the document
/// cannot be read, or no single operation is selected.
pub fn parse_body(body: &[u8]) -> Option<ParsedBody> {
    let body: Body = serde_json::from_slice(body).ok()?;
    let operations = list_operations(&body.query)?;
    let wanted = body
        .operation_name
        .as_deref()
        .filter(|name| !name.is_empty());
    let selected = match wanted {
        Some(wanted) => operations.iter().find(|op| op.name == Some(wanted))?,
        None if operations.len() == 1 => &operations[0],
        None => return None,
    };
    Some(ParsedBody {
        name: selected.name.map(str::to_owned),
        kind: selected.kind,
    })
}

/// Where the lexer is relative to definitions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between definitions, where a keyword or `{` starts one.
    Top,
    /// After an operation keyword, where a name may follow.
    AfterKeyword,
    /// Inside a definition's header (variables, directives), before `{`.
    Header,
}

/// Lists the operation definitions of a GraphQL document, skipping
/// fragments, strings and comments. Returns `None` for a document whose
/// strings or braces are not closed.
fn list_operations(document: &str) -> Option<Vec<Operation<'_>>> {
    let bytes = document.as_bytes();
    let mut operations = Vec::new();
    let (mut depth, mut parens, mut index) = (0usize, 0usize, 0usize);
    let mut state = State::Top;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'#' => index = skip_comment(bytes, index),
            b'"' => index = skip_string(bytes, index)?,
            b'{' => {
                if depth == 0 && state == State::Top {
                    operations.push(Operation {
                        name: None,
                        kind: GraphqlOperationType::Query,
                    });
                }
                if state == State::AfterKeyword || state == State::Header {
                    state = State::Top;
                }
                depth += 1;
                index += 1;
            }
            b'}' => {
                depth = depth.checked_sub(1)?;
                index += 1;
            }
            b'(' => {
                parens += 1;
                index += 1;
            }
            b')' => {
                parens = parens.checked_sub(1)?;
                index += 1;
            }
            b'@' | b'$' => index = skip_name(bytes, index + 1),
            _ if is_name_start(byte) => {
                let end = skip_name(bytes, index);
                let word = &document[index..end];
                if depth == 0 && parens == 0 {
                    state = top_level_word(word, state, &mut operations);
                }
                index = end;
            }
            _ => {
                if state == State::AfterKeyword && !byte.is_ascii_whitespace() && byte != b',' {
                    state = State::Header;
                }
                index += 1;
            }
        }
    }
    (depth == 0 && parens == 0).then_some(operations)
}

/// Handles a name at the top level of the document.
fn top_level_word<'d>(word: &'d str, state: State, operations: &mut Vec<Operation<'d>>) -> State {
    match state {
        State::Top => {
            let kind = match word {
                "query" => GraphqlOperationType::Query,
                "mutation" => GraphqlOperationType::Mutation,
                "subscription" => GraphqlOperationType::Subscription,
                // A fragment's header is skipped like an operation's.
                _ => return State::Header,
            };
            operations.push(Operation { name: None, kind });
            State::AfterKeyword
        }
        State::AfterKeyword => {
            if let Some(last) = operations.last_mut() {
                last.name = Some(word);
            }
            State::Header
        }
        State::Header => State::Header,
    }
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn skip_name(bytes: &[u8], mut index: usize) -> usize {
    while index < bytes.len() && (bytes[index].is_ascii_alphanumeric() || bytes[index] == b'_') {
        index += 1;
    }
    index
}

fn skip_comment(bytes: &[u8], mut index: usize) -> usize {
    while index < bytes.len() && bytes[index] != b'\n' && bytes[index] != b'\r' {
        index += 1;
    }
    index
}

/// Skips a string or block string starting at `index`; `None` when it is
/// not closed.
fn skip_string(bytes: &[u8], index: usize) -> Option<usize> {
    if bytes[index..].starts_with(b"\"\"\"") {
        let mut at = index + 3;
        while at < bytes.len() {
            if bytes[at..].starts_with(b"\\\"\"\"") {
                at += 4;
            } else if bytes[at..].starts_with(b"\"\"\"") {
                return Some(at + 3);
            } else {
                at += 1;
            }
        }
        return None;
    }
    let mut at = index + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            b'\n' | b'\r' => return None,
            _ => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, name: Option<&str>) -> Option<(Option<String>, GraphqlOperationType)> {
        let body = serde_json::json!({"query": query, "operationName": name});
        parse_body(body.to_string().as_bytes()).map(|parsed| (parsed.name, parsed.kind))
    }

    #[test]
    fn shorthand_is_anonymous_query() {
        assert_eq!(
            parse("{ me { id } }", None),
            Some((None, GraphqlOperationType::Query))
        );
    }

    #[test]
    fn named_operation_selected_by_name() {
        let document = "query A { a } mutation B($x: Int = 1) @live { b(x: $x) { c } }";
        assert_eq!(
            parse(document, Some("B")),
            Some((Some("B".into()), GraphqlOperationType::Mutation))
        );
        assert_eq!(
            parse(document, Some("A")),
            Some((Some("A".into()), GraphqlOperationType::Query))
        );
        assert_eq!(parse(document, None), None);
        assert_eq!(parse(document, Some("C")), None);
    }

    #[test]
    fn fragments_strings_and_comments_are_skipped() {
        let document = r#"
            # query Fake { x }
            fragment F on query { id }
            subscription Watch { s(arg: "mutation X { }", doc: """ query Y { } """) { ...F } }
        "#;
        assert_eq!(
            parse(document, None),
            Some((Some("Watch".into()), GraphqlOperationType::Subscription))
        );
    }

    #[test]
    fn invalid_bodies_give_none() {
        assert_eq!(parse_body(b"not json"), None);
        assert_eq!(parse_body(br#"{"operationName":"A"}"#), None);
        assert_eq!(parse("query A { a ", None), None);
        assert_eq!(parse("query A { a(x: \"open) }", None), None);
    }
}
