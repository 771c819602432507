//! Disk and state: file modes, junk URLs within the budget, damaged state files.
