//! The test vectors published in docs/protocol.md, read from the document itself.

use station::protocol::{Direction, Message, Secret, parse};

#[test]
fn the_documented_vectors_verify_and_re_encode_exactly() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md")).unwrap();
    let block = doc.split("```vectors\n").nth(1).unwrap().split("```").next().unwrap();
    let secret =
        Secret::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap();
    let mut count = 0;
    for line in block.lines() {
        let (label, text) = line.split_once(' ').unwrap();
        let (direction, other) = match label {
            "S2T" => (Direction::ToStation, Direction::ToServer),
            "T2S" => (Direction::ToServer, Direction::ToStation),
            _ => panic!("unknown label in {line}"),
        };
        let message: Message = parse(text).unwrap().verify(&secret, direction).unwrap();
        assert_eq!(message.encode(&secret), text);
        assert!(parse(text).unwrap().verify(&secret, other).is_err());
        count += 1;
    }
    assert_eq!(count, 9);
}
