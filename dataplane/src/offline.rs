//! `portcullis explain` and `portcullis check`: compile the manifests
//! offline, without serving.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use portcullis_compiler::{Compiled, Diagnostic, FindingKind, Outcome, compile};

use crate::cli::{CheckArgs, ExplainArgs};
use crate::config::PathNormalization;
use crate::explain::{ExplainInput, Param, Source, normalize_path};
use crate::sources::{flatten, read_sources};

/// Exit code of `explain` when no route takes the request, and of `check`
/// when a resource is rejected.
const EXIT_NO_MATCH: u8 = 1;

/// Exit code for invalid input, as clap uses for invalid flags.
const EXIT_BAD_INPUT: u8 = 2;

/// Runs `portcullis explain`: prints the explanation JSON and exits 0 when
/// a route wins, 1 when none matches, 2 on invalid input.
pub fn explain(args: &ExplainArgs) -> ExitCode {
    let request = ExplainInput::from_flags(args).and_then(|input| input.validate(Source::Flags));
    let mut request = match request {
        Ok(request) => request,
        Err(error) => return bad_input(&error.to_string()),
    };
    match normalize_path(request.path(), PathNormalization::default()) {
        Ok(path) => request.set_path(path),
        Err(message) => {
            let flag = Param::Path.name(Source::Flags);
            return bad_input(&format!("invalid {flag}: {message}"));
        }
    }
    let compiled = match compile_path(&args.config) {
        Ok(compiled) => compiled,
        Err(message) => return bad_input(&message),
    };
    crate::reload::log_rejections(&compiled.diagnostics);

    let output = request.explain(&compiled.snapshot);
    let text = match serde_json::to_string_pretty(&output) {
        Ok(text) => text,
        Err(error) => return bad_input(&format!("failed to serialize the explanation: {error}")),
    };
    if let Err(error) = writeln!(std::io::stdout(), "{text}") {
        return bad_input(&format!("failed to write the explanation: {error}"));
    }
    if output.explanation.winner.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NO_MATCH)
    }
}

/// Runs `portcullis check`: prints one line per resource and per finding,
/// and exits 1 when any resource is rejected, 2 when the path cannot be
/// read.
pub fn check(args: &CheckArgs) -> ExitCode {
    let compiled = match compile_path(&args.config) {
        Ok(compiled) => compiled,
        Err(message) => return bad_input(&message),
    };
    let mut stdout = std::io::stdout().lock();
    for diagnostic in &compiled.diagnostics {
        for line in report_lines(diagnostic) {
            if let Err(error) = writeln!(stdout, "{line}") {
                return bad_input(&format!("failed to write the report: {error}"));
            }
        }
    }
    let rejected = compiled
        .diagnostics
        .iter()
        .any(|diagnostic| diagnostic.outcome == Outcome::Rejected);
    if rejected {
        ExitCode::from(EXIT_NO_MATCH)
    } else {
        ExitCode::SUCCESS
    }
}

/// Returns the `check` lines of one resource: its outcome, then one line
/// per field error or finding.
pub fn report_lines(diagnostic: &Diagnostic) -> Vec<String> {
    let resource = &diagnostic.object;
    let mut lines = Vec::new();
    match diagnostic.outcome {
        Outcome::Accepted => lines.push(format!("accepted {resource}")),
        Outcome::Rejected => {
            for error in &diagnostic.errors {
                let field = if error.field.is_empty() {
                    "-"
                } else {
                    &error.field
                };
                lines.push(format!(
                    "rejected {resource} field={field} reason={}: {}",
                    error.reason, error.message
                ));
            }
            if diagnostic.errors.is_empty() {
                lines.push(format!("rejected {resource}"));
            }
        }
    }
    for finding in &diagnostic.findings {
        let kind = match finding.kind {
            FindingKind::Shadowed => "shadowed",
            FindingKind::Duplicate => "duplicate",
        };
        lines.push(format!(
            "warning {resource} field={} {kind} by {} {}: {}",
            finding.field, finding.winner, finding.winner_field, finding.message
        ));
    }
    lines
}

/// Reads and compiles `path`, with the parse diagnostics merged in.
fn compile_path(path: &Path) -> Result<Compiled, String> {
    let sources = read_sources(path)
        .map_err(|error| format!("invalid --config: cannot read {}: {error}", path.display()))?;
    let (resources, mut parse_diagnostics) = flatten(sources);
    let mut compiled = compile(&resources);
    compiled.diagnostics.append(&mut parse_diagnostics);
    compiled.diagnostics.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(compiled)
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}
