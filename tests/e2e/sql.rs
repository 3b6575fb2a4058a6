//! The SQL that sqlx's query macros check at build time is checked against
//! the migrations as they are now: each statement's description kept in
//! `services/<service>/.sqlx/` (what an offline build compiles against)
//! must be what PostgreSQL describes for it in a schema migrated from
//! scratch. A renamed column, a changed type or nullability, or a statement
//! whose description was not written again fails here; `bash
//! scripts/sqlx-prepare.sh` writes them again (and fails to build where the
//! code no longer fits the schema).

use std::path::{Path, PathBuf};

use sqlx::{Column, Either, Executor, TypeInfo};

/// The crates whose statements are checked, with their schema and migrations.
const CHECKED: [(&str, &str); 1] = [("services/payments", "payments")];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// A type as the kept description names it (`Uuid`, `Int4`, `Timestamptz`)
/// and as PostgreSQL does (`UUID`, `INT4`, `TIMESTAMPTZ`), alike.
fn type_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn kept_type(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => type_name(s),
        other => type_name(&other.to_string()),
    }
}

#[tokio::test]
async fn the_statements_checked_at_build_time_match_the_migrations() {
    for (dir, schema) in CHECKED {
        let db = ticktak_tests::unique("t_sql_");
        let migrator = sqlx::migrate::Migrator::new(root().join("migrations").join(schema)).await.unwrap();
        let pool = ticktak_kit::db::connect(&ticktak_tests::database_url(&db), schema, &migrator, 2).await.unwrap();
        let kept = root().join(dir).join(".sqlx");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&kept)
            .unwrap_or_else(|e| panic!("{}: {e}", kept.display()))
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} describes no statement", kept.display());
        for file in &files {
            let data: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
            let query = data["query"].as_str().unwrap();
            let again = "run `bash scripts/sqlx-prepare.sh` and see what fails to build";
            let now = pool.describe(query).await.unwrap_or_else(|e| {
                panic!("{}: the migrations no longer fit this statement ({e}); {again}:\n{query}", file.display())
            });
            let kept = &data["describe"];
            let columns: Vec<(String, String, Option<bool>)> = now
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name().to_string(), type_name(c.type_info().name()), now.nullable(i)))
                .collect();
            let kept_columns: Vec<(String, String, Option<bool>)> = kept["columns"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let name = c["name"].as_str().unwrap().to_string();
                    (name, kept_type(&c["type_info"]), kept["nullable"][i].as_bool())
                })
                .collect();
            assert_eq!(columns, kept_columns, "{}: the columns changed; {again}:\n{query}", file.display());
            let parameters: Vec<String> = match now.parameters() {
                Some(Either::Left(types)) => types.iter().map(|t| type_name(t.name())).collect(),
                _ => Vec::new(),
            };
            let kept_parameters: Vec<String> =
                kept["parameters"]["Left"].as_array().map_or(Vec::new(), |p| p.iter().map(kept_type).collect());
            assert_eq!(parameters, kept_parameters, "{}: the parameters changed; {again}:\n{query}", file.display());
        }
        pool.close().await;
    }
}
