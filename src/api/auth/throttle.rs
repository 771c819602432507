//! Per-address limit on password checks that fail: after [`MAX_FAILURES`] within
//! [`WINDOW`], an address is answered 429 without any check until its window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failed (or still running) checks an address may have in one window.
pub(crate) const MAX_FAILURES: u32 = 10;
/// How long failures count.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it, expired windows are dropped, and if none has expired a
/// new address goes untracked (the verification pool still bounds what it can cost).
const MAX_TRACKED: usize = 4096;

/// Who an attempt counts against: an IPv4 address, or an IPv6 /64 (one host usually holds a
/// whole /64, so single IPv6 addresses would be free to rotate). `None`: no address known.
type Key = Option<IpAddr>;

fn key(addr: Option<IpAddr>) -> Key {
    addr.map(|ip| match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        },
    })
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

/// The failure counts, in memory only.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    windows: Mutex<HashMap<Key, Window>>,
}

impl Throttle {
    /// Records the start of a check for `addr`; `Err(wait)` when the address has used up its
    /// window (no check may run). Counting before the check, not after, keeps concurrent
    /// attempts from all slipping in before the first one fails.
    pub(crate) fn begin(&self, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut windows = self.windows.lock();
        let key = key(addr);
        if !windows.contains_key(&key) && windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
            if windows.len() >= MAX_TRACKED {
                return Ok(());
            }
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            attempts: 0,
        });
        let elapsed = now.duration_since(window.started);
        if elapsed >= WINDOW {
            *window = Window {
                started: now,
                attempts: 0,
            };
        } else if window.attempts >= MAX_FAILURES {
            return Err(WINDOW - elapsed);
        }
        window.attempts += 1;
        Ok(())
    }

    /// A check from `addr` succeeded: its failures are forgiven.
    pub(crate) fn succeeded(&self, addr: Option<IpAddr>) {
        self.windows.lock().remove(&key(addr));
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.windows.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_stopped_after_its_failures_until_the_window_ends() {
        let t = Throttle::default();
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(t.begin(a, now).is_ok());
        }
        let wait = t.begin(a, now + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, WINDOW - Duration::from_secs(20));
        assert!(t.begin(b, now).is_ok(), "other addresses are not affected");
        assert!(t.begin(a, now + WINDOW).is_ok(), "a new window");
        for _ in 1..MAX_FAILURES {
            assert!(t.begin(a, now + WINDOW).is_ok());
        }
        assert!(t.begin(a, now + WINDOW).is_err());
        t.succeeded(a);
        assert!(t.begin(a, now + WINDOW).is_ok(), "a success forgives");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES {
            let ip = format!("2001:db8::{i:x}").parse().unwrap();
            assert!(t.begin(Some(ip), now).is_ok());
        }
        assert!(t
            .begin(Some("2001:db8::ffff".parse().unwrap()), now)
            .is_err());
        assert!(t
            .begin(Some("2001:db8:0:1::1".parse().unwrap()), now)
            .is_ok());
        for _ in 0..MAX_FAILURES {
            assert!(t.begin(Some("192.0.2.9".parse().unwrap()), now).is_ok());
        }
        assert!(t
            .begin(Some("::ffff:192.0.2.9".parse().unwrap()), now)
            .is_err());
        for _ in 0..MAX_FAILURES {
            assert!(t.begin(None, now).is_ok());
        }
        assert!(
            t.begin(None, now).is_err(),
            "unknown addresses share one count"
        );
    }

    #[test]
    fn the_map_is_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_TRACKED as u32 + 10 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            assert!(t.begin(Some(ip.into()), now).is_ok());
        }
        assert_eq!(t.tracked(), MAX_TRACKED);
        // Once the old windows have expired, they make room.
        assert!(t
            .begin(Some("192.0.2.1".parse().unwrap()), now + WINDOW)
            .is_ok());
        assert_eq!(t.tracked(), 1);
    }
}
