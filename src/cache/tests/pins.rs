//! Pins: pinned blobs survive fills that exceed the budget many times over and the start-up
//! trim; released ones are evicted like any other.

use super::*;

fn owner(n: u128) -> PinOwner {
    PinOwner::from_u128(n)
}

/// The pin set of these bodies: `(etag, size)` each.
fn pin_set(bodies: &[&[u8]]) -> PinFiles {
    bodies.iter().map(|b| (sha256(b), b.len() as u64)).collect()
}

#[tokio::test]
async fn pinned_objects_survive_a_budget_exceeded_twice_over_until_released() {
    let (_dir, cache) = open(1000);
    let (a, b) = (body(300, 1), body(300, 2));
    // Pinned before they are stored, as a sync does: they count once they land.
    cache.set_pins(owner(1), pin_set(&[&a, &b]));
    assert_eq!(cache.pinned_bytes(), 0);
    assert!(cache.is_pinned(&sha256(&a)));
    let (key_a, key_b) = (store(cache, &a).await, store(cache, &b).await);
    assert_eq!(cache.pinned_bytes(), 600);
    // 2000 bytes of other fills through a 1000-byte budget: only unpinned objects make room.
    for seed in 10..20 {
        store(cache, &body(200, seed)).await;
        let s = cache.stats();
        assert!(s.size_bytes <= 1000, "{s:?}");
    }
    let s = cache.stats();
    assert_eq!((s.objects, s.size_bytes, s.pinned_bytes), (4, 1000, 600));
    assert_eq!(s.evictions, 8);
    for (key, expected) in [(&key_a, &a), (&key_b, &b)] {
        let got = read_all(&mut hit(cache, key).await.expect("pinned object stored"))
            .await
            .unwrap();
        assert!(&got == expected);
    }
    // What only pinned objects could make room for is refused: streamed, not stored.
    let big = body(401, 30);
    let etag = sha256(&big);
    assert!(cache
        .get_miss_handler(&key_for_etag(&etag), &response(401, &etag), &span())
        .await
        .is_err());
    assert_eq!(cache.store_failures().get(StoreFailure::Budget), 1);
    assert!(cache.contains(&sha256(&a)) && cache.contains(&sha256(&b)));

    // Another holder shares b; releasing owner 1 frees only a.
    cache.set_pins(owner(2), pin_set(&[&b]));
    cache.release_pins(owner(1));
    assert_eq!(cache.pinned_bytes(), 300);
    assert!(!cache.is_pinned(&sha256(&a)) && cache.is_pinned(&sha256(&b)));
    for seed in 40..44 {
        store(cache, &body(175, seed)).await;
    }
    assert!(!cache.contains(&sha256(&a)), "a released pin is evicted");
    assert!(cache.contains(&sha256(&b)));
    // set_pins with fewer files releases the others.
    cache.set_pins(owner(2), Vec::new());
    assert_eq!(cache.pinned_bytes(), 0);
    store(cache, &body(1000, 50)).await;
    assert!(!cache.contains(&sha256(&b)));
}

#[tokio::test]
async fn pins_given_at_open_survive_the_start_up_trim() {
    let (dir, cache) = open(10_000);
    let bodies: Vec<Vec<u8>> = (0..4).map(|seed| body(1000, seed)).collect();
    for b in &bodies {
        store(cache, b).await;
    }
    // Reopened with half the budget: the two pinned objects stay, the others go.
    let pins = pin_set(&[&bodies[0], &bodies[1]]);
    let reopened = DiskCache::open_pinned(dir.path(), 2000, [(owner(7), pins)]).unwrap();
    assert_eq!(reopened.scan_report().evicted, 2);
    let etags: Vec<String> = bodies.iter().map(|b| sha256(b)).collect();
    assert!(reopened.contains(&etags[0]) && reopened.contains(&etags[1]));
    assert!(!reopened.contains(&etags[2]) && !reopened.contains(&etags[3]));
    assert_eq!(reopened.pinned_bytes(), 2000);
    // Pins alone fill the budget: nothing else is stored until they are released.
    let other = body(10, 9);
    let etag = sha256(&other);
    assert!(reopened
        .get_miss_handler(&key_for_etag(&etag), &response(10, &etag), &span())
        .await
        .is_err());
    reopened.release_pins(owner(7));
    store(reopened, &other).await;
    // Evictable again: one of them made room.
    let s = reopened.stats();
    assert_eq!((s.objects, s.size_bytes, s.pinned_bytes), (2, 1010, 0));
}

#[test]
fn check_pin_fits_counts_other_holders_and_shared_blobs_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1000).unwrap();
    let f = |etag: char, size: u64| (etag.to_string().repeat(40), size);
    cache.set_pins(owner(1), vec![f('a', 400), f('b', 200)]);
    // The holder's own current pins are replaced, not added to.
    assert_eq!(
        cache.check_pin_fits(owner(1), &[f('a', 400), f('c', 600)]),
        Ok(())
    );
    // Shared with owner 1: b is not counted again.
    assert_eq!(
        cache.check_pin_fits(owner(2), &[f('b', 200), f('c', 400)]),
        Ok(())
    );
    let err = cache
        .check_pin_fits(owner(2), &[f('b', 200), f('c', 401)])
        .unwrap_err();
    assert_eq!(
        err,
        PinTooLarge {
            pinned: 600,
            wanted: 401,
            budget: 1000
        }
    );
    assert!(
        err.to_string().contains("600 B already pinned") && err.to_string().contains("1000 B"),
        "{err}"
    );
}
