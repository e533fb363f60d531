//! Just enough HTTP/1.x to probe peers, send admin requests and proxy traffic.
//!
//! The harness talks to three small servers and one proxy; a full HTTP stack
//! would hide exactly the bytes the fault proxy needs to see and change.
//! Every read here is bounded so a misbehaving peer cannot make a test hang
//! on memory or on one endless line.

use std::io;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

/// Longest request or response head accepted (start line plus headers).
pub(crate) const MAX_HEAD_BYTES: u64 = 64 * 1024;
/// Longest chunk-size line in a chunked body (hex size plus extensions).
const MAX_CHUNK_LINE_BYTES: u64 = 1024;
/// Copy buffer for bodies.
const COPY_BUFFER_BYTES: usize = 16 * 1024;

/// A request or response head, kept as text lines so it can be re-sent verbatim.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    /// `GET /path HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

/// How the body after a head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// HTTP/1.0 style: the body ends when the sender closes the connection.
    UntilClose,
}

impl Head {
    /// First header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Drops every header with this name.
    pub(crate) fn remove_header(&mut self, name: &str) {
        self.headers
            .retain(|(key, _)| !key.eq_ignore_ascii_case(name));
    }

    /// Request method (first word of a request line).
    pub(crate) fn method(&self) -> &str {
        self.start_line.split(' ').next().unwrap_or("")
    }

    /// Response status code, when this is a response head.
    pub(crate) fn status(&self) -> Option<u16> {
        let mut words = self.start_line.split(' ');
        match words.next() {
            Some(version) if version.starts_with("HTTP/") => words.next()?.parse().ok(),
            _ => None,
        }
    }

    /// HTTP version token of the start line (`HTTP/1.1`), wherever it sits.
    fn version(&self) -> &str {
        self.start_line
            .split(' ')
            .find(|word| word.starts_with("HTTP/"))
            .unwrap_or("HTTP/1.1")
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .flat_map(|(_, value)| value.split(','))
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection must be closed after this message.
    pub(crate) fn wants_close(&self) -> bool {
        if self.version() == "HTTP/1.0" {
            !self.has_token("connection", "keep-alive")
        } else {
            self.has_token("connection", "close")
        }
    }

    /// `Expect: 100-continue` is present.
    pub(crate) fn expects_continue(&self) -> bool {
        self.has_token("expect", "100-continue")
    }

    fn content_length(&self) -> io::Result<Option<u64>> {
        match self.header("content-length") {
            None => Ok(None),
            Some(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| invalid(format!("bad content-length {value:?}"))),
        }
    }

    /// Framing of a request body.
    pub(crate) fn request_framing(&self) -> io::Result<Framing> {
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        Ok(match self.content_length()? {
            Some(0) | None => Framing::Empty,
            Some(len) => Framing::Length(len),
        })
    }

    /// Framing of a response body to a request with `request_method`.
    pub(crate) fn response_framing(&self, request_method: &str) -> io::Result<Framing> {
        let status = self.status().unwrap_or(0);
        // RFC 9112 section 6.3: these never carry a body, whatever the headers say.
        if request_method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            return Ok(Framing::Empty);
        }
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        Ok(match self.content_length()? {
            Some(0) => Framing::Empty,
            Some(len) => Framing::Length(len),
            None => Framing::UntilClose,
        })
    }

