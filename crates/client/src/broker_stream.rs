//! `Storage.Get`'s response read off the wire without tonic's decode copy.
//!
//! tonic's `Streaming` copies every received HTTP/2 DATA frame into its
//! own decode buffer before it decodes a message: for a download, every
//! byte once more, 10 % of the client's CPU on a 1 GiB get
//! (docs/performance.md, "Session 14"). [`BrokerStream`] makes the same
//! call on the same channel and reads the response body itself. Data
//! messages are recognised from their first bytes
//! (`shardgate_proto::get_wire`) and their bytes handed on as slices of the
//! frames they arrived in, a message spanning two frames as two pieces.
//! The header, and any message not laid out as the broker writes data
//! frames, is gathered whole and decoded by prost, as tonic would.
//!
//! What tonic checks, this checks too: a status in the response headers
//! (trailers-only), the status in the trailers, a stream that ends inside
//! a message, the compressed flag (the client asks for no compression) and
//! the decode size limit.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, TE};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use prost::Message as _;
use shardgate_proto::get_wire::{GET_PATH, MessageStart, PREFIX_LEN, START_LEN, message_start};
use shardgate_proto::v1 as pb;
use tonic::body::Body;
use tonic::client::GrpcService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::client::MAX_DECODE_BYTES;

/// One message of the Get stream.
#[derive(Debug)]
pub(crate) enum GetMessage {
    /// The header (first message; boxed, as it is ten times the size of
    /// the data variant that every other message is).
    Header(Box<pb::GetHeader>),
    /// Stored bytes: all or part of one data message.
    Data(Bytes),
}

/// An open `Storage.Get` response.
pub(crate) struct BrokerStream {
    body: Body,
    http_status: StatusCode,
    /// Bytes received and not handed on yet, in order.
    queue: VecDeque<Bytes>,
    queued: usize,
    /// Bytes of the current data message still to hand on.
    data_left: usize,
    trailers: Option<HeaderMap>,
}

