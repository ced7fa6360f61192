//! The model file format: round trip, every truncation, every byte flip, and
//! hand-made payloads with valid checksums but bad contents.

use fanzha_engine::text::{Model, ModelFormatError, TrainParams, train};

fn small_model() -> Model {
    let data = [
        ("您涉嫌洗钱请转入安全账户", "authority"),
        ("公安局通知配合资金审查", "authority"),
        ("兼职刷单日结佣金", "rebate"),
        ("点赞关注返利垫付", "rebate"),
        ("今晚一起吃饭吗", "正常"),
        ("明天记得带伞", "正常"),
    ];
    train(
        &data,
        &TrainParams {
            bucket_bits: 6,
            epochs: 10,
            ..TrainParams::default()
        },
    )
    .unwrap()
}

const HEADER: usize = 28;

/// A file around `payload` with correct header and payload checksums.
fn wrap(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"FZTXTMDL");
    h.extend_from_slice(&version.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    h.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let hc = crc32fast::hash(&h);
    h.extend_from_slice(&hc.to_le_bytes());
    h.extend_from_slice(payload);
    h
}

#[test]
fn round_trip_keeps_every_prediction() {
    let m = small_model();
    let mut bytes = Vec::new();
    m.save(&mut bytes).unwrap();
    assert_eq!(&bytes[..8], b"FZTXTMDL");
    let back = Model::load(bytes.as_slice()).unwrap();
    assert_eq!(back, m);
    for t in ["安全账户", "刷单", "吃饭", "", "🙂"] {
        assert_eq!(back.predict(t), m.predict(t));
    }
    // Our own wrapper reproduces the file exactly: the layout is as documented.
    assert_eq!(wrap(1, &bytes[HEADER..]), bytes);
}

#[test]
fn every_truncation_is_reported_as_truncated() {
    let bytes = small_model().to_bytes();
    for len in 0..bytes.len() {
        match Model::from_bytes(&bytes[..len]) {
            Err(ModelFormatError::Truncated { expected, found }) => {
                assert_eq!(found, len as u64, "at {len}");
                assert!(expected > found);
            }
            other => panic!("truncated at {len}: {other:?}"),
        }
    }
}

#[test]
fn every_byte_flip_is_detected() {
    let bytes = small_model().to_bytes();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            let err = Model::from_bytes(&b).expect_err("a flipped byte must not load");
            let ok = match i {
                0..8 => matches!(err, ModelFormatError::BadMagic),
                8..HEADER => matches!(err, ModelFormatError::HeaderChecksum),
                _ => matches!(err, ModelFormatError::Checksum { .. }),
            };
            assert!(ok, "byte {i} ^ {mask:#x}: {err:?}");
        }
    }
}

#[test]
fn bad_contents_behind_valid_checksums() {
    let good = small_model().to_bytes();
    let payload = &good[HEADER..];
    assert!(Model::from_bytes(&wrap(1, payload)).is_ok());

    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut p = payload.to_vec();
        f(&mut p);
        Model::from_bytes(&wrap(1, &p))
    };
    let malformed = |r: Result<Model, ModelFormatError>, what: &str| match r {
        Err(ModelFormatError::Malformed(m)) => assert!(m.contains(what), "{what}: got {m}"),
        other => panic!("{what}: {other:?}"),
    };
    // Spec bytes: min_n, max_n, bits, boundaries, head, reserved.
    malformed(edit(&|p| p[0] = 0), "spec");
    malformed(edit(&|p| p[1] = 9), "spec");
    malformed(edit(&|p| p[2] = 30), "spec");
    malformed(edit(&|p| p[3] = 2), "boundaries");
    malformed(edit(&|p| p[5] = 1), "reserved");
    // Label count (after 6 spec bytes and the 8-byte seed).
    malformed(
        edit(&|p| p[14..18].copy_from_slice(&1u32.to_le_bytes())),
        "label count",
    );
    malformed(
        edit(&|p| p[14..18].copy_from_slice(&u32::MAX.to_le_bytes())),
        "label count",
    );
    // First label's length, then its first byte.
    malformed(
        edit(&|p| p[18..22].copy_from_slice(&0u32.to_le_bytes())),
        "label length",
    );
    malformed(
        edit(&|p| p[18..22].copy_from_slice(&5000u32.to_le_bytes())),
        "label length",
    );
    malformed(edit(&|p| p[22] = 0xFF), "UTF-8");
    // Labels are "authority", "rebate", "正常": make the second sort before the first.
    malformed(edit(&|p| p[35] = b'a'), "sorted");
    // The first bias is right after the labels: 18 + (4+9) + (4+6) + (4+6) = 51.
    malformed(
        edit(&|p| p[51..55].copy_from_slice(&f32::NAN.to_le_bytes())),
        "non-finite",
    );
    malformed(
        edit(&|p| p[51..55].copy_from_slice(&f32::INFINITY.to_le_bytes())),
        "non-finite",
    );
    // The first scale: 3 biases later.
    malformed(
        edit(&|p| p[63..67].copy_from_slice(&(-1.0f32).to_le_bytes())),
        "negative scale",
    );
    malformed(edit(&|p| p.push(0)), "trailing");
    malformed(
        edit(&|p| {
            p.pop();
        }),
        "weights",
    );
    malformed(edit(&|p| p.truncate(10)), "seed");

    match Model::from_bytes(&wrap(2, payload)) {
        Err(ModelFormatError::UnsupportedVersion { found: 2 }) => {}
        other => panic!("version 2: {other:?}"),
    }
    // A header that claims a huge payload is refused before reading it.
    let mut huge = wrap(1, payload);
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    let hc = crc32fast::hash(&huge[..24]);
    huge[24..28].copy_from_slice(&hc.to_le_bytes());
    assert!(matches!(
        Model::from_bytes(&huge),
        Err(ModelFormatError::TooLarge { .. })
    ));
    assert!(matches!(
        Model::from_bytes(b"PK\x03\x04 not a model at all....."),
        Err(ModelFormatError::BadMagic)
    ));
}

struct Failing;
impl std::io::Write for Failing {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl std::io::Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("unplugged"))
    }
}

#[test]
fn io_errors_are_passed_on() {
    assert!(matches!(
        small_model().save(Failing),
        Err(ModelFormatError::Io(_))
    ));
    assert!(matches!(Model::load(Failing), Err(ModelFormatError::Io(_))));
}
