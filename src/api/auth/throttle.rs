//! Per-address limit on password checks that fail: after [`MAX_FAILURES`] within
//! [`WINDOW`], an address is answered 429 for that username without any check until its
//! window ends. Counting per (address, username) keeps one client behind a shared address
//! (NAT, a reverse proxy) from locking every other user of it out; the verification pool
//! still bounds what all checks together can cost.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failed (or still running) checks an address may have in one window.
pub(crate) const MAX_FAILURES: u32 = 10;
/// How long failures count.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Counts tracked at most; past it, expired windows are dropped, and if none has expired the
/// attempt counts against one shared overflow count (so a client rotating addresses, say
/// through a whole IPv6 /48, cannot get past the limit by filling the table).
const MAX_TRACKED: usize = 4096;
/// Longest username kept in a key (longer ones are cut; they are only compared).
const MAX_USERNAME: usize = 128;

/// Who an attempt counts against: an IPv4 address, or an IPv6 /64 (one host usually holds a
/// whole /64, so single IPv6 addresses would be free to rotate), with the username tried.
/// `None`: no address known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(Option<IpAddr>, String),
    Overflow,
}

fn key(addr: Option<IpAddr>, username: &str) -> Key {
    let addr = addr.map(|ip| match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        },
    });
    let end = username
        .char_indices()
        .nth(MAX_USERNAME)
        .map_or(username.len(), |(i, _)| i);
    Key::Client(addr, username[..end].to_owned())
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
    pub(crate) fn begin(
        &self,
        addr: Option<IpAddr>,
        username: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        let mut windows = self.windows.lock();
        let mut key = key(addr, username);
        if !windows.contains_key(&key) && windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
            if windows.len() >= MAX_TRACKED {
                key = Key::Overflow;
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
    pub(crate) fn succeeded(&self, addr: Option<IpAddr>, username: &str) {
        self.windows.lock().remove(&key(addr, username));
    }

    /// A check counted by [`Self::begin`] never ran (the pool was busy): it is not a failure.
    pub(crate) fn not_checked(&self, addr: Option<IpAddr>, username: &str) {
        if let Some(w) = self.windows.lock().get_mut(&key(addr, username)) {
            w.attempts = w.attempts.saturating_sub(1);
        }
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
            assert!(t.begin(a, "admin", now).is_ok());
        }
        let wait = t
            .begin(a, "admin", now + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(wait, WINDOW - Duration::from_secs(20));
        assert!(
            t.begin(b, "admin", now).is_ok(),
            "other addresses are not affected"
        );
        assert!(
            t.begin(a, "other", now).is_ok(),
            "other users of the address are not affected"
        );
        assert!(t.begin(a, "admin", now + WINDOW).is_ok(), "a new window");
        for _ in 1..MAX_FAILURES {
            assert!(t.begin(a, "admin", now + WINDOW).is_ok());
        }
        assert!(t.begin(a, "admin", now + WINDOW).is_err());
        t.not_checked(a, "admin");
        assert!(
            t.begin(a, "admin", now + WINDOW).is_ok(),
            "an unchecked attempt is given back"
        );
        assert!(t.begin(a, "admin", now + WINDOW).is_err());
        t.succeeded(a, "admin");
        assert!(
            t.begin(a, "admin", now + WINDOW).is_ok(),
            "a success forgives"
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES {
            let ip = format!("2001:db8::{i:x}").parse().unwrap();
            assert!(t.begin(Some(ip), "u", now).is_ok());
        }
        assert!(t
            .begin(Some("2001:db8::ffff".parse().unwrap()), "u", now)
            .is_err());
        assert!(t
            .begin(Some("2001:db8:0:1::1".parse().unwrap()), "u", now)
            .is_ok());
        for _ in 0..MAX_FAILURES {
            assert!(t
                .begin(Some("192.0.2.9".parse().unwrap()), "u", now)
                .is_ok());
        }
        assert!(t
            .begin(Some("::ffff:192.0.2.9".parse().unwrap()), "u", now)
            .is_err());
        for _ in 0..MAX_FAILURES {
            assert!(t.begin(None, "u", now).is_ok());
        }
        assert!(
            t.begin(None, "u", now).is_err(),
            "unknown addresses share one count"
        );
    }

    #[test]
    fn the_map_is_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_TRACKED as u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            assert!(t.begin(Some(ip.into()), "u", now).is_ok());
        }
        assert_eq!(t.tracked(), MAX_TRACKED);
        // A full table: every new address shares one overflow count.
        for i in 0..MAX_FAILURES {
            let ip = std::net::Ipv4Addr::from(0x0b00_0000 + i);
            assert!(t.begin(Some(ip.into()), "u", now).is_ok());
        }
        let fresh = std::net::Ipv4Addr::from(0x0c00_0000);
        assert!(
            t.begin(Some(fresh.into()), "u", now).is_err(),
            "rotating addresses past a full table is still limited"
        );
        // Once the old windows have expired, they make room.
        assert!(t
            .begin(Some("192.0.2.1".parse().unwrap()), "u", now + WINDOW)
            .is_ok());
        assert_eq!(t.tracked(), 1);
    }
}
