use super::*;

/// Relays `input` split into pieces of `step` bytes, as reads would bring it.
fn relay_in_pieces(input: &[u8], step: usize) -> Result<(Vec<u8>, bool, usize), ChunkError> {
    let (mut chunked, mut out, mut pending, mut used_total) = (Chunked::default(), Vec::new(), Vec::new(), 0);
    for piece in input.chunks(step) {
        pending.extend_from_slice(piece);
        let (used, done) = chunked.relay(&pending, &mut out)?;
        used_total += used;
        pending.drain(..used);
        if done {
            return Ok((out, true, used_total));
        }
    }
    Ok((out, false, used_total))
}

#[test]
fn a_body_passes_whole_however_it_is_split() {
    let body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
    for step in 1..=body.len() {
        let (out, done, used) = relay_in_pieces(body, step).expect("valid");
        assert!(done, "step {step}");
        assert_eq!(out, &body[..body.len() - 4], "step {step}");
        assert_eq!(used, body.len() - 4, "step {step}");
    }
}

#[test]
fn trailers_are_dropped() {
    let (out, done, _) = relay_in_pieces(b"2\r\nhi\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n", 3).expect("valid");
    assert!(done);
    assert_eq!(out, b"2\r\nhi\r\n0\r\n\r\n");
}

#[test]
fn broken_framing_is_an_error() {
    assert_eq!(relay_in_pieces(b"zz\r\nhi\r\n", 64).unwrap_err(), ChunkError::Size);
    assert_eq!(relay_in_pieces(b"2\r\nhiXX0\r\n\r\n", 64).unwrap_err(), ChunkError::DataEnd);
    let long = [b'1'; 10_000];
    assert_eq!(relay_in_pieces(&long, 10_000).unwrap_err(), ChunkError::Size);
    let mut long_ext = b"1;".to_vec();
    long_ext.extend(std::iter::repeat_n(b'a', 10_000));
    assert_eq!(relay_in_pieces(&long_ext, 10_000).unwrap_err(), ChunkError::LineTooLong);
}

#[test]
fn an_unfinished_body_is_not_done() {
    let (out, done, _) = relay_in_pieces(b"5\r\nhel", 2).expect("valid so far");
    assert!(!done);
    assert_eq!(out, b"5\r\nhel");
}
