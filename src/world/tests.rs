//! The world's lifecycle on loopback (port 0): start, stop, restart, `down` and
//! shutdown, each checked where users see it: whether a connection is refused, what the
//! REST API answers, and what the trace says.

use super::*;
use crate::core::account::agreements::Invitation;

async fn world(specs: Vec<AccountSpec>) -> World {
    crate::core::tls::install_crypto_provider();
    World::start(WorldConfig::default(), specs)
        .await
        .expect("the world starts")
}

fn specs(names: &[&str]) -> Vec<AccountSpec> {
    names.iter().map(|name| AccountSpec::new(name)).collect()
}

fn addr(world: &World, subdomain: &str) -> SocketAddr {
    world
        .account(subdomain)
        .unwrap()
        .addr()
        .expect("it has listened")
}

/// Whether something accepts connections at `addr`.
async fn accepts(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_ok()
}

/// How many agreements the account's REST API lists.
async fn listed(addr: SocketAddr, subdomain: &str) -> usize {
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{addr}/api/v2/sharing_agreements.json"))
        .basic_auth(
            format!("admin@{subdomain}.test/token"),
            Some(DEFAULT_API_TOKEN),
        )
        .send()
        .await
        .expect("the REST API answers");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    body["sharing_agreements"].as_array().unwrap().len()
}

fn world_events(world: &World) -> Vec<String> {
    world
        .trace()
        .events_since(0)
        .into_iter()
        .filter(|e| e.kind == crate::core::trace::EventKind::World)
        .map(|e| e.detail)
        .collect()
}

#[tokio::test]
async fn a_world_starts_its_accounts_unless_told_to_wait() {
    let mut later = AccountSpec::new("initech");
    later.start = false;
    let mut all = specs(&["acme", "globex"]);
    all.push(later);
    let world = world(all).await;
    for (name, running) in [("acme", true), ("globex", true), ("initech", false)] {
        assert_eq!(world.is_running(name).unwrap(), running, "{name}");
        assert_eq!(
            world.account(name).unwrap().addr().is_some(),
            running,
            "{name}"
        );
    }
    assert!(accepts(addr(&world, "acme")).await);
    assert_eq!(listed(addr(&world, "acme"), "acme").await, 0);
    world.start_account("initech").await.unwrap();
    assert!(world.is_running("initech").unwrap());
    assert!(accepts(addr(&world, "initech")).await);
    // Starting a running account changes nothing.
    world.start_account("initech").await.unwrap();
    let started = world_events(&world)
        .iter()
        .filter(|e| *e == "initech started listening")
        .count();
    assert_eq!(started, 1);
}

#[tokio::test]
async fn a_world_refuses_what_cannot_be_a_world() {
    // (accounts, bind address) → the refusal.
    let cases: Vec<(Vec<AccountSpec>, IpAddr, &str)> = vec![
        (
            specs(&["Acme"]),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "not a valid subdomain",
        ),
        (
            specs(&["acme", "acme"]),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "declared twice",
        ),
        (
            specs(&["acme"]),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "not a loopback address",
        ),
    ];
    crate::core::tls::install_crypto_provider();
    for (accounts, bind, why) in cases {
        let config = WorldConfig {
            bind,
            ..WorldConfig::default()
        };
        match World::start(config, accounts).await {
            Err(error) => assert!(error.to_string().contains(why), "{error}"),
            Ok(_) => panic!("started a world that is not one ({why})"),
        }
    }
    let world = world(specs(&["acme"])).await;
    for result in [
        world.stop_account("nobody").await,
        world.start_account("nobody").await,
        world.is_running("nobody").map(|_| ()),
    ] {
        assert!(matches!(result, Err(WorldError::UnknownAccount(ref name)) if name == "nobody"));
    }
}

#[tokio::test]
async fn a_stopped_account_refuses_connections_and_keeps_its_state_and_port() {
    let world = world(specs(&["acme", "globex"])).await;
    let acme = world.account("acme").unwrap();
    acme.open_invitation(Invitation {
        remote_subdomain: "globex".into(),
        ..Invitation::default()
    });
    let before = addr(&world, "acme");
    world.stop_account("acme").await.unwrap();
    assert!(!world.is_running("acme").unwrap());
    assert!(!accepts(before).await, "connections are refused");
    assert_eq!(acme.agreements().len(), 1, "its state is kept");
    // Stopping again records nothing new.
    world.stop_account("acme").await.unwrap();
    let stopped = world_events(&world)
        .iter()
        .filter(|e| *e == "acme stopped: connections are refused")
        .count();
    assert_eq!(stopped, 1);
    world.start_account("acme").await.unwrap();
    assert_eq!(addr(&world, "acme"), before, "the same port");
    assert_eq!(listed(before, "acme").await, 1);
}

#[tokio::test]
async fn a_restart_keeps_state_and_port_and_serves_again() {
    let world = world(specs(&["acme", "globex"])).await;
    world.account("acme").unwrap().open_invitation(Invitation {
        remote_subdomain: "globex".into(),
        ..Invitation::default()
    });
    let before = addr(&world, "acme");
    world.restart_account("acme").await.unwrap();
    assert!(world.is_running("acme").unwrap());
    assert_eq!(addr(&world, "acme"), before);
    assert_eq!(listed(before, "acme").await, 1);
    let events = world_events(&world);
    let tail: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "acme stopped: connections are refused",
            "acme started listening"
        ]
    );
}

#[test]
fn only_an_account_wide_down_for_good_closes_the_listener() {
    let table = [
        (FaultRule::to("acme", Fault::Down), true),
        (FaultRule::to("acme", Fault::Down).from("globex"), false),
        (
            FaultRule {
                remaining: Some(2),
                ..FaultRule::to("acme", Fault::Down)
            },
            false,
        ),
        (FaultRule::to("acme", Fault::Hang), false),
        (FaultRule::to("acme", Fault::Reset), false),
    ];
    for (rule, closes) in table {
        assert_eq!(closes_listener(&rule), closes, "{rule:?}");
    }
}

#[tokio::test]
async fn down_closes_the_listener_until_healed_on_the_same_port() {
    let world = world(specs(&["acme", "globex"])).await;
    let before = addr(&world, "globex");
    world
        .set_fault(FaultRule::to("globex", Fault::Down))
        .await
        .unwrap();
    assert!(!world.is_running("globex").unwrap());
    assert!(!accepts(before).await);
    assert_eq!(world.faults(), [FaultRule::to("globex", Fault::Down)]);
    let healed = world.heal("globex", None).await.unwrap();
    assert_eq!(healed, [FaultRule::to("globex", Fault::Down)]);
    assert!(world.is_running("globex").unwrap());
    assert_eq!(addr(&world, "globex"), before);
    assert!(accepts(before).await);
    assert!(world.faults().is_empty());
    // A `down` on one link leaves the listener open.
    world
        .set_fault(FaultRule::to("globex", Fault::Down).from("acme"))
        .await
        .unwrap();
    assert!(world.is_running("globex").unwrap());
    assert!(accepts(before).await);
}

#[tokio::test]
async fn shutdown_closes_every_listener() {
    let world = world(specs(&["acme", "globex"])).await;
    let addrs = [addr(&world, "acme"), addr(&world, "globex")];
    world.shutdown().await;
    for addr in addrs {
        assert!(!accepts(addr).await, "{addr}");
    }
}
