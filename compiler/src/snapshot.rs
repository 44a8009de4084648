//! The immutable, versioned snapshot and the [`compile`] entry point.

use crate::{Diagnostic, Resource, RouteTable, ir::SnapshotIr};

/// One immutable configuration: the serializable form, its content version
/// and the route table built from it.
#[derive(Debug)]
pub struct Snapshot {
    ir: SnapshotIr,
    version: String,
    table: RouteTable,
}

/// The result of compiling a set of resources.
#[derive(Debug)]
pub struct Compiled {
    /// The snapshot of every accepted resource.
    pub snapshot: Snapshot,
    /// One diagnostic per input resource, sorted by kind, namespace, name.
    pub diagnostics: Vec<crate::Diagnostic>,
}

/// Compiles resources into a snapshot. The order of `resources` does not
/// matter: any order gives a byte-identical snapshot and version. A
/// rejected resource is left out and never blocks the others.
pub fn compile(resources: &[Resource]) -> Compiled {
    let _ = resources;
    todo!("compiler")
}

impl Snapshot {
    /// Rebuilds a snapshot from its serialized form, as a data plane does
    /// with a snapshot received from the operator.
    ///
    /// # Errors
    /// Returns the first pattern that fails to compile.
    pub fn from_ir(ir: SnapshotIr) -> Result<Self, String> {
        let _ = ir;
        todo!()
    }

    /// Content version: hex SHA-256 prefix of the canonical serialized form.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The serializable form.
    pub fn ir(&self) -> &SnapshotIr {
        &self.ir
    }

    /// The route table.
    pub fn table(&self) -> &RouteTable {
        &self.table
    }

    /// TLS certificates: PEM chain, PEM key and the hostnames they serve.
    pub fn certificates(&self) -> &[crate::ir::CertificateIr] {
        &self.ir.certificates
    }
}

#[allow(dead_code)]
fn unused(_: &Diagnostic) {}
