//! Downloading through a share link, the way the browser page does: the
//! gateway's HTTP routes, the L402 challenge paid by the SDK's payer, and
//! for an end-to-end share the file key unwrapped from the link's secret
//! and every chunk checked as it is decrypted (`docs/sharing.md`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde::Deserialize;
use shardgate_core::{ContentId, E2eReader, FileKey, Manifest};
use shardgate_payments::parse_www_authenticate;
use tokio::sync::mpsc;

use crate::challenge::{RawChallenge, authorization};
use crate::error::{ClientError, ErrorKind, Result};
use crate::output_file::OutputFile;
use crate::payer::{PaymentEvent, PaymentPolicy};
use crate::purchase::Purchase;
use crate::share_link::ShareLink;
use crate::write_behind::DurableWriter;
use crate::writer_thread::write_on_thread;

/// The header that carries the read token.
const TOKEN_HEADER: &str = "x-shardgate-share-token";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// AES-GCM tag after each end-to-end chunk.
const TAG_LEN: usize = 16;
/// Body pieces queued between the network and the file writer.
const QUEUED_PIECES: usize = 8;

/// What `GET /s/{id}/info` says (the fields the SDK reads).
#[derive(Debug, Deserialize)]
struct ShareInfo {
    blob_id: String,
    end_to_end: bool,
    name: Option<String>,
    size: u64,
    chunk_size: u64,
    chunk_count: u64,
    price_msat: u64,
    wrapped_key: Option<String>,
    sealed_name: Option<String>,
}

/// The gateway's JSON error body.
#[derive(Debug, Deserialize)]
struct GatewayFailure {
    error: String,
    message: String,
}

/// A share downloaded to a file.
#[derive(Debug)]
pub struct SharedDownload {
    /// The file's name as the share gives it (for an end-to-end share,
    /// opened from its sealed name).
    pub name: String,
    /// Bytes written.
    pub size: u64,
    /// Where they went.
    pub path: PathBuf,
    /// End-to-end (decrypted here) or managed (decrypted by the broker).
    pub end_to_end: bool,
    /// What was paid, if anything.
    pub purchase: Option<Purchase>,
}

/// What a share shows before paying.
#[derive(Debug, Clone)]
pub struct SharePreview {
    /// The file's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// What one download costs, msat (0: free).
    pub price_msat: u64,
    /// End-to-end encrypted.
    pub end_to_end: bool,
}

/// An opened share: its page data, and for an end-to-end share the file
/// key from the link.
struct Opened {
    info: ShareInfo,
    name: String,
    file_key: Option<FileKey>,
}

fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| ClientError::new(ErrorKind::Internal, format!("HTTP client: {e}")))
}

fn unreachable(link: &ShareLink) -> impl Fn(reqwest::Error) -> ClientError + '_ {
    move |e| {
        ClientError::new(
            ErrorKind::Unavailable,
            format!("cannot reach the gateway {}: {e}", link.gateway),
        )
    }
}

/// A refused request as an SDK error, from the gateway's status and JSON.
async fn refused(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    let body = response.bytes().await.unwrap_or_default();
    let failure: Option<GatewayFailure> = serde_json::from_slice(&body).ok();
    let message = failure.as_ref().map_or_else(
        || format!("the gateway answered {status}"),
        |f| f.message.clone(),
    );
    let kind = match status {
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::GONE => ErrorKind::Gone,
        StatusCode::PAYMENT_REQUIRED => ErrorKind::Unpaid,
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorKind::PermissionDenied,
        StatusCode::BAD_REQUEST | StatusCode::RANGE_NOT_SATISFIABLE => ErrorKind::InvalidArgument,
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    let kind = match failure.as_ref().map(|f| f.error.as_str()) {
        Some("data_loss") => ErrorKind::Integrity,
        _ => kind,
    };
    match (kind, retry_after) {
        (ErrorKind::ResourceExhausted, Some(wait)) => ClientError::throttled(message, wait),
        _ => ClientError::new(kind, message),
    }
}

async fn open(http: &reqwest::Client, link: &ShareLink) -> Result<Opened> {
    let token = link.secret.read_token().to_text();
    let response = http
        .get(link.route("info"))
        .header(TOKEN_HEADER, &token)
        .send()
        .await
        .map_err(unreachable(link))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let body = response.bytes().await.map_err(unreachable(link))?;
    let mut info: ShareInfo = serde_json::from_slice(&body)
        .map_err(|e| ClientError::protocol(format!("the share's info is unreadable: {e}")))?;
    let blob = info
        .blob_id
        .parse::<ContentId>()
        .map_err(|_| ClientError::protocol("the share's info has no valid blob id"))?;
    let tampered = || {
        ClientError::integrity(
            "the link is wrong or the share was tampered with: its key does not open",
        )
    };
    let (name, file_key) = match (&info.wrapped_key, info.end_to_end) {
        (Some(wrapped), true) => {
            let wrapping = link.secret.wrapping_key();
            let wrapped = URL_SAFE_NO_PAD.decode(wrapped).map_err(|_| tampered())?;
            // The blob id is the AAD: a share pointed at another blob fails
            // here, before anything is paid.
            let key = wrapping
                .unwrap_file_key(&wrapped, &blob)
                .map_err(|_| tampered())?;
            let name = match &info.sealed_name {
                Some(sealed) => {
                    let sealed = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| tampered())?;
                    wrapping.open_name(&sealed, &blob).map_err(|_| tampered())?
                }
                None => "download".to_owned(),
            };
            verify_layout(http, link, &token, &blob, &mut info).await?;
            (name, Some(key))
        }
        (None, false) => (info.name.clone().unwrap_or_else(|| "download".into()), None),
        _ => {
            return Err(ClientError::protocol(
                "the share's info is inconsistent (end-to-end without a wrapped key, or the reverse)",
            ));
        }
    };
    Ok(Opened {
        info,
        name,
        file_key,
    })
}

