//! Scrubbing of Hub API JSON bodies: removes the Xet keys (`xetHash`, `xetEnabled`) at any
//! depth, so no client takes the Xet fast path (`docs/hub-protocol.md` "Xet").

use serde_json::Value;

/// Keys that announce Xet in revision-info, tree and paths-info bodies.
const XET_KEYS: [&str; 2] = ["xetHash", "xetEnabled"];

/// Removes `xetHash` and `xetEnabled` from every object at any depth (objects in arrays in
/// objects…); returns how many keys were removed. Iterative, so depth cannot overflow the stack.
pub fn strip_xet_keys(value: &mut Value) -> usize {
    let mut removed = 0;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for key in XET_KEYS {
                    removed += usize::from(map.remove(key).is_some());
                }
                stack.extend(map.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    removed
}

/// [`strip_xet_keys`] on a JSON body: `None` if `body` is not JSON; the body unchanged (byte for
/// byte) when nothing was removed; otherwise the re-serialised document.
pub fn strip_xet_bytes(body: &[u8]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    if strip_xet_keys(&mut value) == 0 {
        return Some(body.to_vec());
    }
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_xet_keys_table() {
        let rows: Vec<(&str, Value, Value, usize)> = vec![
            (
                "tree entries in an array",
                json!([{"type": "file", "path": "a", "size": 1, "oid": "o", "xetHash": "h"}, {"type": "directory", "path": "d", "oid": "p"}]),
                json!([{"type": "file", "path": "a", "size": 1, "oid": "o"}, {"type": "directory", "path": "d", "oid": "p"}]),
                1,
            ),
            (
                "revision info: top level and siblings",
                json!({"id": "o/m", "sha": "c", "xetEnabled": true, "siblings": [{"rfilename": "a", "xetHash": "h"}]}),
                json!({"id": "o/m", "sha": "c", "siblings": [{"rfilename": "a"}]}),
                2,
            ),
            (
                "nested arrays in objects in arrays",
                json!({"a": [[{"b": {"xetHash": "x", "c": [{"xetEnabled": false, "d": 1}]}}]]}),
                json!({"a": [[{"b": {"c": [{"d": 1}]}}]]}),
                2,
            ),
            (
                "redacted hash of stars and a null value",
                json!([{"xetHash": "****************************************************************"}, {"xetHash": null}]),
                json!([{}, {}]),
                2,
            ),
            (
                "lfs block is kept",
                json!({"lfs": {"oid": "s", "size": 3, "pointerSize": 130}}),
                json!({"lfs": {"oid": "s", "size": 3, "pointerSize": 130}}),
                0,
            ),
            (
                "similar names are kept",
                json!({"xethash": 1, "XetHash": 2, "xetHashes": 3, "v": "xetHash"}),
                json!({"xethash": 1, "XetHash": 2, "xetHashes": 3, "v": "xetHash"}),
                0,
            ),
            ("scalars", json!("xetHash"), json!("xetHash"), 0),
        ];
        for (name, mut input, want, count) in rows {
            let removed = strip_xet_keys(&mut input);
            assert_eq!((input, removed), (want, count), "row: {name}");
        }
    }

    #[test]
    fn strip_xet_bytes_table() {
        type Row<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);
        let rows: Vec<Row> = vec![
            (
                "stripped and re-serialised",
                br#"[{"path":"a","xetHash":"h"}]"#,
                Some(br#"[{"path":"a"}]"#),
            ),
            (
                "escaped key is still the key",
                br#"{"xet\u0048ash":"h","b":1}"#,
                Some(br#"{"b":1}"#),
            ),
            (
                "untouched body kept byte for byte",
                b"{ \"b\": 1,  \"a\": 2.50 }",
                Some(b"{ \"b\": 1,  \"a\": 2.50 }"),
            ),
            ("not JSON", b"<html>", None),
            ("truncated JSON", br#"[{"path":"a""#, None),
            ("empty body", b"", None),
        ];
        for (name, body, want) in rows {
            assert_eq!(strip_xet_bytes(body).as_deref(), want, "row: {name}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut value = json!({"xetHash": "h"});
        for _ in 0..100_000 {
            value = Value::Array(vec![value]);
        }
        assert_eq!(strip_xet_keys(&mut value), 1);
        // Dropping a 100 000-deep Value recurses; unwind it by hand.
        while let Value::Array(mut items) = value {
            value = items.pop().unwrap_or(Value::Null);
        }
    }
}
