//! The immutable, versioned snapshot and the [`compile`] entry point.

use crate::pattern::PatternCache;

use crate::{Resource, RouteTable, ir::SnapshotIr};

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
///
/// Schema constraints (lengths, patterns, ranges, unknown fields) are
/// checked on the raw document by [`crate::parse_documents`], or by the API
/// server in a cluster. This function checks the CEL rules and everything a
/// schema cannot express.
pub fn compile(resources: &[Resource]) -> Compiled {
    compile_on(resources, crate::parallel::default_threads())
}

/// Compiles like [`compile`] on at most `threads` threads; 1 compiles on
/// the calling thread alone. The result does not depend on `threads`.
pub fn compile_on(resources: &[Resource], threads: usize) -> Compiled {
    let pass = crate::compile::run(resources, threads);
    let (ir, patterns, mut diagnostics) = (pass.ir, pass.patterns, pass.diagnostics);
    let (version, table) = crate::parallel::join_two(
        threads,
        || version_of(&ir),
        || {
            // Validation compiled every pattern of the accepted Routes.
            let (table, _) = crate::build::build_table(&ir, &patterns, threads);
            crate::shadow::attach_findings(&table, &mut diagnostics, threads);
            table
        },
    );
    diagnostics.sort_by(|a, b| a.object.cmp(&b.object));
    Compiled {
        snapshot: Snapshot { ir, version, table },
        diagnostics,
    }
}

/// Hex of the first 16 bytes of the SHA-256 of the IR's canonical binary
/// encoding (see [`crate::digest`]).
fn version_of(ir: &SnapshotIr) -> String {
    let hash = crate::digest::sha256_of(ir).expect("IR types serialize without errors");
    hex::encode(&hash[..16])
}

impl Snapshot {
    /// Rebuilds a snapshot from its serialized form, as a data plane does
    /// with a snapshot received from the operator.
    ///
    /// # Errors
    /// Returns the first pattern that fails to compile.
    pub fn from_ir(ir: SnapshotIr) -> Result<Self, String> {
        let threads = crate::parallel::default_threads();
        let (version, (table, problems)) = crate::parallel::join_two(
            threads,
            || version_of(&ir),
            || {
                let mut patterns = PatternCache::default();
                patterns.prepare(&ir.routes);
                crate::build::build_table(&ir, &patterns, threads)
            },
        );
        if let Some(problem) = problems.into_iter().next() {
            return Err(problem);
        }
        Ok(Self { ir, version, table })
    }

    /// An empty snapshot: no routes, no certificates.
    pub fn empty() -> Self {
        let ir = SnapshotIr::default();
        let version = version_of(&ir);
        Self {
            ir,
            version,
            table: RouteTable::default(),
        }
    }

    /// Content version: hex prefix of the SHA-256 of a canonical binary
    /// encoding of the IR.
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
