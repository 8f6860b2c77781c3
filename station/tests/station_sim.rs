//! The `station-sim` command as a person uses it: commands on standard input, answers on standard output.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn run(dir: &std::path::Path, script: &[(&str, u64)]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_station-sim"))
        .args(["--dir", dir.to_str().unwrap(), "--stations", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (line, pause_ms) in script {
        writeln!(stdin, "{line}").unwrap();
        std::thread::sleep(Duration::from_millis(*pause_ms));
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_top_up_is_stored_loaded_on_presentation_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(dir.path(), &[("send 2 34586 12.50", 500), ("present 2 34586", 300), ("keys", 0), ("quit", 0)]);
    assert!(out.contains("Server modem (+41790000001) on "), "{out}");
    assert!(out.contains("Station 2 on +41790000102: RC1-PROV:2:+41790000001:"), "{out}");
    assert!(out.contains("[station 2] stored top-up 1000001: key 34586, 12.50 CHF"), "{out}");
    assert!(out.contains("[station 2] -> RC1 RELOADED s=2 n="), "{out}");
    assert!(out.contains("|N° de clé 34586 |"), "{out}");
    assert!(out.contains("key 34586: 12.50 CHF"), "{out}");
    let secrets = std::fs::read_to_string(dir.path().join("stations.json")).unwrap();

    // Started again on the same directory: same secrets, the key and the logger remembered.
    let out = run(dir.path(), &[("log 2", 0), ("present 1 70000", 0), ("send 3 1 1", 0), ("quit", 0)]);
    assert_eq!(std::fs::read_to_string(dir.path().join("stations.json")).unwrap(), secrets);
    assert!(out.contains("tx 1000001  key 34586  +12.50 CHF  -> 12.50 CHF"), "{out}");
    assert!(out.contains("a key number is 0 to 65535, not 70000"), "{out}");
    assert!(out.contains("no station 3 (1 to 2)"), "{out}");
}
