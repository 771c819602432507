//! The Hugging Face Hub wire protocol as pure functions (no I/O): routes, header rules, JSON
//! scrubbing and content digests. See `docs/hub-protocol.md` for the wire behind each rule.
//!
//! * [`route`]: the hub path after `/pulp/content/<base_path>/` → [`HubRoute`] or a 4xx.
//! * [`headers`]: Xet stripping, `Link`/`Location` rewriting, error pass-through, file metadata.
//! * [`json`]: removal of `xetHash`/`xetEnabled` from API bodies.
//! * [`digest`]: incremental sha256 / git-blob-sha1 verification of file bodies.
//! * [`Etag`]: a Hub etag, normalised once; whether it is a verifiable digest.

pub mod digest;
mod etag;
pub mod headers;
pub mod json;
pub mod route;

pub use digest::{DigestError, Expected, Verifier};
pub use etag::Etag;
pub use headers::FileMeta;
pub use route::{is_commit, parse_hub_path, parse_hub_request, HubRoute, RepoType, RouteError};
