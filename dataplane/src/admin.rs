//! The admin listener: health, readiness, configuration and explain.
