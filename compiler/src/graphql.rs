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

/// Parses a JSON body `{"query": ..., "operationName": ...}` and selects the
/// operation: the one named by `operationName`, or the only operation in
/// the document. Returns `None` when the body is not such JSON, the document
/// cannot be read, or no single operation is selected.
pub fn parse_body(body: &[u8]) -> Option<ParsedBody> {
    let _ = body;
    todo!("GraphQL body parsing")
}
