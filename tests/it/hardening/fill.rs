//! Shared fills: a slow reader never paces a fill; a full disk still serves downloads.
