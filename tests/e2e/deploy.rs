//! The container set-up, checked without a container engine:
//! `docker-compose.yml` is parsed and every service's environment goes
//! through the services' own configuration code; ports, health checks,
//! start order and secrets are asserted; `deploy/Dockerfile` is checked
//! against the workspace and the binaries the build makes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ticktak_kit::config::Env;
use ticktak_kit::{Service, Settings};
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `docker-compose.yml` with its `<<:` merge keys applied.
fn compose() -> Yaml {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).expect("docker-compose.yml");
    merge(YamlLoader::load_from_str(&text).expect("valid YAML").remove(0))
}

fn merge(y: Yaml) -> Yaml {
    match y {
        Yaml::Hash(h) => {
            let mut out = yaml_rust2::yaml::Hash::new();
            if let Some(Yaml::Hash(base)) = h.get(&Yaml::String("<<".into())).cloned().map(merge) {
                out.extend(base);
            }
            for (k, v) in h {
                if k != Yaml::String("<<".into()) {
                    out.insert(k, merge(v));
                }
            }
            Yaml::Hash(out)
        }
        Yaml::Array(a) => Yaml::Array(a.into_iter().map(merge).collect()),
        other => other,
    }
}

/// A service's environment with `${VAR:?…}` (required: a stand-in secret)
/// and `${VAR:-default}` resolved; the names of the required ones.
fn environment(service: &Yaml) -> (HashMap<String, String>, Vec<String>) {
    let mut required = Vec::new();
    let mut env = HashMap::new();
    let Some(map) = service["environment"].as_hash() else { return (env, required) };
    for (k, v) in map {
        let raw = match v {
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            other => panic!("{k:?}: unexpected value {other:?}"),
        };
        let mut value = String::new();
        let mut rest = raw.as_str();
        while let Some(start) = rest.find("${") {
            value.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let inner = &rest[start + 2..end];
            if let Some((var, _message)) = inner.split_once(":?") {
                required.push(var.to_string());
                value.push_str(&stand_in(var));
            } else if let Some((_, default)) = inner.split_once(":-") {
                value.push_str(default);
            } else {
                panic!("{inner}: every variable needs :? (required) or :- (default)");
            }
            rest = &rest[end + 1..];
        }
        value.push_str(rest);
        env.insert(k.as_str().unwrap().to_string(), value);
    }
    (env, required)
}

/// The stand-in sales key of platform a, the same for every service.
fn sales_key() -> &'static ticktak_kit::auth::SigningKey {
    static KEY: std::sync::OnceLock<ticktak_kit::auth::SigningKey> = std::sync::OnceLock::new();
    KEY.get_or_init(ticktak_kit::auth::SigningKey::generate)
}