    /// The head as it goes on the wire, ending with the blank line.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push_str(&self.start_line);
        out.push_str("\r\n");
        for (key, value) in &self.headers {
            out.push_str(key);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

fn invalid(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

/// Reads one line (with its `\n`) of at most `limit` bytes; empty at EOF.
async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: u64,
) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    (&mut *reader)
        .take(limit)
        .read_until(b'\n', &mut line)
        .await?;
    if !line.is_empty() && !line.ends_with(b"\n") && line.len() as u64 >= limit {
        return Err(invalid("line too long"));
    }
    Ok(line)
}

/// Reads a head. `Ok(None)` when the peer closed the connection cleanly
/// before sending a single byte (the normal end of a keep-alive connection).
pub(crate) async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<Head>> {
    let mut budget = MAX_HEAD_BYTES;
    let mut start_line = None;
    let mut headers = Vec::new();
    loop {
        let line = read_line_bounded(reader, budget).await?;
        if line.is_empty() {
            return match start_line {
                None => Ok(None),
                Some(_) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a head",
                )),
            };
        }
        budget = budget.saturating_sub(line.len() as u64);
        if !line.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a head",
            ));
        }
        let text = std::str::from_utf8(&line).map_err(|_| invalid("head is not UTF-8"))?;
        let text = text.trim_end_matches(['\r', '\n']);
        match start_line {
            None if text.is_empty() => continue, // RFC 9112 allows stray CRLF before a request
            None => start_line = Some(text.to_owned()),
            Some(_) if text.is_empty() => break,
            Some(_) => {
                let (key, value) = text
                    .split_once(':')
                    .ok_or_else(|| invalid(format!("bad header line {text:?}")))?;
                headers.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }
    let start_line = start_line.ok_or_else(|| invalid("missing start line"))?;
    Ok(Some(Head {
        start_line,
        headers,
    }))
}

/// Copies exactly `len` bytes, passing each piece through `on_data` first.
async fn copy_exact<R, W, F>(
    reader: &mut R,
    writer: &mut W,
    len: u64,
    on_data: &mut F,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    F: FnMut(&mut [u8]),
{
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(COPY_BUFFER_BYTES as u64)).unwrap_or(COPY_BUFFER_BYTES);
        let got = reader.read(&mut buffer[..want]).await?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body shorter than announced",
            ));
        }
        on_data(&mut buffer[..got]);
        writer.write_all(&buffer[..got]).await?;
        left -= got as u64;
    }
    Ok(())
}

/// Copies a body from `reader` to `writer` keeping its framing byte for byte,
/// passing only the payload bytes (never chunk-size lines) through `on_data`.
pub(crate) async fn relay_body<R, W, F>(
    reader: &mut R,
    writer: &mut W,
    framing: Framing,
    mut on_data: F,
) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
    F: FnMut(&mut [u8]),
{
    match framing {
        Framing::Empty => Ok(()),
        Framing::Length(len) => copy_exact(reader, writer, len, &mut on_data).await,
        Framing::UntilClose => copy_exact(reader, writer, u64::MAX, &mut on_data)
            .await
            .or_else(|err| {
                if err.kind() == io::ErrorKind::UnexpectedEof {
                    Ok(())
                } else {
                    Err(err)
                }
            }),
        Framing::Chunked => loop {
            let line = read_line_bounded(reader, MAX_CHUNK_LINE_BYTES).await?;
            writer.write_all(&line).await?;
            let text =
                std::str::from_utf8(&line).map_err(|_| invalid("chunk size is not UTF-8"))?;
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size {text:?}")))?;
            if size == 0 {
                // Trailer section: header lines up to an empty line.
                loop {
                    let trailer = read_line_bounded(reader, MAX_CHUNK_LINE_BYTES).await?;
                    if trailer.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "closed inside trailers",
                        ));
                    }
                    writer.write_all(&trailer).await?;
                    if trailer == b"\r\n" || trailer == b"\n" {
                        return Ok(());
                    }
                }
            }
            copy_exact(reader, writer, size, &mut on_data).await?;
            let crlf = read_line_bounded(reader, 2).await?;
            writer.write_all(&crlf).await?;
        },
    }
}

/// Reads a whole body into memory, refusing bodies larger than `max_bytes`.
pub(crate) async fn read_body<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    framing: Framing,
    max_bytes: u64,
) -> io::Result<Vec<u8>> {
    let mut payload = Vec::new();
    let mut too_big = false;
    // The framing bytes are not wanted here: only the payload is kept.
    relay_body(reader, &mut tokio::io::sink(), framing, |data| {
        if payload.len() as u64 + data.len() as u64 > max_bytes {
            too_big = true;
        } else {
            payload.extend_from_slice(data);
        }
    })
    .await?;
    if too_big {
        return Err(invalid(format!("body larger than {max_bytes} bytes")));
    }
    Ok(payload)
}

#[cfg(test)]
#[path = "http1_tests.rs"]
mod tests;
