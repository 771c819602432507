//! Fills driven the way pingora drives them: complete round trips, readers joining a fill in
//! flight, fills that fail, and responses refused before any fill starts.

use super::*;

#[tokio::test]
async fn complete_round_trip() {
    let (dir, cache) = open(1 << 30);
    let data = body(3 * 1024 * 1024 + 17, 1);
    let key = store(cache, &data).await;
    let (meta, mut hit) = cache.lookup(&key, &span()).await.unwrap().unwrap();
    assert_eq!(
        meta.response_header().headers["content-length"],
        data.len().to_string().as_str()
    );
    assert!(meta.is_fresh(std::time::SystemTime::now() + Duration::from_secs(86400 * 365)));
    assert_eq!(hit.get_eviction_weight(), data.len());
    assert!(hit.can_seek());
    assert!(read_all(&mut hit).await.unwrap() == data);
    assert!(cache.contains(&format!("W/\"{}\"", sha256(&data))));
    let stats = cache.stats();
    assert_eq!(
        (
            stats.objects,
            stats.size_bytes,
            stats.reserved_bytes,
            stats.fills_in_flight
        ),
        (1, data.len() as u64, 0, 0)
    );
    let object = dir
        .path()
        .join("v1/objects")
        .join(&key.combined()[0..2])
        .join(&key.combined()[2..4])
        .join(key.combined());
    assert_eq!(
        fs_err::metadata(object.join(BODY)).unwrap().len(),
        data.len() as u64
    );
    assert!(object.join(META).is_file());
    assert_eq!(tmp_entries(&dir), 0);
}

#[tokio::test]
async fn partial_reader_streams_and_gets_the_last_byte_only_after_finish() {
    let (_dir, cache) = open(1 << 30);
    let data = body(2 * 1024 * 1024 + 100, 2);
    let (key, mut miss) = start(cache, &data).await;
    let tag = miss.streaming_write_tag().unwrap().to_vec();
    let (_, mut own) = cache
        .lookup_streaming_write(&key, Some(&tag), &span())
        .await
        .unwrap()
        .unwrap();
    let mut joined = hit(cache, &key)
        .await
        .expect("lookup joins the fill in flight");
    assert!(is_waiting(&mut own).await, "nothing written yet");

    miss.write_body(Bytes::copy_from_slice(&data[..1024 * 1024 + 10]), false)
        .await
        .unwrap();
    let mut got = own.read_body().await.unwrap().unwrap().to_vec();
    assert!(!got.is_empty());
    miss.write_body(Bytes::copy_from_slice(&data[1024 * 1024 + 10..]), true)
        .await
        .unwrap();
    // Everything is on disk, but the last byte is held back until the fill is verified.
    while got.len() < data.len() - 1 {
        got.extend_from_slice(&own.read_body().await.unwrap().unwrap());
    }
    assert!(is_waiting(&mut own).await, "last byte must wait for finish");
    assert!(
        is_waiting(&mut own).await,
        "a dropped read_body changes nothing"
    );
    assert_eq!(
        cache.fill_progress(&sha256(&data)).map(|p| p.written),
        Some(data.len() as u64)
    );

    miss.finish().await.unwrap();
    got.extend_from_slice(&own.read_body().await.unwrap().unwrap());
    assert!(own.read_body().await.unwrap().is_none());
    assert!(got == data);
    assert!(read_all(&mut joined).await.unwrap() == data);
    assert_eq!(cache.stats().fills_in_flight, 0);
}

#[tokio::test]
async fn concurrent_lookups_join_one_fill_and_read_identical_bytes() {
    let (_dir, cache) = open(1 << 30);
    let data = body(1500 * 1024, 3);
    let (key, mut miss) = start(cache, &data).await;
    let mut readers = Vec::new();
    for _ in 0..32 {
        let mut hit = hit(cache, &key).await.expect("joined");
        readers.push(tokio::spawn(
            async move { read_all(&mut hit).await.unwrap() },
        ));
    }
    assert_eq!(cache.stats().fills_in_flight, 1);
    for chunk in data.chunks(300 * 1024) {
        miss.write_body(Bytes::copy_from_slice(chunk), false)
            .await
            .unwrap();
    }
    miss.write_body(Bytes::new(), true).await.unwrap();
    miss.finish().await.unwrap();
    for reader in readers {
        assert!(reader.await.unwrap() == data);
    }
}

