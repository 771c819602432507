//! The budget's bookkeeping: LRU order, reservations, side files and pins.

use super::*;

/// The object name made of `c` (a hex digit) repeated.
fn o(c: char) -> String {
    c.to_string().repeat(32)
}

/// Victims by the digit their object name repeats.
fn names(victims: &[Victim]) -> Vec<&str> {
    victims.iter().map(|(n, _)| &n[..1]).collect()
}

#[test]
fn reservation_evicts_least_recently_used_first() {
    let mut b = Budget::new(100);
    assert!(b.insert(&o('a'), 30).is_empty());
    assert!(b.insert(&o('b'), 30).is_empty());
    assert!(b.insert(&o('c'), 30).is_empty());
    assert!(b.touch(&o('a')));
    // 90 used; 40 more needs 30 freed: "b" is now the oldest.
    assert_eq!(names(&b.reserve(40).unwrap()), ["b"]);
    assert_eq!((b.used, b.reserved), (60, 40));
    assert_eq!(names(&b.commit(&o('d'), 40, 40)), Vec::<&str>::new());
    assert_eq!(b.stats().size_bytes, 100);
    assert_eq!(b.stats().evictions, 1);
}

#[test]
fn refuses_what_cannot_fit_without_evicting() {
    let mut b = Budget::new(100);
    b.insert(&o('a'), 50);
    assert!(b.reserve(101).is_none());
    assert!(b.reserve(u64::MAX).is_none());
    assert!(b.contains(&o('a')), "a refusal evicts nothing");
    assert_eq!(names(&b.reserve(80).unwrap()), ["a"]);
    assert!(b.reserve(30).is_none(), "80 reserved by another fill");
    b.release(80);
    assert_eq!(b.stats().reserved_bytes, 0);
    assert!(!b.touch(&o('f')));
}

#[test]
fn insert_replaces_and_trims() {
    let mut b = Budget::new(10);
    b.insert(&o('a'), 4);
    b.insert(&o('a'), 6);
    assert_eq!(b.stats().size_bytes, 6);
    assert_eq!(names(&b.insert(&o('b'), 6)), ["a"]);
    assert_eq!(b.remove(&o('b')), Some(6));
    assert_eq!(
        b.stats(),
        CacheStats {
            max_size: 10,
            evictions: 1,
            ..CacheStats::default()
        }
    );
}

#[test]
fn side_files_share_the_budget_but_not_the_object_figures() {
    let mut b = Budget::new(100);
    b.insert(&o('a'), 60);
    b.insert("meta/ab/x.json", 30);
    let s = b.stats();
    assert_eq!(
        (s.size_bytes, s.objects, s.side_bytes, s.side_files),
        (60, 1, 30, 1)
    );
    assert_eq!(b.side_names(), ["meta/ab/x.json"]);
    // The object is the least recently used: it goes first, and is the only eviction counted.
    assert_eq!(names(&b.insert("meta/cd/y.json", 20)), ["a"]);
    assert_eq!(names(&b.reserve(60).unwrap()), ["m"]);
    let s = b.stats();
    assert_eq!(
        (s.size_bytes, s.side_bytes, s.side_files, s.evictions),
        (0, 20, 1, 1)
    );
}

#[test]
fn victims_skip_pinned_objects() {
    let mut b = Budget::new(100);
    b.insert(&o('a'), 30);
    b.insert(&o('b'), 30);
    b.insert(&o('c'), 30);
    b.pin(&o('a'));
    assert_eq!(b.stats().pinned_bytes, 30);
    // The oldest, "a", is pinned: "b" then "c" go instead.
    assert_eq!(names(&b.reserve(60).unwrap()), ["b", "c"]);
    assert!(b.contains(&o('a')));
    assert_eq!((b.used, b.reserved), (30, 60));
    // A hit on a pinned object keeps it pinned (and out of the LRU order).
    assert!(b.touch(&o('a')));
    assert_eq!(names(&b.commit(&o('d'), 60, 60)), Vec::<&str>::new());
    assert_eq!(names(&b.insert(&o('e'), 20)), ["d"]);
    assert!(b.contains(&o('a')));
}

