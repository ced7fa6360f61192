//! The exports checked by the tools that consume them:
//!
//! * BIND's `named-checkzone` loads an RPZ zone of thousands of real domains;
//! * a real Unbound, on a free loopback port with no network, loads the zones
//!   and answers NXDOMAIN for a listed domain and its subdomains, redirects to
//!   the 劝阻 host under the redirect policy, and still resolves a benign name;
//! * the OASIS `stix2-validator` accepts an exported bundle, and the `stix2`
//!   Python library both loads our bundle and writes one that our parser reads.
//!
//! The tools are Debian's `bind9-utils` and `unbound`, and a Python venv with
//! `stix2-validator` and `stix2` named by `FANZHA_STIX_PYTHON` (`.ci/run`
//! makes it). Without a tool a test prints "skipped: …", unless `CI` is set,
//! where it fails.

mod intel_support;

use fanzha_app::intel::formats::{
    ExportFormat, ExportItem, ExportOptions, ImportFormat, ImportOptions, RpzPolicy, export, parse,
};
use fanzha_core::IndicatorKind;
use intel_support::{items_of, parse_shared, tool};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Confirmed domain items from the real 165 adblock list.
fn real_domains(n: usize) -> Vec<ExportItem> {
    let r = parse_shared("intel/tw165_scam_sites.adblock.txt", ImportFormat::Adblock, None);
    let mut items: Vec<ExportItem> = items_of(&r)
        .into_iter()
        .filter(|i| i.kind == IndicatorKind::Domain)
        .collect();
    items.truncate(n);
    assert_eq!(items.len(), n, "not enough domains in the list");
    items
}

fn domain_item(id: i64, value: &str) -> ExportItem {
    let mut it = real_domains(1).remove(0);
    it.id = id;
    it.value = value.to_string();
    it
}

#[test]
fn rpz_zone_passes_named_checkzone() {
    let Some(checkzone) = tool(
        "named-checkzone (Debian bind9-utils)",
        &["/usr/bin/named-checkzone", "named-checkzone"],
    ) else {
        return;
    };
    let items = real_domains(5000);
    let dir = tempfile::tempdir().unwrap();
    for (name, policy) in [
        ("nxdomain", RpzPolicy::NxDomain),
        ("nodata", RpzPolicy::NoData),
        (
            "redirect",
            RpzPolicy::Redirect {
                host: "warn.fanzha.example".into(),
            },
        ),
    ] {
        let o = ExportOptions {
            serial: 2025010101,
            policy,
            ..ExportOptions::default()
        };
        let out = export(ExportFormat::Rpz, &items, &o).unwrap();
        assert!(
            out.written >= 4990,
            "{name}: {} written, {:?}",
            out.written,
            out.skipped
        );
        let path = dir.path().join(format!("{name}.zone"));
        std::fs::write(&path, &out.bytes).unwrap();
        let res = Command::new(&checkzone)
            .arg(&o.origin)
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&res.stdout);
        eprintln!(
            "named-checkzone {name} ({} domains): {}",
            out.written,
            stdout.trim()
        );
        assert!(
            res.status.success() && stdout.contains("loaded serial 2025010101"),
            "named-checkzone rejected the {name} zone:\n{stdout}\n{}",
            String::from_utf8_lossy(&res.stderr)
        );
    }
}

/// A child process ended when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free for both UDP and TCP right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

#[derive(Debug, PartialEq)]
struct Answer {
    rcode: String,
    records: Vec<String>,
}