fn stand_in(var: &str) -> String {
    use ticktak_kit::kafka::trust::{PlatformKeys, Trust};
    match var {
        "JWT_SIGNING_KEY" | "TICKET_SIGNING_KEY" => ticktak_kit::auth::SigningKey::generate().to_pem(),
        "PLATFORM_SIGNING_KEY" => sales_key().to_pem(),
        "ORGANISERS_KEY" => {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(ticktak_kit::auth::SigningKey::generate().public_key())
        }
        "ORGANISERS_SIGNING_KEY" => ticktak_kit::auth::SigningKey::generate().to_pem(),
        "PLATFORM_KEYS" => Trust::new(sales_key().clone(), PlatformKeys::Development)
            .public_entry(&ticktak_core::PlatformId::new("a").unwrap()),
        "STRIPE_SECRET_KEY" => "sk_live_stand_in".into(),
        "STRIPE_PUBLISHABLE_KEY" => "pk_live_stand_in".into(),
        "SMTP_URL" => "smtps://user:password@smtp.example.com".into(),
        "CONTACT_EMAIL" => "help@platform-a.example.com".into(),
        "SITE_URL" => "https://tickets.platform-a.example.com".into(),
        _ => format!("stand-in-{}-secret-value", var.to_lowercase()),
    }
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec().map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

#[test]
fn every_service_of_the_compose_file_starts_with_its_settings_and_shows_only_public_ports() {
    let compose = compose();
    let services = &compose["services"];
    for service in Service::BACKEND {
        let name = service.name();
        let s = &services[name];
        assert_eq!(s["command"].as_str(), Some(name), "{name}: command");
        let (vars, required) = environment(s);
        let env = Env::from_fn(|k| vars.get(k).cloned());

        // The services' own configuration code accepts it, in production.
        assert_eq!(vars.get("APP_ENV").map(String::as_str), Some("production"), "{name}");
        let settings = Settings::from(service, &env).unwrap_or_else(|e| panic!("{name}: {e}"));
        match service {
            Service::Reservations => {
                reservations::config::ReservationConfig::from(&settings, &env).unwrap();
            }
            Service::Security => {
                security::config::SecurityConfig::from(&settings, &env).unwrap();
            }
            Service::Payments => {
                payments::config::PaymentsConfig::from(&settings, &env).unwrap();
            }
            Service::ShopConsumer => {
                shop_consumer::pump::Start::from_env(&env).unwrap();
            }
            _ => {}
        }
        for secret in ["INTERNAL_TOKEN", "POSTGRES_PASSWORD"] {
            assert!(required.iter().any(|r| r == secret), "{name}: {secret} must be required, not defaulted");
        }
        assert_eq!(required.iter().any(|r| r == "JWT_SIGNING_KEY"), service == Service::Security, "{name}");
        // New ticket codes are signed with the platform key; the ticket key
        // only verifies codes of the older form, where a platform has some.
        assert!(!required.iter().any(|r| r == "TICKET_SIGNING_KEY"), "{name}");
        // The broker: SASL as the platform's own principal, whose password
        // is required, and only once the ACLs are in place.
        assert_eq!(settings.kafka.security_protocol, "SASL_PLAINTEXT", "{name}");
        assert_eq!(vars.get("KAFKA_SASL_USERNAME").map(String::as_str), Some("platform-a"), "{name}");
        assert!(required.iter().any(|r| r == "KAFKA_PASSWORD"), "{name}: KAFKA_PASSWORD must be required");
        assert_eq!(
            s["depends_on"]["kafka-acls"]["condition"].as_str(),
            Some("service_completed_successfully"),
            "{name} waits for the ACLs"
        );
        let signs = matches!(service, Service::Reservations | Service::ShopConsumer);
        assert_eq!(required.iter().any(|r| r == "PLATFORM_SIGNING_KEY"), signs, "{name}");
        assert!(required.iter().any(|r| r == "PLATFORM_KEYS"), "{name}");
        for secret in ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"] {
            assert_eq!(required.iter().any(|r| r == secret), service == Service::Payments, "{name}: {secret}");
        }

        // Peers are reached on their internal listeners.
        for (var, peer) in [
            ("SHOP_URL", Service::Shop),
            ("RESERVATIONS_URL", Service::Reservations),
            ("SECURITY_URL", Service::Security),
        ] {
            let expected = format!("http://{}:{}", peer.name(), peer.base_internal_port());
            assert_eq!(vars.get(var), Some(&expected), "{name}: {var}");
        }

        // Only the public port is published; never the internal one.
        let ports = strings(&s["ports"]);
        let public = service.base_port();
        match service {
            Service::ShopConsumer => assert!(ports.is_empty(), "{name} has no public API: {ports:?}"),
            _ => assert_eq!(ports, [format!("{public}:{public}")], "{name}"),
        }
        assert!(!ports.iter().any(|p| p.contains(&service.base_internal_port().to_string())), "{name}");

        // Healthy once ready; started after its database and broker are.
        let check = strings(&s["healthcheck"]["test"]).join(" ");
        assert!(check.contains(&format!(":{}/ready", service.base_internal_port())), "{name}: {check}");
        for dependency in ["postgres", "kafka"] {
            assert_eq!(
                s["depends_on"][dependency]["condition"].as_str(),
                Some("service_healthy"),
                "{name} waits for {dependency}"
            );
        }
    }
    // The web site: production settings its own code accepts, the services'
    // public APIs on the compose network, the publishable key required.
    let web = &services["web"];
    assert_eq!(web["command"].as_str(), Some("web"));
    assert_eq!(strings(&web["ports"]), ["9000:9000"]);
    let (vars, required) = environment(web);
    let env = Env::from_fn(|k| vars.get(k).cloned());
    let settings = Settings::from(Service::Web, &env).expect("web settings");
    let config = web::config::WebConfig::from(&settings, &env).expect("web's own settings");
    assert_eq!((config.shop.as_str(), config.secure_cookies), ("http://shop:3000", true));
    assert!(required.iter().any(|r| r == "STRIPE_PUBLISHABLE_KEY"));
    assert!(required.iter().any(|r| r == "CONTACT_EMAIL"));
    assert_eq!(config.contact_email, "help@platform-a.example.com");
    // Every service trusts the web site's fixed address as a proxy, so a
    // visitor of the site is named by its X-Forwarded-For.
    let web_address = services["web"]["networks"]["default"]["ipv4_address"].as_str().expect("web has a fixed address");
    for service in Service::BACKEND {
        let (vars, _) = environment(&services[service.name()]);
        let proxies = vars.get("TRUSTED_PROXIES").map(String::as_str).unwrap_or_default();
        assert!(proxies.split(',').any(|p| p.trim() == web_address), "{}: TRUSTED_PROXIES {proxies:?}", service.name());
    }
    // The one-shot publish waits for a healthy broker.
    let publish = &services["publish-masterlist"];
    assert_eq!(publish["depends_on"]["kafka"]["condition"].as_str(), Some("service_healthy"));
    assert_eq!(publish["restart"].as_str(), Some("no"));
    assert_eq!(strings(&publish["profiles"]), ["organisers"], "only the organisers run it: it holds their key");
    // The organisers publish as their own principal, the only one allowed
    // to write the master list.
    let (vars, required) = environment(publish);
    assert_eq!(vars.get("KAFKA_SASL_USERNAME").map(String::as_str), Some("organisers"));
    assert!(required.iter().any(|r| r == "KAFKA_ORGANISERS_PASSWORD"));
    // The broker authenticates every client and allows nothing without an ACL.
    let kafka = &services["kafka"];
    assert_eq!(kafka["environment"]["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"].as_str(), Some("false"));
    assert!(kafka["environment"]["KAFKA_AUTHORIZER_CLASS_NAME"]
        .as_str()
        .is_some_and(|a| a.ends_with("StandardAuthorizer")));
    let listeners = kafka["environment"]["KAFKA_LISTENERS"].as_str().expect("KAFKA_LISTENERS");
    assert!(
        listeners.split(',').all(|l| l.starts_with("SASL_") || l.starts_with("CONTROLLER:")),
        "clients reach the broker through SASL only: {listeners}"
    );
    let acls = std::fs::read_to_string(repo().join("deploy/kafka/acls.sh")).expect("deploy/kafka/acls.sh");
    for topic in ["masterlist", "schedule", "sales", "admissions", "queue_lengths", "draws"] {
        assert!(acls.contains(&format!("\"${topic}\"")), "acls.sh creates and grants the {topic} topic");
    }
    // Kafka's log lives in its volume.
    let log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"].as_str().expect("KAFKA_LOG_DIRS");
    assert!(strings(&kafka["volumes"]).iter().any(|v| v.ends_with(&format!(":{log_dirs}"))), "{log_dirs}");
    for infra in ["postgres", "kafka"] {
        assert!(!services[infra]["healthcheck"]["test"].is_badvalue(), "{infra} has a health check");
    }
}