#[test]
fn a_reservation_that_only_pinned_objects_could_make_room_for_is_refused() {
    let mut b = Budget::new(100);
    b.insert(&o('a'), 40);
    b.insert(&o('b'), 40);
    b.pin(&o('a'));
    b.pin(&o('b'));
    assert!(b.reserve(21).is_none(), "only 20 bytes are not pinned");
    assert_eq!(b.stats().reserved_bytes, 0);
    assert_eq!(names(&b.reserve(20).unwrap()), Vec::<&str>::new());
    assert!(
        b.reserve(1).is_none(),
        "pins and the reservation take it all"
    );
    b.release(20);
    // An unpinned object is still evicted to make room when it can be.
    b.insert(&o('c'), 20);
    assert_eq!(names(&b.reserve(20).unwrap()), ["c"]);
    assert!(b.contains(&o('a')) && b.contains(&o('b')));
}

#[test]
fn unpinned_objects_are_evictable_again_at_their_lru_position() {
    let mut b = Budget::new(100);
    b.insert(&o('a'), 25);
    b.insert(&o('b'), 25);
    b.insert(&o('c'), 25);
    b.pin(&o('a'));
    b.pin(&o('b'));
    // "b" is pinned by two holders: one release keeps it pinned.
    b.pin(&o('b'));
    assert!(b.unpin(&o('a')).is_empty());
    assert!(b.unpin(&o('b')).is_empty());
    assert!(b.is_pinned(&o('b')) && !b.is_pinned(&o('a')));
    // "a" is back as the least recently used, ahead of "c"; "b" is still pinned.
    assert_eq!(names(&b.reserve(75).unwrap()), ["a", "c"]);
    assert!(b.unpin(&o('b')).is_empty());
    assert_eq!(names(&b.reserve(25).unwrap()), ["b"]);
    // Unpinning what no one pins is a no-op.
    assert!(b.unpin(&o('f')).is_empty());
    assert_eq!(b.stats().pinned_bytes, 0);
}

#[test]
fn a_pin_on_a_name_not_stored_counts_when_it_lands() {
    let mut b = Budget::new(100);
    b.pin(&o('a'));
    assert_eq!(
        b.stats().pinned_bytes,
        0,
        "nothing stored yet: nothing reserved"
    );
    b.insert(&o('b'), 60);
    assert_eq!(names(&b.reserve(40).unwrap()), Vec::<&str>::new());
    b.commit(&o('a'), 40, 40);
    assert_eq!(b.stats().pinned_bytes, 40);
    assert_eq!(names(&b.insert(&o('c'), 60)), ["b"]);
    assert!(b.contains(&o('a')));
}

#[test]
fn pinned_bytes_stay_exact_across_insert_remove_and_replace() {
    let mut b = Budget::new(1000);
    b.pin(&o('a'));
    b.insert(&o('a'), 10);
    b.insert(&o('a'), 30); // replaced: counted once, at its new size
    b.insert(&o('b'), 50);
    b.pin(&o('b'));
    b.pin(&o('b'));
    assert_eq!(b.stats().pinned_bytes, 80);
    assert_eq!(b.remove(&o('a')), Some(30));
    assert_eq!(b.stats().pinned_bytes, 50);
    // Still pinned: it counts again if it comes back.
    b.insert(&o('a'), 30);
    assert_eq!(b.stats().pinned_bytes, 80);
    b.unpin(&o('b'));
    assert_eq!(b.stats().pinned_bytes, 80, "b has another holder");
    b.unpin(&o('b'));
    b.unpin(&o('a'));
    let s = b.stats();
    assert_eq!((s.pinned_bytes, s.size_bytes), (0, 80));
    // Back in the LRU order: both can be evicted, oldest first.
    assert_eq!(names(&b.reserve(1000).unwrap()), ["b", "a"]);
}

#[test]
fn unpinning_beyond_the_budget_evicts_back_within_it() {
    // Pins alone above the budget (as after `cache.max_size` shrank): nothing else fits, and
    // releasing them trims back to the budget.
    let mut b = Budget::new(50);
    b.pin(&o('a'));
    b.pin(&o('b'));
    b.insert(&o('a'), 40);
    b.insert(&o('b'), 40);
    assert_eq!(b.used, 80);
    assert!(b.reserve(1).is_none());
    assert_eq!(names(&b.insert(&o('c'), 5)), ["c"], "only itself to evict");
    assert_eq!(names(&b.unpin(&o('a'))), ["a"]);
    assert_eq!((b.used, b.stats().pinned_bytes), (40, 40));
}
