//! Strings with `{name}` variables, filled from path-template captures.

use crate::Captures;
use crate::pattern::is_identifier;

/// A string with `{name}` variables bound to path-template captures,
/// parsed at compile time.
///
/// `{{` and `}}` stand for literal braces. A brace that does not open a
/// `{name}` variable, as in a JSON body `{"ok":true}`, is literal too.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Template {
    parts: Vec<TemplatePart>,
}

#[derive(Clone, Debug, PartialEq)]
enum TemplatePart {
    Literal(Box<str>),
    Capture(usize),
}

impl Template {
    /// A template with no variables.
    pub fn literal(text: &str) -> Self {
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![TemplatePart::Literal(text.into())]
        };
        Self { parts }
    }

    /// Parses `text`, binding each `{name}` to its index in `variables`.
    /// `{{` and `}}` stand for literal braces.
    ///
    /// # Errors
    /// Returns the message for an unknown variable or an unclosed brace.
    pub fn parse(text: &str, variables: &[String]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(index) = rest.find(['{', '}']) {
            literal.push_str(&rest[..index]);
            let tail = &rest[index..];
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                literal.push_str(&tail[..1]);
                rest = after;
                continue;
            }
            match variable_at(tail, variables)? {
                Some((capture, after)) => {
                    flush(&mut literal, &mut parts);
                    parts.push(TemplatePart::Capture(capture));
                    rest = after;
                }
                None => {
                    literal.push_str(&tail[..1]);
                    rest = &tail[1..];
                }
            }
        }
        literal.push_str(rest);
        flush(&mut literal, &mut parts);
        Ok(Self { parts })
    }

    /// Whether the template has no variables, so `render` returns it as is.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|part| matches!(part, TemplatePart::Literal(_)))
    }

    /// Appends the rendered template to `out`.
    pub fn render_into(&self, captures: &Captures, path: &str, out: &mut String) {
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Capture(index) => {
                    out.push_str(captures.get(*index, path).unwrap_or_default())
                }
            }
        }
    }

    /// Returns the text of the literal parts, which is the whole template
    /// when it has no variables.
    pub(crate) fn literal_text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if let TemplatePart::Literal(text) = part {
                out.push_str(text);
            }
        }
        out
    }
}

/// Reads a `{name}` variable at the start of `tail`. Returns `None` when the
/// brace does not open a variable, so it is literal text.
fn variable_at<'t>(
    tail: &'t str,
    variables: &[String],
) -> Result<Option<(usize, &'t str)>, String> {
    if !tail.starts_with('{') {
        return Ok(None);
    }
    let body = &tail[1..];
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    if !is_identifier(name) {
        return Ok(None);
    }
    let after = &body[name_len..];
    if after.is_empty() {
        return Err(format!("variable {{{name} is not closed; add '}}'"));
    }
    let Some(after) = after.strip_prefix('}') else {
        return Ok(None);
    };
    match variables.iter().position(|known| known == name) {
        Some(index) => Ok(Some((index, after))),
        None if variables.is_empty() => Err(format!(
            "variable {{{name}}} is not bound: no Template path match of this rule defines it; \
             write {{{{{name}}}}} for literal braces"
        )),
        None => Err(format!(
            "variable {{{name}}} is not bound by every match of this rule; use one of {}",
            variables
                .iter()
                .map(|v| format!("{{{v}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn flush(literal: &mut String, parts: &mut Vec<TemplatePart>) {
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(std::mem::take(literal).into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &Template, spans: &[(usize, usize)], path: &str) -> String {
        let mut captures = Captures::default();
        for &(start, end) in spans {
            captures.push(start, end);
        }
        let mut out = String::new();
        template.render_into(&captures, path, &mut out);
        out
    }

    #[test]
    fn template_binds_variables_by_name() {
        let variables = vec!["id".to_owned(), "order".to_owned()];
        let template = Template::parse("/o/{order}/u/{id}", &variables).expect("parses");
        assert!(!template.is_literal());
        assert_eq!(
            render(&template, &[(3, 5), (13, 15)], "/u/42/orders/77"),
            "/o/77/u/42"
        );
    }

    #[test]
    fn template_keeps_literal_braces() {
        let template = Template::parse(r#"{"ok":true} {{id}}"#, &[]).expect("parses");
        assert!(template.is_literal());
        assert_eq!(render(&template, &[], "/"), r#"{"ok":true} {id}"#);
    }

    #[test]
    fn template_rejects_unknown_and_unclosed() {
        let variables = vec!["id".to_owned()];
        assert!(Template::parse("/x/{other}", &variables).is_err());
        assert!(Template::parse("/x/{id", &variables).is_err());
        assert!(Template::parse("/x/{id}", &[]).is_err());
    }
}
