//! Share links opened in a real headless Chromium (tests/browser/
//! share_download.mjs) against the real `shardgate` binary and a simulated
//! Lightning network: the page shows the price and an invoice, the test pays
//! it from the payer node as a phone wallet would, and the page saves the
//! file — byte-identical, under the sealed name for an end-to-end share.
//! Expired, revoked and used-up links show their message and save nothing.
//! Nothing the broker received or stored holds the link's secret or the
//! file key.
//!
//! Needs Node, playwright-core and Chromium (scripts/install-test-peers.sh);
//! without them these tests fail, never skip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use shardgate_client::{
    Client, CreatedShare, FileKey, LndPayer, PaymentPolicy, PutOptions, ShareLink, ShareOptions,
    download_share, file_key_hex, pb,
};
use shardgate_tests::NodeDriver;
use shardgate_tests::broker_process::client::as_tenant;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{ProviderTarget, files_under};
use shardgate_tests::browser::{PageOutcome, PageReport, PageVisit, visit_share_page};
use shardgate_tests::lightning::PaidBroker;

const MIB: usize = 1 << 20;
/// Flat price of one download: the page shows "21 sat".
const PRICE_MSAT: u64 = 21_000;
/// The name sealed into the end-to-end link; the broker only ever sees
/// [`UPLOAD_NAME`].
const SEALED_NAME: &str = "report.bin";
const UPLOAD_NAME: &str = "upload-e2e";
/// Where `SHARDGATE_SAVE_SCREENSHOTS` asks for the page's screenshots.
const SAVE_SCREENSHOTS_ENV: &str = "SHARDGATE_SAVE_SCREENSHOTS";
const SCREENSHOTS: [&str; 4] = ["1-price.png", "2-invoice.png", "3-paid.png", "4-saved.png"];

fn driver() -> NodeDriver {
    shardgate_tests::node_driver().unwrap_or_else(|e| panic!("{e}"))
}

/// The owner's SDK client.
async fn owner(paid: &PaidBroker) -> Client {
    as_tenant(&paid.client().await, Some(paid.owner_key()))
}

/// Uploads `data` end-to-end at [`PRICE_MSAT`]; returns blob id and file key.
async fn upload_end_to_end(paid: &PaidBroker, data: Vec<u8>) -> (String, FileKey) {
    let options = PutOptions {
        chunk_size: Some(MIB as u32),
        price: Some(pb::Price {
            flat_msat: PRICE_MSAT,
            per_mib_msat: 0,
        }),
        ..PutOptions::new(UPLOAD_NAME).end_to_end()
    };
    let done = owner(paid)
        .await
        .put_bytes(data, options)
        .await
        .unwrap_or_else(|e| panic!("end-to-end put: {e}\n{}", paid.broker.log_tail()));
    let key = done.file_key.expect("an end-to-end upload returns its key");
    (done.response.blob_id, key)
}

async fn share(paid: &PaidBroker, blob: &str, options: ShareOptions) -> (CreatedShare, String) {
    let created = owner(paid)
        .await
        .create_share(blob, options)
        .await
        .unwrap_or_else(|e| panic!("create share: {e}\n{}", paid.broker.log_tail()));
    let link = created
        .link(Some(&paid.broker.gateway_url()))
        .expect("a link on the gateway")
        .to_url();
    (created, link)
}

async fn visit(
    paid: &PaidBroker,
    link: &str,
    out: &Path,
    screenshots: Option<PathBuf>,
    expect_error: Option<&str>,
) -> PageReport {
    let visit = PageVisit {
        link: link.to_owned(),
        out: out.to_path_buf(),
        screenshots,
        expect_error: expect_error.map(str::to_owned),
    };
    visit_share_page(&driver(), &visit, &paid.lightning)
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- broker log tail ---\n{}", paid.broker.log_tail()))
}

