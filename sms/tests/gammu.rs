//! Gammu, a real third-party AT client, talks to an emulated modem through a pseudo-terminal: it identifies
//! the modem, sends an SMS that another subscriber receives, and reads the messages on the SIM.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sms::emulator::{Network, pty::Port};

fn gammu(config: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("gammu")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .expect("gammu is not installed: apt-get install gammu (scripts/install-tools does it)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gammu_identifies_sends_and_reads_through_a_pseudo_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(1);
    let port = Port::plug(network.add_modem("+41790000001", Some(500)), dir.path().join("ttyUSB0")).unwrap();
    let other = network.add_modem("+41790000002", None);
    let config = dir.path().join("gammurc");
    std::fs::write(
        &config,
        format!(
            "[gammu]\ndevice = {}\nconnection = at\nlogfile = {}\nlogformat = textall\n",
            port.path().display(),
            dir.path().join("gammu.log").display()
        ),
    )
    .unwrap();
    let run = |args: &'static [&'static str]| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || gammu(&config, args))
    };
    let log = || std::fs::read_to_string(dir.path().join("gammu.log")).unwrap_or_default();

    let (ok, out) = run(&["identify"]).await.unwrap();
    assert!(ok, "{out}\n{}", log());
    assert!(out.contains("Recharge"), "{out}");
    assert!(out.contains("350041790000001"), "IMEI in {out}");

    let (ok, out) = run(&["sendsms", "TEXT", "+41790000002", "-text", "Bonjour de Gammu"]).await.unwrap();
    assert!(ok, "{out}\n{}", log());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(other.stored(), 1, "the other subscriber received it");
    assert_eq!(port.modem().credit(), Some(490), "the prepaid SIM paid for it");

    network.inject("+41795556677", "+41790000001", "Réponse: clé 34586 rechargée").unwrap();
    let (ok, out) = run(&["getallsms"]).await.unwrap();
    assert!(ok, "{out}\n{}", log());
    assert!(out.contains("Réponse: clé 34586 rechargée"), "{out}");
    assert!(out.contains("+41795556677"), "{out}");
}