/// One A query over UDP; `None` on timeout.
fn query(port: u16, name: &str) -> Option<Answer> {
    use simple_dns::rdata::RData;
    use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, TYPE};
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let id = fastrand::u16(..);
    let mut q = Packet::new_query(id);
    q.set_flags(PacketFlag::RECURSION_DESIRED);
    q.questions.push(Question::new(
        Name::new_unchecked(name),
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    sock.send_to(&q.build_bytes_vec().unwrap(), ("127.0.0.1", port))
        .ok()?;
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    let p = Packet::parse(&buf[..n]).unwrap();
    assert_eq!(p.id(), id);
    let records = p
        .answers
        .iter()
        .map(|rr| match &rr.rdata {
            RData::A(a) => format!("{} A {}", rr.name, std::net::Ipv4Addr::from(a.address)),
            RData::CNAME(c) => format!("{} CNAME {}", rr.name, c.0),
            other => format!("{} {:?}", rr.name, other.type_code()),
        })
        .collect();
    Some(Answer {
        rcode: format!("{:?}", p.rcode()),
        records,
    })
}

#[test]
fn unbound_answers_from_the_rpz_zones() {
    let Some(unbound) = tool("unbound (Debian unbound)", &["/usr/sbin/unbound", "unbound"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Block zone: thousands of real domains plus a test domain.
    let mut block = real_domains(3000);
    let real = block[1234].value.clone();
    block.push(domain_item(900_001, "listed-fraud.example"));
    let block_opts = ExportOptions {
        serial: 42,
        ..ExportOptions::default()
    };
    let zone = export(ExportFormat::Rpz, &block, &block_opts).unwrap();
    std::fs::write(d.join("block.zone"), &zone.bytes).unwrap();

    // Redirect zone: sends people to the warning page host.
    let warn = vec![domain_item(900_002, "warn-me.example")];
    let warn_opts = ExportOptions {
        serial: 1,
        origin: "warn.rpz.fanzha.local.".into(),
        policy: RpzPolicy::Redirect {
            host: "warn.fanzha.test".into(),
        },
        ..ExportOptions::default()
    };
    std::fs::write(
        d.join("warn.zone"),
        export(ExportFormat::Rpz, &warn, &warn_opts).unwrap().bytes,
    )
    .unwrap();

    // The warning page host: served to the resolver itself (for-upstream), as
    // the center's own DNS would, so that the redirect resolves offline.
    std::fs::write(
        d.join("fanzha-test.zone"),
        "$ORIGIN fanzha.test.\n$TTL 60\n@ SOA localhost. hostmaster 1 3600 600 86400 60\n@ NS localhost.\nwarn A 192.0.2.99\n",
    )
    .unwrap();

    let port = free_port();
    let conf = format!(
        r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    use-syslog: no
    logfile: ""
    verbosity: 1
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    module-config: "respip iterator"
    access-control: 127.0.0.0/8 allow
    local-zone: "benign.test." static
    local-data: "benign.test. 60 IN A 192.0.2.10"
auth-zone:
    name: "fanzha.test."
    zonefile: "{dir}/fanzha-test.zone"
    for-downstream: no
    for-upstream: yes
    fallback-enabled: no
rpz:
    name: "rpz.fanzha.local."
    zonefile: "{dir}/block.zone"
rpz:
    name: "warn.rpz.fanzha.local."
    zonefile: "{dir}/warn.zone"
"#,
        dir = d.display()
    );
    let conf_path = d.join("unbound.conf");
    std::fs::write(&conf_path, conf).unwrap();
    if let Some(check) = tool(
        "unbound-checkconf",
        &["/usr/sbin/unbound-checkconf", "unbound-checkconf"],
    ) {
        let res = Command::new(check).arg(&conf_path).output().unwrap();
        assert!(
            res.status.success(),
            "unbound-checkconf: {}",
            String::from_utf8_lossy(&res.stdout)
        );
    }
    let log = std::fs::File::create(d.join("unbound.log")).unwrap();
    let child = Command::new(&unbound)
        .arg("-d")
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut server = Running(child);
    let log_text = || std::fs::read_to_string(d.join("unbound.log")).unwrap_or_default();

    let started = Instant::now();
    let benign = loop {
        if let Some(a) = query(port, "benign.test") {
            break a;
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("unbound exited with {status}:\n{}", log_text());
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "unbound did not answer:\n{}",
            log_text()
        );
    };
    eprintln!("unbound up after {:?} on port {port}", started.elapsed());
    assert_eq!(
        benign,
        Answer {
            rcode: "NoError".into(),
            records: vec!["benign.test A 192.0.2.10".into()]
        }
    );

    for name in [
        "listed-fraud.example",
        "www.listed-fraud.example",
        "a.b.listed-fraud.example",
        &real,
    ] {
        let a = query(port, name).unwrap_or_else(|| panic!("no answer for {name}"));
        eprintln!("{name}: {a:?}");
        assert_eq!(
            a.rcode,
            "NameError",
            "{name} should be NXDOMAIN: {a:?}\n{}",
            log_text()
        );
        assert!(a.records.is_empty());
    }
    let sub = format!("m.{real}");
    assert_eq!(
        query(port, &sub).map(|a| a.rcode),
        Some("NameError".into()),
        "{sub}"
    );

    for name in ["warn-me.example", "shop.warn-me.example"] {
        let a = query(port, name).unwrap_or_else(|| panic!("no answer for {name}"));
        eprintln!("{name}: {a:?}");
        assert_eq!(a.rcode, "NoError", "{a:?}\n{}", log_text());
        assert!(
            a.records.iter().any(|r| r.ends_with("CNAME warn.fanzha.test")),
            "{name} should be redirected to the warning host: {a:?}"
        );
        assert!(
            a.records.iter().any(|r| r == "warn.fanzha.test A 192.0.2.99"),
            "{a:?}"
        );
    }
    // A name the zones do not list is not blocked (it resolves locally here).
    let a = query(port, "benign.test").unwrap();
    assert_eq!(a.rcode, "NoError");
    drop(server);
}

fn stix_python() -> Option<PathBuf> {
    match std::env::var_os("FANZHA_STIX_PYTHON") {
        Some(p) if Path::new(&p).is_file() => Some(PathBuf::from(p)),
        other => {
            let why =
                format!("FANZHA_STIX_PYTHON ({other:?}) is not a Python with stix2-validator and stix2");
            if std::env::var_os("CI").is_some() {
                panic!("{why}; .ci/run creates it");
            }
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn run_python(py: &Path, script: &str, args: &[&Path]) -> (bool, String) {
    let res = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    (res.status.success(), text)
}

#[test]
fn stix_bundle_passes_the_oasis_validator() {
    let Some(py) = stix_python() else { return };
    let mut items = real_domains(1500);
    let r = parse_shared("intel/tw165_scam_sites.adblock.txt", ImportFormat::Adblock, None);
    items.extend(
        items_of(&r)
            .into_iter()
            .filter(|i| i.kind == IndicatorKind::Ip)
            .take(50),
    );
    let extra = parse(
        b"http://phish.example.com/login?next=%2Fhome\n2001:db8::/48\n\
          apk:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\
          cert:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89\n\
          13812345678\nwechat:scammer_01\n",
        &ImportOptions::new(ImportFormat::List),
    );
    let mut extra_items = items_of(&extra);
    extra_items[0].valid_until = Some(fanzha_core::Timestamp(1_800_000_000_000));
    extra_items[1].status = fanzha_app::intel::formats::IndicatorStatus::Revoked;
    for (i, it) in extra_items.iter_mut().enumerate() {
        it.id = 800_000 + i as i64;
    }
    items.extend(extra_items);
    let out = export(ExportFormat::Stix, &items, &ExportOptions::default()).unwrap();
    eprintln!("exported {} indicators, skipped {:?}", out.written, out.skipped);
    assert_eq!(
        out.written,
        items.len() - 2,
        "phone and social account have no STIX observable"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, &out.bytes).unwrap();
    let script = r#"
import sys, json
from stix2validator import validate_file, print_results, ValidationOptions
results = validate_file(sys.argv[1], ValidationOptions(version="2.1"))
print_results(results)
import stix2
bundle = stix2.parse(open(sys.argv[1]).read(), allow_custom=False)
kinds = {}
for o in bundle.objects:
    kinds[o.type] = kinds.get(o.type, 0) + 1
print("stix2 parsed:", json.dumps(kinds, sort_keys=True))
sys.exit(0 if results.is_valid else 1)
"#;
    let (ok, text) = run_python(&py, script, &[&path]);
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    eprintln!(
        "stix2-validator: {}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(ok, "stix2-validator rejected the bundle:\n{text}");
    assert!(
        text.contains(&format!("\"indicator\": {}", out.written)),
        "{text}"
    );
}

#[test]
fn stix2_library_bundle_imports() {
    let Some(py) = stix_python() else { return };
    let script = r#"
import stix2
t = "2024-05-01T00:00:00Z"
ident = stix2.Identity(name="Partner CERT", identity_class="organization")
objs = [ident,
  stix2.Indicator(name="fake exchange", description="seen in SMS", pattern="[domain-name:value = 'Evil-Invest.top']",
      pattern_type="stix", valid_from=t, valid_until="2025-05-01T00:00:00.5Z", labels=["fake_investment", "sms"],
      confidence=80, indicator_types=["malicious-activity"], created_by_ref=ident.id),
  stix2.Indicator(pattern="[url:value = 'http://phish.example.com/it\\'s'] OR [ipv4-addr:value = '198.51.100.0/24']",
      pattern_type="stix", valid_from=t),
  stix2.Indicator(pattern="[file:hashes.'SHA-256' = 'AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F']",
      pattern_type="stix", valid_from=t),
  stix2.Indicator(pattern="[ipv6-addr:value = '2001:db8::1' OR domain-name:value = 'b.example.com']", pattern_type="stix", valid_from=t),
  stix2.Indicator(pattern="[domain-name:value = 'a.example.com' AND ipv4-addr:value = '203.0.113.1']", pattern_type="stix", valid_from=t),
  stix2.Indicator(pattern="[domain-name:value = 'c.example.com'] FOLLOWEDBY [url:value = 'http://c.example.com/x']", pattern_type="stix", valid_from=t),
  stix2.Indicator(pattern="[domain-name:value = 'd.example.com'] WITHIN 60 SECONDS", pattern_type="stix", valid_from=t),
  stix2.Indicator(pattern="alert tcp any any -> any any (msg:\"x\";)", pattern_type="snort", valid_from=t),
]
print(stix2.Bundle(*objs).serialize(pretty=True))
"#;
    let res = Command::new(&py).arg("-c").arg(script).output().unwrap();
    assert!(
        res.status.success(),
        "stix2 failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    let ids: Vec<String> = json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let r = parse(&res.stdout, &ImportOptions::new(ImportFormat::Stix));
    eprintln!("{}", intel_support::summary("stix2 bundle", &r));
    assert!(r.error.is_none() && r.rejected.is_empty(), "{r:#?}");
    let got: Vec<(usize, IndicatorKind, &str)> = r
        .drafts
        .iter()
        .map(|d| (d.line, d.draft.kind, d.draft.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, IndicatorKind::Domain, "evil-invest.top"),
            (3, IndicatorKind::Url, "http://phish.example.com/it's"),
            (3, IndicatorKind::Ip, "198.51.100.0/24"),
            (
                4,
                IndicatorKind::App,
                "apk:aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
            ),
            (5, IndicatorKind::Ip, "2001:db8::1"),
            (5, IndicatorKind::Domain, "b.example.com"),
        ]
    );
    let first = &r.drafts[0].draft;
    assert_eq!(first.fraud_type, Some(fanzha_core::FraudType::FakeInvestment));
    assert_eq!(first.confidence, Some(80));
    assert_eq!(
        first.tags,
        vec!["malicious-activity".to_string(), "sms".to_string()]
    );
    assert_eq!(first.description.as_deref(), Some("fake exchange: seen in SMS"));
    assert_eq!(first.external_id.as_deref(), Some(ids[1].as_str()));
    assert_eq!(
        first.valid_from,
        fanzha_app::intel::formats::time::parse_rfc3339("2024-05-01T00:00:00Z")
    );
    assert_eq!(first.valid_until.map(|t| t.0 % 1000), Some(500));
    let unsupported: Vec<(usize, &str)> = r
        .unsupported
        .iter()
        .map(|u| (u.line, u.reason.key.as_str()))
        .collect();
    assert_eq!(
        unsupported,
        vec![
            (6, "intel.import.stix_pattern_unsupported"),
            (7, "intel.import.stix_pattern_unsupported"),
            (8, "intel.import.stix_pattern_unsupported"),
            (9, "intel.import.stix_pattern_type"),
        ]
    );
    assert_eq!(r.skipped.len(), 1, "the identity");
}
