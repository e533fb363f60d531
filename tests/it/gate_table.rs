//! One payment gate, two transports: every row of [`CASES`] — a way to
//! present (or not) a credential, and what must come of it — is run over
//! gRPC `Storage.Get` (through the SDK) and over HTTP `POST /b/{blob}`
//! (through `reqwest`), against the real `shardgate` binary. The gateway
//! calls the same gate as Get (docs/sharing.md "One gate"), so each row
//! expects the same outcome on both; only the wire form differs (gRPC code
//! vs the HTTP status that `grpc_status.rs::http_status_of` gives it).

use shardgate_client::ErrorKind;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::gateway::{Gateway, L402Challenge};
use shardgate_tests::lightning::{Challenge, PaidBroker, fetch, get_request};
use tonic::Code;

use crate::gateway_http::{assert_challenge, assert_no_file_bytes};

const FLAT: u64 = 1_500;

/// What the client presents.
#[derive(Clone, Copy, Debug)]
enum Credential {
    /// No `authorization` at all.
    Missing,
    /// A credential bought (challenge paid) over the transport under test.
    Paid,
    /// A credential bought over the other transport.
    PaidOverTheOther,
    /// A paid credential already used for its one download.
    UsedUp,
    /// A paid credential with one base64 character of the macaroon changed.
    FlippedMacaroon,
    /// A paid invoice's macaroon with 32 random bytes as the preimage.
    WrongPreimage,
    /// A paid credential for another blob.
    OtherBlob,
    /// The macaroon of an unpaid challenge, with a random preimage.
    UnpaidRandomPreimage,
    /// The macaroon of an unpaid challenge, no preimage (`L402 mac:`).
    UnpaidNoPreimage,
}

/// What must happen, the same over both transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The whole blob (gRPC: OK; HTTP: 200).
    Bytes,
    /// A fresh challenge and no data (gRPC: UNAUTHENTICATED with
    /// `www-authenticate`; HTTP: 402 with `WWW-Authenticate`).
    Challenge,
    /// The invoice is not paid yet (gRPC: FAILED_PRECONDITION; HTTP: 400
    /// `failed_precondition`, `http_status_of`'s twin of that code).
    NotPaidYet,
}

struct Case {
    name: &'static str,
    credential: Credential,
    expect: Outcome,
}

