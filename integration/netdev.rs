//! `linux.netDevices` (runtime-spec 1.3): a host interface moved into the
//! container's network namespace, renamed, keeping its addresses. The test
//! makes a veth pair whose peer sits in a private network namespace, so the
//! host's own interfaces are never touched.

use crate::common::{clean_failure, netns, unique, Kist};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

fn ip(args: &[&str]) -> (bool, String) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// A host end `kdN` with two addresses, its peer in netns `ns`.
fn veth(k: &Kist, ns: &str) -> (String, String) {
    let tag: String = unique().chars().filter(|c| c.is_ascii_digit()).collect();
    let tag = &tag[tag.len().saturating_sub(8)..];
    let (host, peer) = (format!("kd{tag}"), format!("kp{tag}"));
    let ns_name = ns.rsplit('/').next().expect("netns name").to_string();
    let (ok, out) = ip(&[
        "link", "add", &host, "type", "veth", "peer", "name", &peer, "netns", &ns_name,
    ]);
    assert!(ok, "ip link add: {out}");
    let h = host.clone();
    k.on_drop(move || {
        let _ = Command::new("ip").args(["link", "del", &h]).output();
    });
    for a in [
        vec!["addr", "add", "10.250.7.1/24", "dev", &host],
        vec!["-6", "addr", "add", "fd00:7:7::1/64", "dev", &host, "nodad"],
    ] {
        let (ok, out) = ip(&a);
        assert!(ok, "ip {a:?}: {out}");
    }
    (host, peer)
}

#[test]
fn net_device_moved_in_renamed_with_its_addresses() {
    let k = Kist::new();
    let ns = netns(&k);
    let ns_name = ns.rsplit('/').next().expect("netns name").to_string();
    let (host, peer) = veth(&k, &ns);
    let mut b = k.bundle(&["sleep", "100"]);
    b.config["linux"]["netDevices"] = json!({ host.clone(): {"name": "ctr0"} });
    let id = k.id("netdev");
    k.create(&b, &id).ok();

    // Gone from the host while the container exists...
    let (ok, _) = ip(&["link", "show", &host]);
    assert!(!ok, "{host} still on the host");
    // ...and inside, renamed, up, with both addresses.
    let out = k
        .cmd(&["exec", &id, "ip", "addr", "show", "dev", "ctr0"])
        .ok()
        .stdout;
    assert!(out.contains("10.250.7.1/24"), "{out}");
    assert!(out.contains("fd00:7:7::1/64"), "{out}");
    assert!(out.contains("UP"), "{out}");
    let out = k.cmd(&["exec", &id, "ip", "link"]).ok().stdout;
    assert!(!out.contains(&host), "host name visible inside: {out}");

    // As runc (the spec leaves it to the kernel): when the container's
    // network namespace goes, a virtual device is destroyed, so the peer
    // disappears with it.
    k.delete_force(&id).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ip(&["-n", &ns_name, "link", "show", &peer]).0 {
        assert!(
            Instant::now() < deadline,
            "veth peer {peer} outlived the container"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!ip(&["link", "show", &host]).0);

    let f: serde_json::Value =
        serde_json::from_str(&k.cmd(&["features"]).ok().stdout).expect("features");
    assert_eq!(f["linux"]["netDevices"]["enabled"], json!(true), "{f}");
    assert_eq!(f["ociVersionMax"], json!("1.3.0"), "{f}");
}

/// Also with a user namespace: the container's network namespace then
/// belongs to it, and the runtime still moves the device from the host.
#[test]
fn net_device_keeps_its_name_without_one() {
    let k = Kist::new();
    let ns = netns(&k);
    let (host, _) = veth(&k, &ns);
    let mut b = k.bundle(&["ip", "-4", "-o", "addr", "show", "dev", &host]);
    b.config["linux"]["netDevices"] = json!({ host.clone(): {} });
    b.set_namespace(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
    let out = k.output(&b);
    assert!(
        out.contains(&host) && out.contains("inet 10.250.7.1/24"),
        "{out}"
    );
}

#[test]
fn bad_net_devices_are_rejected_naming_the_device() {
    let k = Kist::new();
    let ns = netns(&k);
    let (host, _) = veth(&k, &ns);
    let cases = [
        (
            json!({"kistnope0": {}}),
            "linux.netDevices[\"kistnope0\"]: no network interface",
            true,
        ),
        (
            json!({ host.clone(): {"name": "a/b"} }),
            "linux.netDevices[\"",
            true,
        ),
        (
            json!({ host.clone(): {"name": "averyveryverylongname"} }),
            ".name: \"averyveryverylongname\": must be 1 to 15 bytes",
            true,
        ),
        (
            json!({ host.clone(): {} }),
            "linux.netDevices: the container needs its own network namespace",
            false,
        ),
    ];
    for (devs, want, with_netns) in cases {
        let mut b = k.bundle(&["true"]);
        b.config["linux"]["netDevices"] = devs;
        if !with_netns {
            b.remove_namespace("network");
        }
        let id = k.id("badnetdev");
        let o = k.run(&b, &id);
        clean_failure(&o);
        assert!(o.stderr.contains(want), "want {want:?}:\n{}", o.describe());
        k.assert_gone(&id);
        // The device was left where it was.
        assert!(ip(&["link", "show", &host]).0, "{host} lost");
    }
}