/// Checks the share's manifest against `blob` (authenticated by the
/// wrapped key's AAD) and takes the chunk count, chunk size and size from
/// it: a broker that claimed a shorter file (down to none at all) is
/// caught here, not trusted.
async fn verify_layout(
    http: &reqwest::Client,
    link: &ShareLink,
    token: &str,
    blob: &ContentId,
    info: &mut ShareInfo,
) -> Result<()> {
    let response = http
        .get(link.route("manifest"))
        .header(TOKEN_HEADER, token)
        .send()
        .await
        .map_err(unreachable(link))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let bytes = response.bytes().await.map_err(unreachable(link))?;
    let manifest = Manifest::decode(&bytes)
        .ok()
        .filter(|m| m.blob_id() == *blob)
        .ok_or_else(|| {
            ClientError::integrity(
                "the share's manifest is not the shared blob's: the gateway was tampered with",
            )
        })?;
    info.chunk_count = manifest.chunks().len() as u64;
    info.chunk_size = manifest.chunk_size() as u64;
    info.size = manifest.total_len();
    Ok(())
}

/// Name, size and price of a share, without paying or downloading.
pub async fn preview_share(link: &ShareLink) -> Result<SharePreview> {
    let opened = open(&http()?, link).await?;
    Ok(SharePreview {
        name: opened.name,
        size: opened.info.size,
        price_msat: opened.info.price_msat,
        end_to_end: opened.info.end_to_end,
    })
}

/// Downloads the share behind `link` into `output` (written as
/// `output.part`, renamed when every byte is in and checked), paying its
/// price as `payment` allows.
pub async fn download_share(
    link: &ShareLink,
    payment: &PaymentPolicy,
    output: &Path,
) -> Result<SharedDownload> {
    let http = http()?;
    let opened = open(&http, link).await?;
    let token = link.secret.read_token().to_text();
    let send = |credential: Option<String>| {
        let mut request = http
            .post(link.route("content"))
            .header(TOKEN_HEADER, &token);
        if let Some(c) = credential {
            request = request.header(AUTHORIZATION, c);
        }
        request.send()
    };
    let given = payment
        .credential
        .as_ref()
        .map(|c| format!("L402 {}", c.trim()));
    let mut response = send(given.clone()).await.map_err(unreachable(link))?;
    let mut purchase = None;
    if response.status() == StatusCode::PAYMENT_REQUIRED && given.is_none() {
        let header = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_www_authenticate(v).ok());
        let Some(parsed) = header else {
            return Err(refused(response).await);
        };
        let Some(payer) = &payment.payer else {
            return Err(ClientError::new(
                ErrorKind::Unpaid,
                format!(
                    "this share costs {} msat and no payer is configured",
                    opened.info.price_msat
                ),
            ));
        };
        let challenge = RawChallenge {
            token: parsed.token,
            invoice: parsed.invoice,
        }
        .decode()?;
        payment.check(&challenge.invoice)?;
        payment.event(PaymentEvent::Paying {
            invoice: challenge.invoice.clone(),
        });
        let paid = payment
            .pay_checked(payer.as_ref(), &challenge.invoice)
            .await?;
        let auth = authorization(&challenge.token, Some(&paid.preimage));
        response = send(Some(auth)).await.map_err(unreachable(link))?;
        purchase = Some(Purchase {
            amount_msat: challenge.invoice.amount_msat,
            payment_hash: challenge.invoice.payment_hash,
            token: challenge.token,
            preimage: Some(paid.preimage),
            fee_msat: paid.fee_msat,
            hold: false,
        });
    }
    if !response.status().is_success() {
        let err = refused(response).await;
        return Err(match &purchase {
            Some(p) => err.context(format!(
                "paid (payment hash {}) but the gateway refused the download; the credential {} may be retried",
                p.payment_hash,
                p.credential().unwrap_or_default()
            )),
            None => err,
        });
    }
    let size = save(response, &opened, output).await?;
    Ok(SharedDownload {
        name: opened.name,
        size,
        path: output.to_path_buf(),
        end_to_end: opened.info.end_to_end,
        purchase,
    })
}

