//! An operator's page served by one node of a cluster follows what another node takes in.

use serde_json::json;

use crate::browser::Browser;
use crate::cluster::Cluster;

/// A row of the conversation list.
fn row(id: i64) -> String {
    format!("[data-testid=conversation-row][data-id='{id}']")
}

crate::postgres_test!(
    async fn a_page_on_one_node_shows_live_what_another_node_took_in() {
        let cluster = Cluster::start(2).await;
        let inbound = cluster.sms_channel().await;
        let marco = json!({"from": "+393471234567", "text": "Buongiorno"});
        let (_, first) = cluster.post(&cluster.node(0), &inbound, marco).await;
        let conversation = first["conversation"]["id"].as_i64().unwrap();

        let browser = Browser::open_at(&cluster.node(1)).await;
        browser.login().await;
        browser.goto(&format!("/#/c/{conversation}")).await;
        browser.wait_for_text("[data-testid=thread]", "Buongiorno").await;

        // Node 0 takes in a message of the open conversation and a new customer's first one.
        let again = json!({"from": "+393471234567", "text": "Scrivo di nuovo"});
        cluster.post(&cluster.node(0), &inbound, again).await;
        browser.wait_for_text("[data-testid=thread]", "Scrivo di nuovo").await;
        let (_, other) =
            cluster.post(&cluster.node(0), &inbound, json!({"from": "+393471000010", "text": "Salve!"})).await;
        browser.wait_for_text(&row(other["conversation"]["id"].as_i64().unwrap()), "Salve!").await;
        browser.wait_for_text("[data-testid=conversation-count]", "2").await;
        browser.close().await;
    }
);
