//! Relaying a chunked body (RFC 9112 §7.1) as it arrives: its framing is
//! checked, so the end of the message is known and a broken one is cut,
//! and its bytes pass on as they came. Trailer fields are dropped (the
//! plain path serves only clients that did not ask for them with `TE`).

/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// Where in a chunked body the relay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk: this many data bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until a blank one.
    Trailers,
    /// The body has ended.
    Done,
}

/// Why a chunked body was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("malformed chunk size")]
    Size,
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    #[error("chunk-size or trailer line too long")]
    LineTooLong,
}

/// A chunked body on its way through.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
}

impl Chunked {
    /// Relays what it can of `input` into `out`: the bytes used, and whether
    /// the body has ended. Bytes not used (a line not yet whole) are to be
    /// offered again with more behind them.
    pub fn relay(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), ChunkError> {
        let mut pos = 0;
        loop {
            if self.state == State::Done {
                return Ok((pos, true));
            }
            let rest = &input[pos..];
            if rest.is_empty() {
                return Ok((pos, false));
            }
            match self.step(rest, out)? {
                Some(used) => pos += used,
                None => return Ok((pos, false)),
            }
        }
    }

    /// One step on non-empty `rest`: the bytes used, `None` when a line is not whole yet.
    fn step(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, ChunkError> {
        match self.state {
            State::Size => self.size_line(rest, out),
            State::Data(left) => {
                let n = left.min(rest.len() as u64) as usize;
                out.extend_from_slice(&rest[..n]);
                self.state = if n as u64 == left { State::DataEnd } else { State::Data(left - n as u64) };
                Ok(Some(n))
            }
            State::DataEnd => self.data_end(rest, out),
            State::Trailers => self.trailer_line(rest, out),
            State::Done => Ok(Some(0)),
        }
    }

    fn size_line(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, ChunkError> {
        match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete((n, size))) => {
                out.extend_from_slice(&rest[..n]);
                self.state = if size == 0 { State::Trailers } else { State::Data(size) };
                Ok(Some(n))
            }
            Ok(httparse::Status::Partial) if rest.len() > MAX_LINE => Err(ChunkError::LineTooLong),
            Ok(httparse::Status::Partial) => Ok(None),
            Err(_) => Err(ChunkError::Size),
        }
    }

    fn data_end(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, ChunkError> {
        match rest {
            [b'\r', b'\n', ..] => {
                out.extend_from_slice(b"\r\n");
                self.state = State::Size;
                Ok(Some(2))
            }
            [] | [b'\r'] => Ok(None),
            _ => Err(ChunkError::DataEnd),
        }
    }

    /// A trailer line is dropped; the blank line ends the body.
    fn trailer_line(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, ChunkError> {
        if rest.starts_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
            self.state = State::Done;
            return Ok(Some(2));
        }
        match memchr::memmem::find(rest, b"\r\n") {
            Some(end) => Ok(Some(end + 2)),
            None if rest.len() > MAX_LINE => Err(ChunkError::LineTooLong),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
