//! `portcullis explain` and `portcullis check`: compile the manifests
//! offline, without serving.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use portcullis_compiler::{Compiled, Diagnostic, FindingKind, ObjectRef, Outcome, compile};

use crate::cli::{CheckArgs, ExplainArgs};
use crate::config::PathNormalization;
use crate::explain::{ExplainInput, Param, Source, normalize_path};
use crate::sources::{flatten, name_duplicate_files, read_sources, resource_key};

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

/// Runs `portcullis check`: prints one line per resource, per finding and
/// per unresolved reference, then a summary line. Exits 1 when any
/// resource is rejected, 2 when the path cannot be read, and 0 otherwise,
/// also when only warnings were printed.
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
    let summary = summary_line(&compiled.diagnostics);
    if let Err(error) = writeln!(stdout, "{summary}") {
        return bad_input(&format!("failed to write the report: {error}"));
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
                lines.push(format!(
                    "rejected {resource} field={} reason={}: {}",
                    field_or_dash(&error.field),
                    error.reason,
                    error.message
                ));
            }
            if diagnostic.errors.is_empty() {
                lines.push(format!("rejected {resource}"));
            }
        }
    }
    for error in &diagnostic.unresolved_refs {
        lines.push(format!(
            "warning {resource} field={} reason={}: {}",
            field_or_dash(&error.field),
            error.reason,
            error.message
        ));
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

/// Returns the last `check` line: how many resources were read, accepted
/// and rejected, and how many references did not resolve. Zero counts of
/// rejections and warnings are left out so that a clean run never prints
/// the word "rejected".
pub fn summary_line(diagnostics: &[Diagnostic]) -> String {
    let total = diagnostics.len();
    let rejected = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.outcome == Outcome::Rejected)
        .count();
    let unresolved: usize = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.unresolved_refs.len())
        .sum();
    let mut line = format!("summary resources={total} accepted={}", total - rejected);
    if rejected > 0 {
        line.push_str(&format!(" rejected={rejected}"));
    }
    if unresolved > 0 {
        line.push_str(&format!(
            " unresolved_refs={unresolved}: each is listed above as a warning"
        ));
    }
    line
}

fn field_or_dash(field: &str) -> &str {
    if field.is_empty() { "-" } else { field }
}

/// Reads and compiles `path`, with the parse diagnostics merged in.
fn compile_path(path: &Path) -> Result<Compiled, String> {
    let sources = read_sources(path)
        .map_err(|error| format!("invalid --config: cannot read {}: {error}", path.display()))?;
    let origins: Vec<(ObjectRef, PathBuf)> = sources
        .iter()
        .flat_map(|source| {
            let path = &source.path;
            source
                .resources
                .iter()
                .map(move |resource| (resource_key(resource), path.clone()))
        })
        .collect();
    let (resources, mut parse_diagnostics) = flatten(sources);
    let mut compiled = compile(&resources);
    name_duplicate_files(&origins, &mut compiled.diagnostics);
    compiled.diagnostics.append(&mut parse_diagnostics);
    compiled.diagnostics.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(compiled)
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

#[cfg(test)]
#[path = "offline_tests.rs"]
mod tests;
