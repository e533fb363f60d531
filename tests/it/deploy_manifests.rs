//! The Kubernetes manifests in `deploy/k8s` agree with the broker they run:
//! the mounted config is a valid `BrokerConfig` on the shared PostgreSQL
//! index, the ports the config listens on are the ports the Deployment,
//! probes and Service use, every file kustomize names exists, and every
//! manifest is a valid object of the Kubernetes API (offline, against the
//! schemas kubernetes-validate bundles). No cluster runs here, so this is
//! what keeps the manifests from rotting silently.

use std::path::{Path, PathBuf};
use std::process::Command;

use shardgate_broker::BrokerConfig;
use shardgate_tests::Tool;

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s")
}

fn read(name: &str) -> String {
    let path = k8s_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Stand-ins for the values the pods get from Secrets (`{ env = "…" }`),
/// so the file parses here exactly as in a pod.
fn placeholder_for(var: &str) -> &'static str {
    match var {
        "SHARDGATE_MASTER_KEY" => {
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        }
        "SHARDGATE_INDEX_URL" => "postgres://shardgate@postgres.shardgate.svc:5432/shardgate",
        other => panic!("broker.toml reads an env var the Deployment does not set: {other}"),
    }
}

/// Replaces every `{ env = "VAR" }` table with the placeholder value.
fn resolve_env_secrets(value: &mut toml::Value, seen: &mut Vec<String>) {
    match value {
        toml::Value::Table(table) => {
            let env_var = match (table.len(), table.get("env")) {
                (1, Some(toml::Value::String(var))) => Some(var.clone()),
                _ => None,
            };
            if let Some(var) = env_var {
                *value = toml::Value::String(placeholder_for(&var).to_owned());
                seen.push(var);
                return;
            }
            for (_, v) in table.iter_mut() {
                resolve_env_secrets(v, seen);
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| resolve_env_secrets(v, seen)),
        _ => {}
    }
}

fn broker_config() -> (BrokerConfig, Vec<String>) {
    let mut value: toml::Value = toml::from_str(&read("broker.toml")).expect("broker.toml is TOML");
    let mut env_vars = Vec::new();
    resolve_env_secrets(&mut value, &mut env_vars);
    let config: BrokerConfig = value
        .try_into()
        .unwrap_or_else(|e| panic!("broker.toml is not a BrokerConfig: {e}"));
    config.validate().expect("broker.toml validates");
    (config, env_vars)
}

#[test]
fn mounted_config_is_a_valid_broker_config_on_postgres() {
    let (config, env_vars) = broker_config();
    let index = format!("{:?}", config.index);
    assert!(
        index.to_lowercase().contains("postgres"),
        "replicas must share PostgreSQL: {index}"
    );
    assert!(
        config.payments.is_some(),
        "every download is paid: [payments] must be set"
    );
    let deployment = read("deployment.yaml");
    for var in env_vars {
        assert!(
            deployment.contains(&format!("name: {var}")),
            "broker.toml reads {var}, the Deployment does not set it"
        );
    }
}

#[test]
fn ports_and_probes_match_the_config() {
    let (config, _) = broker_config();
    let grpc = config.listen.port();
    let metrics = config.metrics_listen.expect("metrics on").port();
    let http = config.http_listen.expect("gateway on").port();
    assert!(
        config.listen.ip().is_unspecified(),
        "pods must listen on all interfaces"
    );
    let deployment = read("deployment.yaml");
    assert!(deployment.contains(&format!("containerPort: {grpc}")));
    assert!(deployment.contains(&format!("containerPort: {metrics}")));
    assert!(deployment.contains(&format!("containerPort: {http}")));
    let probes = deployment.matches(&format!("grpc: {{port: {grpc}")).count();
    assert_eq!(
        probes, 3,
        "startup, liveness and readiness probe the gRPC port"
    );
    assert!(
        deployment.contains("service: shardgate.v1.Storage"),
        "readiness follows the Storage service, which turns NOT_SERVING on SIGTERM"
    );
    let service = read("service.yaml");
    assert!(service.contains(&format!("port: {grpc}")));
    assert!(service.contains(&format!("port: {metrics}")));
    assert!(service.contains(&format!("port: {http}")));
    let dockerfile =
        std::fs::read_to_string(k8s_dir().join("../Dockerfile")).expect("deploy/Dockerfile");
    assert!(dockerfile.contains(&format!("EXPOSE {grpc} {metrics} {http}")));
}

#[test]
fn kustomization_names_only_existing_files() {
    let kustomization = read("kustomization.yaml");
    let listed: Vec<&str> = kustomization
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|item| item.ends_with(".yaml") || item.ends_with(".toml"))
        .collect();
    assert!(
        listed.len() >= 7,
        "resources and the config file: {listed:?}"
    );
    assert!(
        !listed.contains(&"secrets.example.yaml"),
        "placeholder secrets must never be applied"
    );
    for name in listed {
        assert!(
            k8s_dir().join(name).is_file(),
            "kustomization names missing file {name}"
        );
    }
}

/// Kinds the validator has no schema for, skipped by name (anything else
/// without a schema fails): the Prometheus Operator's `ServiceMonitor` is a
/// CRD whose schema ships with the operator, not with Kubernetes, and
/// `Kustomization` configures kustomize, it is never sent to the API server.
const KINDS_WITHOUT_SCHEMA: [&str; 2] = ["ServiceMonitor", "Kustomization"];

/// The oldest Kubernetes the manifests claim (gRPC probes went GA in 1.27)
/// and the newest the validator bundles.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.27.0", "1.37.0"];

/// The top-level `kind:` of each YAML document in a file.
fn kinds(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("kind:"))
        .map(|kind| kind.trim().to_owned())
        .collect()
}

#[test]
fn manifests_are_valid_kubernetes_objects() {
    let validator = Tool::KubernetesValidate
        .require()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .expect("deploy/k8s")
        .map(|entry| entry.expect("deploy/k8s entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let (mut checked, mut skipped, mut objects) = (Vec::new(), Vec::new(), 0);
    for file in files {
        let kinds = kinds(&std::fs::read_to_string(&file).expect("manifest"));
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(!kinds.is_empty(), "{name} has no kind");
        let without_schema = kinds
            .iter()
            .filter(|k| KINDS_WITHOUT_SCHEMA.contains(&k.as_str()))
            .count();
        match without_schema {
            0 => {
                objects += kinds.len();
                checked.push(file);
            }
            n if n == kinds.len() => skipped.push(name),
            _ => panic!("{name} mixes kinds without a schema with others: {kinds:?}; split it"),
        }
    }
    assert_eq!(
        skipped,
        ["kustomization.yaml", "servicemonitor.yaml"],
        "only the kustomize config and the ServiceMonitor CRD go unchecked"
    );
    for version in KUBERNETES_VERSIONS {
        // --strict: a misspelled or unknown field fails too.
        let out = Command::new(&validator)
            .args(["--strict", "--kubernetes-version", version])
            .args(&checked)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", validator.display()));
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "manifests invalid for Kubernetes {version}:\n{report}"
        );
        // A resource with no schema is only a warning to the validator.
        assert!(
            !report.contains("WARN"),
            "unchecked resources for Kubernetes {version}:\n{report}"
        );
        assert_eq!(
            report.matches(" passed for resource ").count(),
            objects,
            "every object validated against Kubernetes {version}:\n{report}"
        );
    }
}