#[test]
fn the_dockerfile_caches_every_crates_dependencies_and_ships_the_binaries_the_build_makes() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).expect("Dockerfile");
    for member in &workspace_members() {
        let manifest = format!("COPY {member}/Cargo.toml {member}/");
        assert!(dockerfile.contains(&manifest), "the dependency layer copies {member}/Cargo.toml");
        assert!(dockerfile.contains(member.as_str()), "{member} gets stub sources");
    }
    // Every binary the image ships is one `cargo build --bins` makes, and
    // every compose command is one the image ships.
    let shipped: Vec<String> = dockerfile
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("/src/target/release/").map(String::from))
        .collect();
    for bin in &shipped {
        let built = ticktak_tests::process::bin(bin);
        assert!(built.exists(), "{bin} is built");
    }
    let compose = compose();
    for (name, service) in compose["services"].as_hash().unwrap() {
        if service["image"].as_str() == Some("ticktak:latest") {
            let command = service["command"].as_str().unwrap();
            assert!(shipped.iter().any(|b| b == command), "{name:?}: {command} is in the image");
        }
    }
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    for excluded in ["target/", "var/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == excluded), ".dockerignore leaves out {excluded}");
    }
}

/// The workspace's member paths (`[workspace] members`).
fn workspace_members() -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        workspace: Workspace,
    }
    #[derive(serde::Deserialize)]
    struct Workspace {
        members: Vec<String>,
    }
    let text = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    toml::from_str::<Manifest>(&text).expect("the workspace manifest").workspace.members
}

