//! Unit tests of repositories.
