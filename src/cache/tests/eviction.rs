//! The budget: reservations that evict the least recently used objects or are refused, and
//! small objects in memory that go with their eviction.

use super::*;

#[tokio::test]
async fn reservations_evict_least_recently_used_and_refuse_what_cannot_fit() {
    let (dir, cache) = open(100);
    let (a, b) = (body(40, 7), body(40, 8));
    let key_a = store(cache, &a).await;
    let key_b = store(cache, &b).await;
    assert!(
        hit(cache, &key_a).await.is_some(),
        "a is now more recent than b"
    );
    let c = body(40, 9);
    let (key_c, mut miss) = start(cache, &c).await;
    assert_eq!(
        (cache.stats().reserved_bytes, cache.stats().evictions),
        (40, 1)
    );
    assert!(
        hit(cache, &key_b).await.is_none(),
        "b evicted when c reserved its room"
    );
    assert!(!cache.contains(&sha256(&b)));
    // 80 of 100 bytes taken (a + reservation of c): a 30-byte fill can only evict a.
    let d = body(30, 10);
    let (key_d, miss_d) = start(cache, &d).await;
    assert!(hit(cache, &key_a).await.is_none());
    // Every object is gone but c's and d's reservations fill the budget: refused.
    let e = body(40, 11);
    let etag_e = sha256(&e);
    assert!(cache
        .get_miss_handler(&key_for_etag(&etag_e), &response(40, &etag_e), &span())
        .await
        .is_err());
    drop(miss_d);
    assert!(hit(cache, &key_d).await.is_none());
    miss.write_body(Bytes::from(c.clone()), true).await.unwrap();
    miss.finish().await.unwrap();
    assert!(
        read_all(&mut hit(cache, &key_c).await.unwrap())
            .await
            .unwrap()
            == c
    );
    let stats = cache.stats();
    assert_eq!(
        (
            stats.objects,
            stats.size_bytes,
            stats.reserved_bytes,
            stats.evictions
        ),
        (1, 40, 0, 2)
    );
    // Larger than the whole budget: refused, nothing evicted.
    let huge = body(101, 12);
    let etag = sha256(&huge);
    assert!(cache
        .get_miss_handler(&key_for_etag(&etag), &response(101, &etag), &span())
        .await
        .is_err());
    assert!(cache.contains(&sha256(&c)));
    let objects = walk_objects(&dir);
    assert_eq!(objects, 1, "the disk holds what the index says");
}

fn walk_objects(dir: &TempDir) -> usize {
    let mut n = 0;
    for aa in fs_err::read_dir(dir.path().join("v1/objects")).unwrap() {
        for bb in fs_err::read_dir(aa.unwrap().path()).unwrap() {
            n += fs_err::read_dir(bb.unwrap().path()).unwrap().count();
        }
    }
    n
}

/// Small objects are served from memory after their first hit, but only while indexed: an
/// evicted one is a miss, never a memory hit.
#[tokio::test]
async fn a_small_object_in_memory_is_dropped_with_its_eviction() {
    let (_dir, cache) = open(3000);
    let a = body(1000, 1);
    let key_a = store(cache, &a).await;
    assert!(
        cache.memory_hit(&sha256(&a)).is_none(),
        "in memory only after a first hit"
    );
    for _ in 0..2 {
        let (_, mut hit) = cache
            .lookup(&key_a, &span())
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(
            hit.read_body().await.unwrap().unwrap(),
            Bytes::from(a.clone())
        );
    }
    let hit = cache.memory_hit(&sha256(&a)).expect("held in memory");
    assert_eq!(hit.body, Bytes::from(a.clone()));
    // Two more objects of 1000 bytes push `a`, the least recently used, out of the budget.
    store(cache, &body(1000, 2)).await;
    store(cache, &body(1000, 3)).await;
    store(cache, &body(1000, 4)).await;
    assert!(
        cache.memory_hit(&sha256(&a)).is_none(),
        "an evicted object was answered from memory"
    );
    assert!(
        cache.lookup(&key_a, &span()).await.unwrap().is_none(),
        "an evicted object was served from memory"
    );
}