const CASES: &[Case] = &[
    Case {
        name: "no credential",
        credential: Credential::Missing,
        expect: Outcome::Challenge,
    },
    Case {
        name: "valid paid credential",
        credential: Credential::Paid,
        expect: Outcome::Bytes,
    },
    Case {
        name: "paid over the other transport",
        credential: Credential::PaidOverTheOther,
        expect: Outcome::Bytes,
    },
    Case {
        name: "used-up credential",
        credential: Credential::UsedUp,
        expect: Outcome::Challenge,
    },
    Case {
        name: "flipped macaroon",
        credential: Credential::FlippedMacaroon,
        expect: Outcome::Challenge,
    },
    Case {
        name: "wrong preimage",
        credential: Credential::WrongPreimage,
        expect: Outcome::Challenge,
    },
    Case {
        name: "other blob's credential",
        credential: Credential::OtherBlob,
        expect: Outcome::Challenge,
    },
    Case {
        name: "unpaid invoice, random preimage",
        credential: Credential::UnpaidRandomPreimage,
        expect: Outcome::Challenge,
    },
    Case {
        name: "unpaid invoice, no preimage",
        credential: Credential::UnpaidNoPreimage,
        expect: Outcome::NotPaidYet,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Grpc,
    Http,
}

impl Transport {
    fn other(self) -> Transport {
        match self {
            Transport::Grpc => Transport::Http,
            Transport::Http => Transport::Grpc,
        }
    }
}

/// What one download attempt gave, in transport-neutral terms.
#[derive(Debug)]
enum Seen {
    Bytes(Vec<u8>),
    /// The fresh challenge's macaroon.
    Challenge(String),
    /// gRPC code, or the HTTP status and `error` kind.
    Refused(String),
}

/// The broker, its gateway and two public priced blobs.
struct Setup {
    paid: PaidBroker,
    gateway: Gateway,
    blob: String,
    data: Vec<u8>,
    other_blob: String,
}

impl Setup {
    /// An unpaid challenge for `blob` over `transport`: (macaroon, invoice).
    async fn challenge(&self, transport: Transport, blob: &str) -> L402Challenge {
        match transport {
            Transport::Grpc => {
                let c: Challenge = self.paid.challenge(get_request(blob, None), None).await;
                L402Challenge {
                    macaroon: c.token,
                    invoice: c.invoice,
                }
            }
            Transport::Http => {
                let reply = self.gateway.post_blob(blob, None, &[]).await;
                assert_challenge(&reply, &self.data, "challenge")
            }
        }
    }

    /// A paid credential for `blob` bought over `transport`.
    async fn bought(&self, transport: Transport, blob: &str) -> (L402Challenge, String) {
        let challenge = self.challenge(transport, blob).await;
        let preimage = self
            .paid
            .lightning
            .pay(&challenge.invoice)
            .await
            .expect("pay");
        (challenge, hex::encode(preimage.0))
    }

    /// The `authorization` value a row presents over `transport`.
    async fn credential(&self, transport: Transport, kind: Credential) -> Option<String> {
        let random =
            || hex::encode(blake3::hash(format!("{kind:?}{transport:?}").as_bytes()).as_bytes());
        let auth = match kind {
            Credential::Missing => return None,
            Credential::Paid => {
                let (c, preimage) = self.bought(transport, &self.blob).await;
                c.authorization(Some(&preimage))
            }
            Credential::PaidOverTheOther => {
                let (c, preimage) = self.bought(transport.other(), &self.blob).await;
                c.authorization(Some(&preimage))
            }
            Credential::UsedUp => {
                let (c, preimage) = self.bought(transport, &self.blob).await;
                let auth = c.authorization(Some(&preimage));
                let first = self.download(transport, Some(&auth)).await;
                assert!(
                    matches!(&first, Seen::Bytes(b) if *b == self.data),
                    "first use: {first:?}"
                );
                auth
            }
            Credential::FlippedMacaroon => {
                let (mut c, preimage) = self.bought(transport, &self.blob).await;
                c.macaroon = flip_one_char(&c.macaroon);
                c.authorization(Some(&preimage))
            }
            Credential::WrongPreimage => {
                let (c, _) = self.bought(transport, &self.blob).await;
                c.authorization(Some(&random()))
            }
            Credential::OtherBlob => {
                let (c, preimage) = self.bought(transport, &self.other_blob).await;
                c.authorization(Some(&preimage))
            }
            Credential::UnpaidRandomPreimage => {
                let c = self.challenge(transport, &self.blob).await;
                c.authorization(Some(&random()))
            }
            Credential::UnpaidNoPreimage => {
                let c = self.challenge(transport, &self.blob).await;
                c.authorization(None)
            }
        };
        Some(auth)
    }

    /// One download of the whole blob over `transport`.
    async fn download(&self, transport: Transport, auth: Option<&str>) -> Seen {
        match transport {
            Transport::Grpc => {
                let fetched = match auth {
                    None => {
                        fetch(
                            &self.paid.client().await,
                            get_request(&self.blob, None),
                            None,
                        )
                        .await
                    }
                    Some(auth) => {
                        self.paid
                            .get_with(get_request(&self.blob, None), auth, None)
                            .await
                    }
                };
                let Err(error) = &fetched.end else {
                    return Seen::Bytes(fetched.data);
                };
                assert_eq!(fetched.data_frames, 0, "gRPC: data before a refusal");
                match Challenge::from_error(error) {
                    Ok(c) => {
                        assert_eq!(error.kind(), ErrorKind::Unpaid, "{error:?}");
                        assert_eq!(error.code(), Some(Code::Unauthenticated), "{error:?}");
                        Seen::Challenge(c.token)
                    }
                    Err(_) => Seen::Refused(format!("{:?}", error.code())),
                }
            }
            Transport::Http => {
                let reply = self.gateway.post_blob(&self.blob, auth, &[]).await;
                match reply.status {
                    200 => Seen::Bytes(reply.body),
                    402 => {
                        Seen::Challenge(assert_challenge(&reply, &self.data, "refusal").macaroon)
                    }
                    status => {
                        assert_no_file_bytes(&reply, &self.data, "HTTP error");
                        Seen::Refused(format!("{status} {}", reply.error_kind()))
                    }
                }
            }
        }
    }
}

/// The macaroon with one base64 character in its middle replaced by
/// another (still base64, so it is the signature check that must refuse).
fn flip_one_char(macaroon: &str) -> String {
    let mut chars: Vec<char> = macaroon.chars().collect();
    let at = chars.len() / 2;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// How `outcome` looks on the wire of `transport` for a refusal.
fn refusal_on(transport: Transport, outcome: Outcome) -> Option<String> {
    match (outcome, transport) {
        (Outcome::NotPaidYet, Transport::Grpc) => {
            Some(format!("{:?}", Some(Code::FailedPrecondition)))
        }
        // http_status_of: FailedPrecondition → 400 BAD_REQUEST.
        (Outcome::NotPaidYet, Transport::Http) => Some("400 failed_precondition".to_owned()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gate_case_ends_the_same_over_grpc_and_http() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(41, 200 * 1024 + 33).all();
    let blob = paid.upload("gate.bin", &data, (FLAT, 0), true).await;
    let other_blob = paid
        .upload(
            "other.bin",
            &Pattern::new(42, 10_000).all(),
            (FLAT, 0),
            true,
        )
        .await;
    let gateway = Gateway::new(&paid.broker.gateway_url());
    let setup = Setup {
        paid,
        gateway,
        blob,
        data,
        other_blob,
    };

    let mut failures = Vec::new();
    for transport in [Transport::Grpc, Transport::Http] {
        for case in CASES {
            let auth = setup.credential(transport, case.credential).await;
            let seen = setup.download(transport, auth.as_deref()).await;
            let presented_macaroon = auth
                .as_deref()
                .and_then(|a| a.strip_prefix("L402 "))
                .and_then(|a| a.split_once(':'))
                .map(|(m, _)| m.to_owned());
            let ok = match (case.expect, &seen) {
                (Outcome::Bytes, Seen::Bytes(bytes)) => *bytes == setup.data,
                // A fresh challenge: never the macaroon just presented.
                (Outcome::Challenge, Seen::Challenge(macaroon)) => {
                    presented_macaroon.as_deref() != Some(macaroon.as_str())
                }
                (Outcome::NotPaidYet, Seen::Refused(wire)) => {
                    refusal_on(transport, case.expect).as_deref() == Some(wire.as_str())
                }
                _ => false,
            };
            if !ok {
                let seen = match &seen {
                    Seen::Bytes(b) => format!("{} bytes (match: {})", b.len(), *b == setup.data),
                    other => format!("{other:?}"),
                };
                failures.push(format!(
                    "{transport:?} / {}: expected {:?}, saw {seen}",
                    case.name, case.expect
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "gate cases failed:\n{}",
        failures.join("\n")
    );
}
