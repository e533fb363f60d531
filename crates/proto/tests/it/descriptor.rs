//! The embedded descriptor set is what reflection clients (grpcurl, Postman,
//! partner code generators) see: it must decode, contain every service and
//! RPC with the right streaming shape, and carry the documentation.

use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet};
use shardgate_proto::{FILE_DESCRIPTOR_SET, SERVICE_NAMES};

fn descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
}

fn our_files(set: &FileDescriptorSet) -> Vec<&FileDescriptorProto> {
    set.file
        .iter()
        .filter(|f| f.package() == "shardgate.v1")
        .collect()
}

/// (service, rpc, client streaming, server streaming) for every RPC of v1.
const EXPECTED_RPCS: &[(&str, &str, bool, bool)] = &[
    ("Storage", "Put", true, false),
    ("Storage", "Get", false, true),
    ("Storage", "Stat", false, false),
    ("Storage", "List", false, false),
    ("Storage", "Delete", false, false),
    ("Storage", "UpdateBlob", false, false),
    ("Storage", "GetShardLocations", false, false),
    ("Storage", "GetManifest", false, true),
    ("Storage", "GetLimits", false, false),
    ("Payments", "CreateInvoice", false, false),
    ("Payments", "GetPaymentStatus", false, false),
    ("Payments", "GetEarnings", false, false),
    ("Payments", "ListLedgerEntries", false, false),
    ("Payments", "Withdraw", false, false),
    ("Payments", "GetPayout", false, false),
    ("Payments", "BuyCredit", false, false),
    ("Payments", "GetCreditBalance", false, false),
    ("Payments", "SetPayoutAddress", false, false),
    ("Payments", "GetPayoutAddress", false, false),
    ("Providers", "Join", false, false),
    ("Providers", "List", false, false),
    ("Providers", "Drain", false, false),
    ("Providers", "Leave", false, false),
    ("Providers", "Health", false, false),
    ("Admin", "CreateTenant", false, false),
    ("Admin", "ListTenants", false, false),
    ("Admin", "SetTenantQuota", false, false),
    ("Admin", "RotateTenantKey", false, false),
    ("Admin", "RunGc", false, false),
    ("Admin", "GetRepairStatus", false, false),
    ("Shares", "CreateShare", false, false),
    ("Shares", "ListShares", false, false),
    ("Shares", "RevokeShare", false, false),
];

#[test]
fn contains_every_file_and_the_well_known_imports() {
    let set = descriptor_set();
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    for expected in [
        "shardgate/v1/common.proto",
        "shardgate/v1/storage.proto",
        "shardgate/v1/payments.proto",
        "shardgate/v1/providers.proto",
        "shardgate/v1/admin.proto",
        "shardgate/v1/shares.proto",
        // Reflection clients must be able to resolve the imports too.
        "google/protobuf/timestamp.proto",
        "google/protobuf/duration.proto",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn contains_every_service_and_rpc_with_its_streaming_shape() {
    let set = descriptor_set();
    let services: Vec<_> = our_files(&set)
        .into_iter()
        .flat_map(|f| f.service.iter())
        .collect();

    let full_names: Vec<String> = services
        .iter()
        .map(|s| format!("shardgate.v1.{}", s.name()))
        .collect();
    assert_eq!(
        full_names, SERVICE_NAMES,
        "SERVICE_NAMES matches the protos"
    );

    for &(service, rpc, client_streaming, server_streaming) in EXPECTED_RPCS {
        let svc = services
            .iter()
            .find(|s| s.name() == service)
            .unwrap_or_else(|| panic!("service {service} missing"));
        let method = svc
            .method
            .iter()
            .find(|m| m.name() == rpc)
            .unwrap_or_else(|| panic!("rpc {service}.{rpc} missing"));
        assert_eq!(
            (method.client_streaming(), method.server_streaming()),
            (client_streaming, server_streaming),
            "{service}.{rpc} streaming shape"
        );
    }
    let total: usize = services.iter().map(|s| s.method.len()).sum();
    assert_eq!(total, EXPECTED_RPCS.len(), "no RPC without a test entry");
}

/// Descriptor paths (see `SourceCodeInfo.Location.path` in
/// descriptor.proto): 4 = message_type, 5 = enum_type, 6 = service,
/// 2 = field / enum value / method inside those.
#[test]
fn every_message_field_enum_value_service_and_rpc_is_documented() {
    let set = descriptor_set();
    let mut undocumented = Vec::new();
    for file in our_files(&set) {
        let info = file
            .source_code_info
            .as_ref()
            .expect("descriptor set keeps source info (comments)");
        let documented = |path: &[i32]| {
            info.location
                .iter()
                .any(|l| l.path == path && !l.leading_comments().trim().is_empty())
        };
        let mut check = |path: Vec<i32>, what: String| {
            if !documented(&path) {
                undocumented.push(format!("{}: {what}", file.name()));
            }
        };
        for (i, msg) in file.message_type.iter().enumerate() {
            let i = i as i32;
            check(vec![4, i], msg.name().to_owned());
            for (j, field) in msg.field.iter().enumerate() {
                check(
                    vec![4, i, 2, j as i32],
                    format!("{}.{}", msg.name(), field.name()),
                );
            }
        }
        for (i, en) in file.enum_type.iter().enumerate() {
            let i = i as i32;
            check(vec![5, i], en.name().to_owned());
            for (j, value) in en.value.iter().enumerate() {
                check(
                    vec![5, i, 2, j as i32],
                    format!("{}.{}", en.name(), value.name()),
                );
            }
        }
        for (i, svc) in file.service.iter().enumerate() {
            let i = i as i32;
            check(vec![6, i], svc.name().to_owned());
            for (j, method) in svc.method.iter().enumerate() {
                check(
                    vec![6, i, 2, j as i32],
                    format!("{}.{}", svc.name(), method.name()),
                );
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:#?}");
}

/// Partner developers act on the status codes, so every RPC's comment must
/// say what can fail (except the few that only fail in the ways common.proto
/// lists for every RPC).
#[test]
fn every_rpc_that_can_fail_specifically_lists_its_errors() {
    const ONLY_COMMON_ERRORS: &[(&str, &str)] = &[
        ("Storage", "GetLimits"),
        ("Providers", "List"),
        ("Admin", "GetRepairStatus"),
    ];
    let set = descriptor_set();
    for file in our_files(&set) {
        let info = file.source_code_info.as_ref().expect("source info");
        for (i, svc) in file.service.iter().enumerate() {
            for (j, method) in svc.method.iter().enumerate() {
                let path = [6, i as i32, 2, j as i32];
                let comment = info
                    .location
                    .iter()
                    .find(|l| l.path == path)
                    .map(|l| l.leading_comments())
                    .unwrap_or_default();
                let lists_errors = comment.contains("Errors:");
                let common_only = ONLY_COMMON_ERRORS.contains(&(svc.name(), method.name()));
                assert!(
                    lists_errors || common_only,
                    "{}.{} does not list its errors",
                    svc.name(),
                    method.name()
                );
            }
        }
    }
}