impl BrokerStream {
    /// Sends `request` as `Storage.Get` on `channel`. A refusal comes back
    /// as the call's status, as through the generated client.
    pub(crate) async fn open(
        mut channel: Channel,
        request: Request<pb::GetRequest>,
    ) -> Result<BrokerStream, Status> {
        let (metadata, _, message) = request.into_parts();
        let mut body = BytesMut::with_capacity(PREFIX_LEN + message.encoded_len());
        body.extend_from_slice(&[0]);
        body.extend_from_slice(
            &u32::try_from(message.encoded_len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        message
            .encode(&mut body)
            .map_err(|e| Status::internal(format!("encoding the GetRequest failed: {e}")))?;
        let mut http = http::Request::new(Body::new(http_body_util::Full::new(body.freeze())));
        *http.method_mut() = http::Method::POST;
        *http.version_mut() = http::Version::HTTP_2;
        *http.uri_mut() = http::Uri::from_static(GET_PATH);
        *http.headers_mut() = metadata.into_headers();
        http.headers_mut()
            .insert(TE, HeaderValue::from_static("trailers"));
        http.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        std::future::poll_fn(|cx| GrpcService::poll_ready(&mut channel, cx))
            .await
            .map_err(|e| Status::from_error(Box::new(e)))?;
        let response = GrpcService::call(&mut channel, http)
            .await
            .map_err(|e| Status::from_error(Box::new(e)))?;
        // Trailers-only: the call was refused before any message.
        if let Some(status) = Status::from_header_map(response.headers())
            && status.code() != Code::Ok
        {
            return Err(status);
        }
        // Not gRPC at all (a proxy's error page): the HTTP status says
        // what happened, the body is not read as messages.
        let http_status = response.status();
        if http_status != StatusCode::OK {
            return Err(status_without_trailers(http_status));
        }
        Ok(BrokerStream::over(response.into_body(), http_status))
    }

    fn over(body: Body, http_status: StatusCode) -> BrokerStream {
        BrokerStream {
            body,
            http_status,
            queue: VecDeque::new(),
            queued: 0,
            data_left: 0,
            trailers: None,
        }
    }

    /// The next message (or piece of a data message); `None` once the
    /// broker ended the call with OK.
    pub(crate) async fn next(&mut self) -> Result<Option<GetMessage>, Status> {
        loop {
            if self.data_left > 0 {
                if let Some(piece) = self.take_piece(self.data_left) {
                    self.data_left -= piece.len();
                    return Ok(Some(GetMessage::Data(piece)));
                }
            } else if self.queued > 0 {
                match self.next_start() {
                    MessageStart::Incomplete => {}
                    MessageStart::Compressed => {
                        return Err(Status::internal(
                            "the broker sent a compressed message, and this client asked for none",
                        ));
                    }
                    MessageStart::Data {
                        framing_len,
                        data_len,
                    } => {
                        check_size(framing_len - PREFIX_LEN + data_len)?;
                        self.skip(framing_len);
                        self.data_left = data_len;
                        continue;
                    }
                    MessageStart::Whole { len } => {
                        check_size(len)?;
                        if self.queued >= PREFIX_LEN + len {
                            self.skip(PREFIX_LEN);
                            return self.decode_whole(len).map(Some);
                        }
                    }
                }
            }
            if !self.receive().await? {
                return self.end();
            }
        }
    }

    /// Receives one frame: `false` at the end of the body.
    async fn receive(&mut self) -> Result<bool, Status> {
        match self.body.frame().await {
            None => Ok(false),
            Some(Err(status)) => Err(status),
            Some(Ok(frame)) => {
                match frame.into_data() {
                    Ok(data) => {
                        if !data.is_empty() {
                            self.queued += data.len();
                            self.queue.push_back(data);
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.trailers
                                .get_or_insert_with(HeaderMap::new)
                                .extend(trailers);
                        }
                    }
                }
                Ok(true)
            }
        }
    }

    /// The call's outcome once the body ended, as tonic infers it: the
    /// trailers' status, or from the HTTP status without one.
    fn end(&mut self) -> Result<Option<GetMessage>, Status> {
        let status = self.trailers.as_ref().and_then(Status::from_header_map);
        match status {
            Some(status) if status.code() != Code::Ok => Err(status),
            _ if self.queued > 0 || self.data_left > 0 => Err(Status::internal(
                "the broker's Get stream ended inside a message",
            )),
            Some(_) => Ok(None),
            None => Err(status_without_trailers(self.http_status)),
        }
    }

    /// Where the next message starts, read from the first bytes queued.
    fn next_start(&self) -> MessageStart {
        let mut start = [0u8; START_LEN];
        let mut have = 0;
        for piece in &self.queue {
            let take = (START_LEN - have).min(piece.len());
            start[have..have + take].copy_from_slice(&piece[..take]);
            have += take;
            if have == START_LEN {
                break;
            }
        }
        message_start(&start[..have])
    }

    /// Drops `n` queued bytes (there are at least `n`).
    fn skip(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            if front.len() > n {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.queue.pop_front();
        }
    }

    /// Up to `most` bytes from the front of the queue, as a slice of the
    /// frame they arrived in.
    fn take_piece(&mut self, most: usize) -> Option<Bytes> {
        let front = self.queue.front_mut()?;
        let piece = if front.len() > most {
            front.split_to(most)
        } else {
            self.queue.pop_front()?
        };
        self.queued -= piece.len();
        Some(piece)
    }

    /// Decodes the `len` queued bytes of a whole message.
    fn decode_whole(&mut self, len: usize) -> Result<GetMessage, Status> {
        let mut message = BytesMut::with_capacity(len);
        while message.len() < len {
            let Some(piece) = self.take_piece(len - message.len()) else {
                break;
            };
            message.extend_from_slice(&piece);
        }
        let decoded = pb::GetResponse::decode(message.freeze()).map_err(|e| {
            Status::internal(format!(
                "the broker sent a GetResponse that does not decode: {e}"
            ))
        })?;
        match decoded.frame {
            Some(pb::get_response::Frame::Header(header)) => {
                Ok(GetMessage::Header(Box::new(header)))
            }
            Some(pb::get_response::Frame::Data(data)) => Ok(GetMessage::Data(data)),
            None => Err(Status::internal(
                "the broker sent a GetResponse with neither a header nor data",
            )),
        }
    }
}

/// The size limit tonic's decoder would apply.
fn check_size(len: usize) -> Result<(), Status> {
    if len > MAX_DECODE_BYTES {
        return Err(Status::resource_exhausted(format!(
            "the broker sent a {len}-byte message; this client takes at most {MAX_DECODE_BYTES}"
        )));
    }
    Ok(())
}

/// A body that ended without a `grpc-status`: gRPC's mapping of the HTTP
/// status.
fn status_without_trailers(http: StatusCode) -> Status {
    let code = match http {
        StatusCode::BAD_REQUEST => Code::Internal,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(
        code,
        format!("the broker's Get answer carries no grpc-status (HTTP {http})"),
    )
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::stream;
    use http_body::Frame;
    use http_body_util::StreamBody;
    use shardgate_proto::get_wire::{data_framing, message_frame};

    use super::*;

    fn whole(message: &pb::GetResponse) -> Vec<u8> {
        message_frame(message).to_vec()
    }

    fn header() -> pb::GetResponse {
        pb::GetResponse {
            frame: Some(pb::get_response::Frame::Header(pb::GetHeader {
                uses_remaining: 7,
                ..Default::default()
            })),
        }
    }

    fn trailers(code: Code, message: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        Status::new(code, message).add_header(&mut map).unwrap();
        map
    }

    /// A stream over `bytes` cut into pieces of the given sizes (cycled),
    /// ended by `end` as trailers.
    fn stream_of(bytes: &[u8], cuts: &[usize], end: Option<HeaderMap>) -> BrokerStream {
        let mut frames = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let to = (at + cut).min(bytes.len());
            frames.push(Ok::<_, Infallible>(Frame::data(Bytes::copy_from_slice(
                &bytes[at..to],
            ))));
            at = to;
        }
        if let Some(trailers) = end {
            frames.push(Ok(Frame::trailers(trailers)));
        }
        let body = Body::new(StreamBody::new(stream::iter(frames)));
        BrokerStream::over(body, StatusCode::OK)
    }

    async fn read_all(
        mut stream: BrokerStream,
    ) -> Result<(Vec<pb::GetHeader>, Vec<u8>, usize), Status> {
        let (mut headers, mut data, mut pieces) = (Vec::new(), Vec::new(), 0);
        while let Some(message) = stream.next().await? {
            match message {
                GetMessage::Header(h) => headers.push(*h),
                GetMessage::Data(d) => {
                    data.extend_from_slice(&d);
                    pieces += 1;
                }
            }
        }
        Ok((headers, data, pieces))
    }

    /// A header then data messages of awkward sizes, as the broker frames
    /// them, and the bytes they carry.
    fn download() -> (Vec<u8>, Vec<u8>) {
        let mut wire = whole(&header());
        let mut content = Vec::new();
        for (i, len) in [1usize, 0, 127, 128, 16_384, 70_000, 3]
            .into_iter()
            .enumerate()
        {
            let data: Vec<u8> = (0..len).map(|b| (b * 31 + i) as u8).collect();
            wire.extend_from_slice(&data_framing(len));
            wire.extend_from_slice(&data);
            content.extend_from_slice(&data);
        }
        (wire, content)
    }

    #[tokio::test]
    async fn data_arrives_exactly_however_the_frames_cut_the_messages() {
        let (wire, content) = download();
        for cuts in [
            vec![wire.len()],
            vec![1],
            vec![3, 7],
            vec![5, 1, 16_000],
            vec![65_536],
        ] {
            let stream = stream_of(&wire, &cuts, Some(trailers(Code::Ok, "")));
            let (headers, data, _) = read_all(stream).await.unwrap();
            assert_eq!(headers.len(), 1, "cuts {cuts:?}");
            assert_eq!(headers[0].uses_remaining, 7);
            assert!(data == content, "cuts {cuts:?}: different bytes");
        }
    }

    #[tokio::test]
    async fn a_data_message_in_one_frame_is_handed_on_whole() {
        let mut wire = data_framing(100_000).to_vec();
        wire.extend_from_slice(&[9u8; 100_000]);
        let stream = stream_of(&wire, &[wire.len()], Some(trailers(Code::Ok, "")));
        let (_, data, pieces) = read_all(stream).await.unwrap();
        assert_eq!((data.len(), pieces), (100_000, 1));
    }

    #[tokio::test]
    async fn data_with_other_fields_is_decoded_by_prost() {
        let mut body = pb::GetResponse {
            frame: Some(pb::get_response::Frame::Data(Bytes::from_static(b"abc"))),
        }
        .encode_to_vec();
        body.extend_from_slice(&[0x78, 0x01]); // field 15, unknown to GetResponse
        let mut wire = vec![0u8];
        wire.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        wire.extend_from_slice(&body);
        let stream = stream_of(&wire, &[2], Some(trailers(Code::Ok, "")));
        let (_, data, _) = read_all(stream).await.unwrap();
        assert_eq!(data, b"abc");
    }

    #[tokio::test]
    async fn the_brokers_status_in_the_trailers_is_the_error() {
        let (wire, _) = download();
        let stream = stream_of(
            &wire,
            &[4096],
            Some(trailers(Code::DataLoss, "chunk 3 lost")),
        );
        let status = read_all(stream).await.unwrap_err();
        assert_eq!(status.code(), Code::DataLoss);
        assert_eq!(status.message(), "chunk 3 lost");
    }

    #[tokio::test]
    async fn a_stream_cut_inside_a_message_or_without_a_status_is_an_error() {
        let (wire, _) = download();
        let cut = stream_of(
            &wire[..wire.len() - 2],
            &[4096],
            Some(trailers(Code::Ok, "")),
        );
        let status = read_all(cut).await.unwrap_err();
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert!(status.message().contains("inside a message"), "{status:?}");
        let no_status = stream_of(&wire, &[4096], None);
        let status = read_all(no_status).await.unwrap_err();
        assert_eq!(status.code(), Code::Unknown, "{status:?}");
    }

    #[tokio::test]
    async fn compressed_or_oversized_messages_are_refused() {
        let compressed = stream_of(&[1, 0, 0, 0, 1, 0], &[6], Some(trailers(Code::Ok, "")));
        assert_eq!(
            read_all(compressed).await.unwrap_err().code(),
            Code::Internal
        );
        let too_big = u32::try_from(MAX_DECODE_BYTES + 1).unwrap().to_be_bytes();
        let mut wire = vec![0u8];
        wire.extend_from_slice(&too_big);
        wire.push(0x0a);
        let oversized = stream_of(&wire, &[wire.len()], Some(trailers(Code::Ok, "")));
        assert_eq!(
            read_all(oversized).await.unwrap_err().code(),
            Code::ResourceExhausted
        );
    }
}