/// The tables each schema's migrations leave, in migration order: a
/// `CREATE TABLE` adds one, a `DROP TABLE` takes it away.
fn tables_of(schema_dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(schema_dir)
        .expect("a migrations folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut tables: Vec<String> = Vec::new();
    for file in files {
        let sql = std::fs::read_to_string(&file).expect("a migration");
        for statement in sql.split(';') {
            let words: Vec<String> =
                statement.split_whitespace().filter(|w| !w.starts_with("--")).map(|w| w.to_ascii_lowercase()).collect();
            for (i, pair) in words.windows(2).enumerate() {
                let name = |skip: usize| {
                    let rest = &words[i + 2..];
                    let n = rest.get(skip).cloned().unwrap_or_default();
                    n.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).to_string()
                };
                match (pair[0].as_str(), pair[1].as_str()) {
                    ("create", "table") => tables.push(name(0)),
                    ("drop", "table") => {
                        let dropped = if words.get(i + 2).is_some_and(|w| w == "if") { name(2) } else { name(0) };
                        tables.retain(|t| *t != dropped);
                    }
                    _ => {}
                }
            }
        }
    }
    tables
}

#[test]
fn the_architecture_document_names_every_table_of_every_schema() {
    let doc = std::fs::read_to_string(repo().join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    let mut schemas: Vec<PathBuf> = std::fs::read_dir(repo().join("migrations"))
        .expect("migrations/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.is_dir())
        .collect();
    schemas.sort();
    assert!(schemas.len() >= 6, "every service's schema: {schemas:?}");
    for dir in schemas {
        let schema = dir.file_name().and_then(|n| n.to_str()).expect("a schema name").to_string();
        // The schema's section: from its heading to the next one.
        let heading = format!("\n### {schema}");
        let start = doc.find(&heading).unwrap_or_else(|| panic!("docs/ARCHITECTURE.md has a section {heading:?}"));
        let rest = &doc[start + heading.len()..];
        let section = &rest[..rest.find("\n#").unwrap_or(rest.len())];
        let tables = tables_of(&dir);
        assert!(!tables.is_empty(), "{schema} has tables");
        for table in &tables {
            assert!(
                section.contains(&format!("| `{table}` |")),
                "docs/ARCHITECTURE.md, section {schema}, names the table {table}"
            );
        }
        // And names no table the migrations do not leave.
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let named = row.trim_start_matches("| `").split('`').next().unwrap_or_default();
            assert!(tables.iter().any(|t| t == named), "{schema} has the table {named} the document names");
        }
    }
}
