use super::*;

fn head(raw: &[u8], head_only: bool) -> Result<Option<(Framing, bool, u16)>, Invalid> {
    let mut headers = header_room();
    Ok(parse(raw, &mut headers, head_only)?.map(|h| (h.framing, h.reusable, h.code)))
}

#[test]
fn bodies_are_framed_as_rfc_9112_says() {
    let cases: &[(&[u8], bool, Framing, bool)] = &[
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, Framing::Length(2), true),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false, Framing::Length(2), true),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, Framing::Chunked, true),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, Framing::UntilClose, false),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", false, Framing::Chunked, false),
        (b"HTTP/1.1 200 OK\r\n\r\n", false, Framing::UntilClose, false),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, Framing::Empty, true),
        (b"HTTP/1.1 204 No Content\r\n\r\n", false, Framing::Empty, true),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, Framing::Empty, true),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false, Framing::Length(0), false),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, Framing::Length(0), false),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, Framing::Length(0), true),
    ];
    for (raw, head_only, framing, reusable) in cases {
        let (f, r, _) = head(raw, *head_only).expect("valid").expect("whole");
        assert_eq!((f, r), (*framing, *reusable), "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn broken_heads_are_refused() {
    let broken: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"garbage\r\n\r\n",
    ];
    for raw in broken {
        assert!(head(raw, false).is_err(), "{}", String::from_utf8_lossy(raw));
    }
    assert_eq!(head(b"HTTP/1.1 200 OK\r\nContent-Le", false), Ok(None));
}

#[test]
fn an_interim_answer_has_no_body_and_a_keep_alive_timeout_is_read() {
    let (f, _, code) = head(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", false).unwrap().unwrap();
    assert_eq!((f, code), (Framing::Empty, 103));
    let mut headers = header_room();
    let raw = b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nConnection: x-trace\r\nContent-Length: 0\r\n\r\n";
    let h = parse(raw, &mut headers, false).unwrap().unwrap();
    assert_eq!(h.idle_timeout, Some(Duration::from_secs(5)));
    assert!(h.names_headers);
}