/// How a fill goes wrong in `failed_fills_*`.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Dropped,
    DigestMismatch,
    Short,
    Long,
}

async fn fail_a_fill(how: Failure) {
    let (dir, cache) = open(1 << 30);
    let data = body(1024 * 1024 + 5, 4);
    let (key, mut miss) = start(cache, &data).await;
    let mut reader = hit(cache, &key).await.unwrap();
    let waiting = {
        let mut early = hit(cache, &key).await.unwrap();
        tokio::spawn(async move { read_all(&mut early).await })
    };
    let finish = match how {
        Failure::Dropped => {
            miss.write_body(Bytes::copy_from_slice(&data[..1024 * 1024]), false)
                .await
                .unwrap();
            drop(miss);
            None
        }
        Failure::DigestMismatch => {
            let mut bad = data.clone();
            bad[7] ^= 1;
            miss.write_body(Bytes::from(bad), true).await.unwrap();
            Some(miss.finish().await)
        }
        Failure::Short => {
            miss.write_body(Bytes::copy_from_slice(&data[..data.len() - 1]), true)
                .await
                .unwrap();
            Some(miss.finish().await)
        }
        Failure::Long => {
            let mut long = data.clone();
            long.push(0);
            Some(
                miss.write_body(Bytes::from(long), true)
                    .await
                    .map(|()| MissFinishType::Created(0)),
            )
        }
    };
    assert!(
        finish.is_none_or(|r| r.is_err()),
        "{how:?}: the fill must fail"
    );
    let deadline = Duration::from_secs(5);
    let joined = tokio::time::timeout(deadline, read_all(&mut reader)).await;
    assert!(
        matches!(joined, Ok(Err(_))),
        "{how:?}: a joined reader gets Err, not EOF"
    );
    let waited = tokio::time::timeout(deadline, waiting).await;
    assert!(
        matches!(waited, Ok(Ok(Err(_)))),
        "{how:?}: a waiting reader gets Err"
    );
    assert!(
        hit(cache, &key).await.is_none(),
        "{how:?}: nothing published"
    );
    let stats = cache.stats();
    assert_eq!(
        (stats.objects, stats.reserved_bytes, stats.fills_in_flight),
        (0, 0, 0),
        "{how:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await; // tmp removal runs on a blocking thread
    assert_eq!(tmp_entries(&dir), 0, "{how:?}: tmp removed");
    // The next request starts a fresh fill that succeeds.
    let key = store(cache, &data).await;
    assert!(
        read_all(&mut hit(cache, &key).await.unwrap())
            .await
            .unwrap()
            == data
    );
}

#[tokio::test]
async fn failed_fills_fail_their_readers_and_publish_nothing() {
    for how in [
        Failure::Dropped,
        Failure::DigestMismatch,
        Failure::Short,
        Failure::Long,
    ] {
        fail_a_fill(how).await;
    }
}

#[tokio::test]
async fn refuses_responses_without_length_or_with_another_etag() {
    let (_dir, cache) = open(1 << 20);
    let etag = sha256(b"x");
    let key = key_for_etag(&etag);
    let mut no_length = ResponseHeader::build(200, None).unwrap();
    no_length
        .append_header("x-linked-etag", etag.as_str())
        .unwrap();
    let meta = CacheMeta::new(
        std::time::SystemTime::now(),
        std::time::SystemTime::now(),
        0,
        0,
        no_length,
    );
    assert!(cache.get_miss_handler(&key, &meta, &span()).await.is_err());
    let other = sha256(b"y");
    assert!(cache
        .get_miss_handler(&key, &response(1, &other), &span())
        .await
        .is_err());
    assert_eq!(
        cache.stats(),
        CacheStats {
            max_size: 1 << 20,
            ..CacheStats::default()
        }
    );
}
