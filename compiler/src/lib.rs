//! Compiles Portcullis resources into one immutable, versioned snapshot.
//!
//! The operator and the data plane's standalone mode both call [`compile`],
//! so the same resources always give the same snapshot, byte for byte, and
//! the same version. A [`Snapshot`] carries the serializable form that is
//! hashed and sent to data planes, and the [`RouteTable`] built from it, in
//! which every regex, glob and template is already compiled.

mod build;
mod compile;
pub mod diagnostic;
mod digest;
mod entry;
pub mod explain;
pub mod grant;
pub mod graphql;
mod host;
pub mod ir;
pub mod manifest;
mod parallel;
mod pattern;
pub mod request;
mod resolve;
mod rule;
mod schema;
mod shadow;
pub mod snapshot;
pub mod table;
mod template;
mod trie;
mod validate;

pub use compile::kept_copy;
pub use diagnostic::{Diagnostic, FieldError, Finding, FindingKind, ObjectRef, Outcome};
pub use explain::{Candidate, CandidateOutcome, Explanation};
pub use manifest::{Resource, load_path, parse_documents};
pub use request::{Captures, GraphqlInfo, RequestView};
pub use snapshot::{Compiled, Snapshot, compile, compile_on};
pub use table::{Lookup, Matched, RouteTable, Template};
