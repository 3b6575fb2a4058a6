//! The shared topics as this platform creates them.

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use ticktak_kit::kafka::{KafkaSettings, UNLIMITED_RETENTION};
use ticktak_tests::*;

#[tokio::test]
async fn both_topics_are_created_with_unlimited_retention() {
    let topics = PlatformEnv::new("a", &unique("topics")).topics();
    ensure_topics(&topics).await;
    let admin: AdminClient<DefaultClientContext> =
        KafkaSettings::plaintext(brokers()).client_config().create().expect("admin client");
    let resources = [ResourceSpecifier::Topic(&topics.sales), ResourceSpecifier::Topic(&topics.masterlist)];
    let described = admin.describe_configs(&resources, &AdminOptions::new()).await.expect("configs described");
    for resource in described {
        let resource = resource.expect("topic described");
        for (name, value) in UNLIMITED_RETENTION {
            let entry = resource.get(name).unwrap_or_else(|| panic!("{name} of {:?}", resource.specifier));
            assert_eq!(entry.value.as_deref(), Some(value), "{name} of {:?}", resource.specifier);
        }
    }
}
