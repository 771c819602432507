//! Seeks on a complete object and on one still filling.

use super::*;

#[tokio::test]
async fn seek_on_a_complete_object() {
    let (_dir, cache) = open(1 << 30);
    let data = body(2 * 1024 * 1024, 5);
    let key = store(cache, &data).await;
    let mut hit = hit(cache, &key).await.unwrap();
    hit.seek(10, Some(20)).unwrap();
    assert_eq!(read_all(&mut hit).await.unwrap(), &data[10..20]);
    hit.seek(1_000_000, None).unwrap();
    assert!(read_all(&mut hit).await.unwrap() == data[1_000_000..]);
    hit.seek(data.len() - 3, Some(data.len() + 100)).unwrap();
    assert_eq!(read_all(&mut hit).await.unwrap(), &data[data.len() - 3..]);
    assert!(hit.seek(data.len(), None).is_err());
    assert!(hit.seek(20, Some(10)).is_err());
}

#[tokio::test]
async fn seek_on_a_partial_object_waits_for_the_bytes() {
    let (_dir, cache) = open(1 << 30);
    let data = body(3 * 1024 * 1024, 6);
    let (key, mut miss) = start(cache, &data).await;
    let mut early = hit(cache, &key).await.unwrap();
    let mut ahead = hit(cache, &key).await.unwrap();
    let mut tail = hit(cache, &key).await.unwrap();
    early.seek(5, Some(15)).unwrap();
    ahead
        .seek(2 * 1024 * 1024, Some(2 * 1024 * 1024 + 10))
        .unwrap();
    tail.seek(data.len() - 10, None).unwrap();
    miss.write_body(Bytes::copy_from_slice(&data[..1024 * 1024]), false)
        .await
        .unwrap();
    // A range that ends before the object's end is served as soon as it is on disk.
    assert_eq!(read_all(&mut early).await.unwrap(), &data[5..15]);
    assert!(is_waiting(&mut ahead).await, "beyond the fill: waits");
    miss.write_body(Bytes::copy_from_slice(&data[1024 * 1024..]), true)
        .await
        .unwrap();
    assert_eq!(
        read_all(&mut ahead).await.unwrap(),
        &data[2 * 1024 * 1024..2 * 1024 * 1024 + 10]
    );
    assert_eq!(
        tail.read_body().await.unwrap().unwrap(),
        &data[data.len() - 10..data.len() - 1]
    );
    assert!(
        is_waiting(&mut tail).await,
        "the object's last byte waits for finish"
    );
    miss.finish().await.unwrap();
    assert_eq!(read_all(&mut tail).await.unwrap(), &data[data.len() - 1..]);
}
