//! Errors and payment challenges as HTTP responses: the status from the
//! broker's one mapping, a JSON body a page or script can act on, and for a
//! challenge the L402 `WWW-Authenticate` header.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::qr::invoice_svg;
use crate::error::BrokerError;
use crate::grpc_status::{error_kind_of, http_status_of, message_of, retry_after_ms_of};

/// A handler's failure; answered as JSON with the mapped status.
pub(super) struct GatewayError(pub BrokerError);

impl<E: Into<BrokerError>> From<E> for GatewayError {
    fn from(err: E) -> Self {
        GatewayError(err.into())
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status = http_status_of(&err);
        if status.is_server_error()
            && !matches!(
                err,
                BrokerError::Unavailable(_) | BrokerError::Overloaded { .. }
            )
        {
            tracing::error!(error = %err, "gateway request failed");
        }
        let kind = error_kind_of(&err);
        let message = message_of(&err);
        if let Some(retry_after_ms) = retry_after_ms_of(&err) {
            // Retry-After counts whole seconds: round up, never 0.
            let secs = retry_after_ms.div_ceil(1000).max(1);
            let retry = [(header::RETRY_AFTER, secs.to_string())];
            return (
                status,
                retry,
                Json(json!({ "error": kind, "message": message })),
            )
                .into_response();
        }
        let BrokerError::PaymentRequired {
            challenge, invoice, ..
        } = &err
        else {
            return (status, Json(json!({ "error": kind, "message": message }))).into_response();
        };
        let body = json!({
            "error": kind,
            "message": message,
            "invoice": invoice.payment_request,
            "macaroon": invoice.macaroon,
            "payment_hash": invoice.payment_hash,
            "amount_msat": invoice.amount_msat,
            "expires_at_unix_ms": invoice.expires_at_unix_ms,
            "qr_svg": invoice_svg(&invoice.payment_request),
        });
        let mut response = (status, Json(body)).into_response();
        match HeaderValue::from_str(challenge) {
            Ok(value) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            Err(_) => tracing::error!("L402 challenge is not a valid header value"),
        }
        response
    }
}

/// What every gateway handler returns.
pub(super) type GatewayResult<T = Response> = Result<T, GatewayError>;

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn a_broker_at_its_memory_budget_answers_503_with_retry_after() {
        let err = BrokerError::Overloaded {
            what: "the broker is at its memory budget for transfers (512 MiB)".to_owned(),
            retry_after_ms: 1_000,
        };
        let response = GatewayError(err).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    }
}
