//! Unit tests of versions.
