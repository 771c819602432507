//! Table-driven tests for body verification against independently computed digests.
//!
//! Vectors were computed outside this code, with git 2.47 and coreutils:
//! `git hash-object FILE` and `sha256sum < FILE` on the empty file, on `printf 'hello world\n'`,
//! on `python3 -c "sys.stdout.buffer.write(bytes(i % 251 for i in range(100000)))"`, on the same
//! bytes with byte 50 000 xor 1 (sha256 only), and `printf 'hello world!' | git hash-object --stdin`.

use super::*;

const EMPTY_SHA1: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const HELLO_SHA1: &str = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
const HELLO_SHA256: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";
const BIG_SHA1: &str = "88aea5919fa556a475407a5274e7dcd204ab3b64";
const BIG_SHA256: &str = "cd2df694e424bc7968cc37f47751019e5ca0cd1bdf2e479ea537c3a1c32ee1aa";

fn big() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

fn length(got: u64, expected: u64) -> Result<(), DigestError> {
    Err(DigestError::Length { got, expected })
}

#[test]
fn verifier_table() {
    let hello = b"hello world\n".to_vec();
    let quoted = format!("\"{HELLO_SHA256}\"");
    let weak = format!("W/\"{BIG_SHA1}\"");
    let upper = HELLO_SHA1.to_uppercase();
    let bad_sha = |a: &'static str, want: &str, got: &str| {
        Err(DigestError::Mismatch {
            algorithm: a,
            expected: want.into(),
            actual: got.into(),
        })
    };
    // (name, etag, announced length, body, chunk size, expected result)
    type Row<'a> = (
        &'a str,
        &'a str,
        u64,
        Vec<u8>,
        usize,
        Result<(), DigestError>,
    );
    let rows: Vec<Row> = vec![
        ("empty file, git sha1", EMPTY_SHA1, 0, vec![], 1, Ok(())),
        ("empty file, sha256", EMPTY_SHA256, 0, vec![], 1, Ok(())),
        ("hello, git sha1", HELLO_SHA1, 12, hello.clone(), 5, Ok(())),
        (
            "hello, sha256, quoted etag",
            &quoted,
            12,
            hello.clone(),
            1,
            Ok(()),
        ),
        ("upper-case hex etag", &upper, 12, hello.clone(), 12, Ok(())),
        (
            "100 kB, git sha1, W/ etag",
            &weak,
            100_000,
            big(),
            4096,
            Ok(()),
        ),
        ("100 kB, sha256", BIG_SHA256, 100_000, big(), 65_536, Ok(())),
        (
            "100 kB, sha256, one chunk",
            BIG_SHA256,
            100_000,
            big(),
            100_000,
            Ok(()),
        ),
        (
            "same length, other bytes, git sha1",
            HELLO_SHA1,
            12,
            b"hello world!".to_vec(),
            3,
            bad_sha(
                "git blob sha1",
                HELLO_SHA1,
                "bc7774a7b18deb1d7bd0212d34246a9b1260ae17",
            ),
        ),
        (
            "one flipped byte, sha256",
            BIG_SHA256,
            100_000,
            {
                let mut b = big();
                b[50_000] ^= 1;
                b
            },
            4096,
            bad_sha(
                "sha256",
                BIG_SHA256,
                "cd39b27f05044518010a25dc496ce9f20998576baf8d257b7b75033dd02a48ae",
            ),
        ),
        (
            "short body",
            HELLO_SHA1,
            12,
            b"hello".to_vec(),
            2,
            length(5, 12),
        ),
        (
            "long body",
            HELLO_SHA256,
            12,
            b"hello world\nX".to_vec(),
            4,
            length(13, 12),
        ),
        (
            "truncated, no digest known",
            "not-hex",
            10,
            vec![0; 9],
            4,
            length(9, 10),
        ),
        (
            "unknown etag: length only",
            "some-cdn-etag",
            3,
            b"abc".to_vec(),
            1,
            Ok(()),
        ),
        (
            "63 hex digits: length only",
            &HELLO_SHA256[1..],
            12,
            b"anything 12!".to_vec(),
            7,
            Ok(()),
        ),
    ];
    for (name, etag, len, body, chunk, want) in rows {
        let mut verifier = Verifier::new(etag, len);
        for part in body.chunks(chunk) {
            verifier.update(part);
        }
        assert_eq!(verifier.received(), body.len() as u64, "row: {name}");
        assert_eq!(verifier.finish(), want, "row: {name}");
    }
}

#[test]
fn expected_from_etag_table() {
    let mut sha1 = [0u8; 20];
    hex::decode_to_slice(HELLO_SHA1, &mut sha1).unwrap();
    let rows = [
        (HELLO_SHA1, Expected::GitBlobSha1(sha1)),
        (
            EMPTY_SHA256,
            Expected::Sha256([
                0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
                0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
                0x78, 0x52, 0xb8, 0x55,
            ]),
        ),
        ("", Expected::None),
        (
            "****************************************************************",
            Expected::None,
        ),
        ("3b18e512dba79e4c8300dd08aeb37f8e728b8dazz", Expected::None),
        (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            Expected::None,
        ),
    ];
    for (etag, want) in rows {
        assert_eq!(Expected::from_etag(etag), want, "row: {etag:?}");
    }
}

#[test]
fn overrun_is_reported_early() {
    let mut verifier = Verifier::new(HELLO_SHA1, 12);
    verifier.update(b"hello world\n");
    assert!(!verifier.is_overrun());
    verifier.update(b"!");
    assert!(verifier.is_overrun());
}
