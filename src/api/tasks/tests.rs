//! Tasks through the API: writes that answer 202, the task list and its filters, cancel,
//! delete, purge.