/// Asserts the page saved `expected` under `name` after one paid invoice.
fn assert_saved(report: &PageReport, name: &str, expected: &[u8]) {
    let PageOutcome::Saved(path) = &report.outcome else {
        panic!("the page did not save: {:?}", report.outcome);
    };
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(name),
        "saved name"
    );
    let saved = std::fs::read(path).expect("read the saved file");
    assert_eq!(saved.len(), expected.len(), "saved size");
    assert!(saved == expected, "the saved file differs from the upload");
    assert_eq!(report.invoices.len(), 1, "one invoice shown and paid");
}

/// Every form of a secret that could leak: raw bytes, hex, base64 variants.
fn leak_forms(label: &str, raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut forms = vec![
        (format!("{label} (raw bytes)"), raw.to_vec()),
        (format!("{label} (hex)"), hex::encode(raw).into_bytes()),
        (
            format!("{label} (HEX)"),
            hex::encode_upper(raw).into_bytes(),
        ),
    ];
    for (name, text) in [
        ("base64url", URL_SAFE_NO_PAD.encode(raw)),
        ("base64url padded", URL_SAFE.encode(raw)),
        ("base64", STANDARD.encode(raw)),
        ("base64 unpadded", STANDARD_NO_PAD.encode(raw)),
    ] {
        forms.push((format!("{label} ({name})"), text.into_bytes()));
    }
    forms
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Fails when any of `forms` occurs in any of `places`.
fn assert_nowhere(forms: &[(String, Vec<u8>)], places: &[(String, Vec<u8>)]) {
    for (place, bytes) in places {
        for (form, needle) in forms {
            assert!(!find(bytes, needle), "{form} found in {place}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_to_end_share_is_paid_and_saved_in_chromium_and_its_secrets_never_reach_the_broker()
{
    driver();
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(0x5a4e, 20 * MIB as u64).all();
    let (blob, key) = upload_end_to_end(&paid, data.clone()).await;
    let options = ShareOptions {
        file_key: Some(key.clone()),
        name: Some(SEALED_NAME.into()),
        ..ShareOptions::default()
    };
    let (created, link) = share(&paid, &blob, options).await;
    let balance = paid.lightning.payer_balance_msat();

    let out = tempfile::tempdir().expect("tempdir");
    let shots = out.path().join("screenshots");
    let report = visit(
        &paid,
        &link,
        &out.path().join("saved"),
        Some(shots.clone()),
        None,
    )
    .await;
    assert_saved(&report, SEALED_NAME, &data);
    assert!(
        paid.lightning.payer_balance_msat() <= balance - PRICE_MSAT,
        "the payer paid the share's price"
    );
    for name in SCREENSHOTS {
        let png = std::fs::read(shots.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    }
    if let Some(dir) = std::env::var_os(SAVE_SCREENSHOTS_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create the screenshot dir");
        for name in SCREENSHOTS {
            std::fs::copy(shots.join(name), dir.join(name)).expect("copy a screenshot");
        }
    }

    // What the broker received: the browser's requests, its log, its data
    // directory. The checks can fail: the requests do carry the read token.
    let token = created.secret.read_token().to_text();
    let sent = report.requests_json.as_bytes();
    assert!(find(sent, token.as_bytes()), "the page sent the read token");
    assert!(find(sent, created.share.share_id.as_bytes()));
    let secret_text = created.secret.to_text();
    let secret = URL_SAFE_NO_PAD.decode(&secret_text).expect("secret bytes");
    let mut forms = leak_forms("the link's secret", &secret);
    forms.push(("the secret's text".into(), secret_text.into_bytes()));
    forms.extend(leak_forms("the file key", key.expose_bytes()));
    forms.push((
        "the file key (SDK hex)".into(),
        file_key_hex(&key).into_bytes(),
    ));
    let mut places = vec![
        (
            "requests.json".to_owned(),
            report.requests_json.into_bytes(),
        ),
        (
            "the broker's log".to_owned(),
            paid.broker.log_text().into_bytes(),
        ),
    ];
    let data_files = paid.broker.data_dir_files();
    assert!(!data_files.is_empty(), "the broker keeps an index");
    for file in data_files {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        places.push((file.display().to_string(), bytes));
    }
    assert_nowhere(&forms, &places);
    // The sealed name stays sealed as well.
    let name = [(
        "the sealed name".to_owned(),
        SEALED_NAME.as_bytes().to_vec(),
    )];
    assert_nowhere(&name, &places);

    // The providers hold ciphertext only: no file key there either.
    let mut objects = Vec::new();
    for provider in &paid.providers {
        if let ProviderTarget::Fs { root } = &provider.target {
            objects.extend(files_under(root));
        }
    }
    assert!(!objects.is_empty(), "the providers hold the blob's shards");
    let key_forms = leak_forms("the file key", key.expose_bytes());
    for object in objects {
        let bytes = std::fs::read(&object).expect("read a provider object");
        for (form, needle) in &key_forms[..2] {
            assert!(!find(&bytes, needle), "{form} in {}", object.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_share_is_paid_and_saved_in_chromium_byte_identical() {
    driver();
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(0x3a6e, 20 * MIB as u64).all();
    let blob = paid
        .upload("managed-report.bin", &data, (PRICE_MSAT, 0), false)
        .await;
    let (_, link) = share(&paid, &blob, ShareOptions::default()).await;
    let out = tempfile::tempdir().expect("tempdir");
    let report = visit(&paid, &link, out.path(), None, None).await;
    assert_saved(&report, "managed-report.bin", &data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_and_used_up_links_show_their_message_and_save_nothing() {
    driver();
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(0xe7, 3 * MIB as u64 + 5).all();
    let (blob, key) = upload_end_to_end(&paid, data.clone()).await;
    let e2e = |more: ShareOptions| ShareOptions {
        file_key: Some(key.clone()),
        name: Some(SEALED_NAME.into()),
        ..more
    };
    let (_, expired) = share(
        &paid,
        &blob,
        e2e(ShareOptions {
            expires_in: Some(Duration::from_secs(1)),
            ..ShareOptions::default()
        }),
    )
    .await;
    let (revoked_share, revoked) = share(&paid, &blob, e2e(ShareOptions::default())).await;
    owner(&paid)
        .await
        .revoke_share(&revoked_share.share.share_id)
        .await
        .expect("revoke");
    let (_, used_up) = share(
        &paid,
        &blob,
        e2e(ShareOptions {
            max_downloads: 1,
            ..ShareOptions::default()
        }),
    )
    .await;
    // The one download the link allows, through the SDK.
    let sdk_out = tempfile::tempdir().expect("tempdir");
    let payer = LndPayer::over(paid.lightning.payer().clone(), 1_000);
    let parsed = ShareLink::parse(&used_up).expect("parse the link");
    let first = download_share(
        &parsed,
        &PaymentPolicy::pay_with(payer, 100_000),
        &sdk_out.path().join("first"),
    )
    .await
    .expect("the first download");
    assert_eq!(first.name, SEALED_NAME);
    assert!(std::fs::read(&first.path).expect("read") == data);
    // The expiry is the broker's wall clock: let the second pass.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    for (link, kind) in [
        (&expired, "expired"),
        (&revoked, "revoked"),
        (&used_up, "used_up"),
    ] {
        let out = tempfile::tempdir().expect("tempdir");
        let saved = out.path().join("saved");
        let report = visit(&paid, link, &saved, None, Some(kind)).await;
        assert_eq!(report.outcome, PageOutcome::Refused(kind.into()));
        assert!(report.invoices.is_empty(), "{kind}: no invoice shown");
        let mut left = files_under(&saved);
        left.retain(|f| f.file_name().is_some_and(|n| n != "requests.json"));
        assert!(left.is_empty(), "{kind}: the page saved {left:?}");
    }
}
