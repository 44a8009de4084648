//! Standalone mode: compiles manifests from a file or folder and recompiles on change.