/// Writes the body to `output.part` (decrypting chunk by chunk for an
/// end-to-end share), checks the length, then renames. On any failure the
/// part file is removed: nothing unchecked is left under the output name.
/// An existing device or pipe is written in place (`output_file.rs`).
async fn save(response: reqwest::Response, opened: &Opened, output: &Path) -> Result<u64> {
    let output = OutputFile::at(output)?;
    let result = write_body(response, opened, &output).await;
    match result {
        Ok(written) if written == opened.info.size => {
            output.commit()?;
            Ok(written)
        }
        Ok(written) => {
            output.discard();
            Err(ClientError::integrity(format!(
                "the download ended after {written} of {} bytes; nothing was saved",
                opened.info.size
            )))
        }
        Err(e) => {
            output.discard();
            Err(e)
        }
    }
}

async fn write_body(
    response: reqwest::Response,
    opened: &Opened,
    output: &OutputFile,
) -> Result<u64> {
    let file = output.writer(Some(opened.info.size))?;
    let opener = opened.file_key.clone().map(|key| ChunkOpener {
        key,
        chunk_count: opened.info.chunk_count,
        stride: opened.info.chunk_size as usize + TAG_LEN,
    });
    let cut = |e: reqwest::Error| {
        ClientError::new(
            ErrorKind::Unavailable,
            format!("the download broke off: {e}"),
        )
    };
    let pieces = response.bytes_stream().map(move |piece| piece.map_err(cut));
    write_on_thread(pieces, QUEUED_PIECES, move |mut rx| {
        write_pieces(&mut rx, opener, file)
    })
    .await
}

/// What opens an end-to-end share's body: the file key, and the layout
/// the verified manifest gave.
struct ChunkOpener {
    key: FileKey,
    chunk_count: u64,
    /// Sealed bytes per chunk (chunk size + tag); the last may be shorter.
    stride: usize,
}

/// Writes the queued pieces into `file` (decrypted chunk by chunk with
/// `opener`, if any) and makes it durable; returns the bytes written.
fn write_pieces(
    pieces: &mut mpsc::Receiver<Bytes>,
    opener: Option<ChunkOpener>,
    mut file: DurableWriter,
) -> Result<u64> {
    let io = |e| ClientError::io("writing the output failed", e);
    let tampered = || {
        ClientError::integrity(
            "a chunk failed its check: the file was tampered with or the link is wrong; nothing was saved",
        )
    };
    let mut written = 0u64;
    match &opener {
        None => {
            while let Some(bytes) = pieces.blocking_recv() {
                file.write_all(&bytes).map_err(io)?;
                written += bytes.len() as u64;
            }
        }
        Some(opener) => {
            let stride = opener.stride;
            let mut reader = E2eReader::new(&opener.key, opener.chunk_count);
            let mut pending: Vec<u8> = Vec::with_capacity(stride);
            let mut open = |sealed: Vec<u8>, file: &mut DurableWriter| -> Result<u64> {
                let plain = reader.open_next_sealed(sealed).map_err(|_| tampered())?;
                file.write_all(&plain).map_err(io)?;
                Ok(plain.len() as u64)
            };
            while let Some(bytes) = pieces.blocking_recv() {
                let mut bytes = &bytes[..];
                while !bytes.is_empty() {
                    let take = (stride - pending.len()).min(bytes.len());
                    pending.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if pending.len() == stride {
                        let sealed = std::mem::replace(&mut pending, Vec::with_capacity(stride));
                        written += open(sealed, &mut file)?;
                    }
                }
            }
            if !pending.is_empty() {
                written += open(pending, &mut file)?;
            }
            reader.finish().map_err(|_| tampered())?;
        }
    }
    file.finish().map_err(io)?;
    Ok(written)
}
