//! `kist bundle`: bundles made from an image built here (no registry), with
//! a private layer store in the test's directory. runc has no such command:
//! every test is kist-only.
//!
//! The image has two layers: the suite's busybox rootfs plus some files
//! (gzip-compressed, as registries serve them), and a hand-written tar with
//! a whiteout, an opaque directory, a symlink and a hard link.

use crate::common::{bundle::make_rootfs, Kist, Output};
use crate::engines::image::{blob, mkdir, read, tar, write};
use crate::engines::sha256_hex;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One ustar entry: `kind` is the typeflag ('0' file, '1' hard link, '2'
/// symlink, '5' directory). Written by hand so that names the tar tools
/// would refuse (`../x`) can be made.
fn entry(out: &mut Vec<u8>, name: &str, kind: u8, body: &[u8], link: &str, mode: u32) {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut h, 0, name.as_bytes());
    put(&mut h, 100, format!("{mode:07o}\0").as_bytes());
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", body.len()).as_bytes());
    put(&mut h, 136, b"00000000000\0");
    put(&mut h, 148, b"        ");
    h[156] = kind;
    put(&mut h, 157, link.as_bytes());
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn end(mut t: Vec<u8>) -> Vec<u8> {
    t.extend_from_slice(&[0u8; 1024]);
    t
}

/// The second layer: whiteout, opaque dir, symlink, hard link.
fn top_layer() -> Vec<u8> {
    let mut t = Vec::new();
    entry(&mut t, "data/", b'5', b"", "", 0o755);
    entry(&mut t, "data/.wh.gone.txt", b'0', b"", "", 0o644);
    entry(&mut t, "opq/", b'5', b"", "", 0o755);
    entry(&mut t, "opq/.wh..wh..opq", b'0', b"", "", 0o644);
    entry(&mut t, "opq/new.txt", b'0', b"new\n", "", 0o644);
    entry(&mut t, "link-to-keep", b'2', b"", "/data/keep.txt", 0o777);
    entry(&mut t, "hard1", b'0', b"hard\n", "", 0o644);
    entry(&mut t, "hard2", b'1', b"", "hard1", 0o644);
    entry(&mut t, "etc/layer2", b'0', b"two\n", "", 0o644);
    end(t)
}

struct Image {
    /// The OCI layout directory.
    layout: PathBuf,
    blobs: PathBuf,
    layer_digests: Vec<String>,
    config_digest: String,
}

/// An OCI image layout (tagged `v1`) with the base layer gzip-compressed and
/// then the given uncompressed layers; also a docker-archive manifest.json.
fn build_image(k: &Kist, upper: &[Vec<u8>]) -> Image {
    let work = k.path("img");
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    mkdir(&blobs);
    let src = work.join("base");
    make_rootfs(&src);
    for (p, c) in [
        ("data/gone.txt", "gone\n"),
        ("data/keep.txt", "keep\n"),
        ("opq/old.txt", "old\n"),
    ] {
        mkdir(src.join(p).parent().expect("parent"));
        write(&src.join(p), c.as_bytes());
    }
    let base_tar = work.join("base.tar");
    tar(&src, &base_tar);
    let base = read(&base_tar);
    let st = Command::new("gzip")
        .arg("-n")
        .arg(&base_tar)
        .status()
        .expect("gzip");
    assert!(st.success());
    let base_gz = read(&work.join("base.tar.gz"));

    let mut diff_ids = vec![format!("sha256:{}", sha256_hex(&base))];
    let mut layers = vec![(
        blob(&blobs, &base_gz),
        "application/vnd.oci.image.layer.v1.tar+gzip",
    )];
    for l in upper {
        diff_ids.push(format!("sha256:{}", sha256_hex(l)));
        layers.push((blob(&blobs, l), "application/vnd.oci.image.layer.v1.tar"));
    }
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "Env": ["PATH=/bin:/usr/bin", format!("KIST_TEST_MARK={}", k.mark), "GREETING=hello"],
            "Entrypoint": ["sh", "-c"],
            "Cmd": ["echo from-image"],
            "WorkingDir": "/data",
            "User": "user",
            "StopSignal": "SIGQUIT",
            "Labels": {"org.example.label": "yes"}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    });
    let config = blob(&blobs, config.to_string().as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", config.0), "size": config.1},
        "layers": layers.iter().map(|((d, s), mt)| json!({
            "mediaType": mt, "digest": format!("sha256:{d}"), "size": s
        })).collect::<Vec<_>>()
    });
    let manifest = blob(&blobs, manifest.to_string().as_bytes());
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", manifest.0), "size": manifest.1,
        "annotations": {"org.opencontainers.image.ref.name": "v1"}
    }]});
    write(&layout.join("index.json"), index.to_string().as_bytes());
    write(
        &layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    Image {
        layout,
        blobs,
        layer_digests: layers.iter().map(|((d, _), _)| d.clone()).collect(),
        config_digest: config.0,
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `kist bundle --store <private> ARGS...`; a made bundle is unmounted at
/// drop whatever happens to the test.
fn bundle(k: &Kist, store: &Path, image: &str, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["bundle".to_string(), "--store".into(), s(store)];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(image.to_string());
    args.push(s(dir));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let rootfs = dir.join("rootfs");
    k.on_drop(move || {
        if let Ok(c) = std::ffi::CString::new(rootfs.as_os_str().as_encoded_bytes()) {
            // SAFETY: umount2 on a NUL-terminated path; MNT_DETACH never blocks.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    });
    k.cmd(&argv)
}

fn remove(k: &Kist, dir: &Path) -> Output {
    k.cmd(&["bundle", "--remove", &s(dir)])
}

fn is_mounted(p: &Path) -> bool {
    crate::common::cleanup::mounts_under(p)
        .iter()
        .any(|m| m == p)
}

/// The merged tree shows what the image spec says it must.
fn assert_image_content(rootfs: &Path) {
    assert!(
        !rootfs.join("data/gone.txt").exists(),
        "whiteout did not hide data/gone.txt"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("data/keep.txt")).expect("keep"),
        "keep\n"
    );
    assert!(
        !rootfs.join("opq/old.txt").exists(),
        "opaque dir did not hide opq/old.txt"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("opq/new.txt")).expect("new"),
        "new\n"
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("link-to-keep")).expect("symlink"),
        PathBuf::from("/data/keep.txt")
    );
    let (a, b) = (
        std::fs::metadata(rootfs.join("hard1")).expect("hard1"),
        std::fs::metadata(rootfs.join("hard2")).expect("hard2"),
    );
    assert_eq!(
        (a.dev(), a.ino()),
        (b.dev(), b.ino()),
        "hard2 is not a hard link of hard1"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/layer2")).expect("layer2"),
        "two\n"
    );
    assert!(rootfs.join("bin/busybox").is_file());
    // Times are the tar's (0 in the hand-written layer), directories' too.
    for p in ["opq/new.txt", "hard1", "opq"] {
        let m = std::fs::metadata(rootfs.join(p)).expect(p);
        assert_eq!(m.mtime(), 0, "{p}: mtime not taken from the layer");
    }
}

fn config(dir: &Path) -> Value {
    serde_json::from_slice(&read(&dir.join("config.json"))).expect("config.json")
}

#[test]
fn kist_only_bundle_from_layout_runs_a_container() {
    let k = Kist::new();
    let img = build_image(&k, &[top_layer()]);
    let store = k.dir.join("store");
    let dir = k.dir.join("b1");
    bundle(&k, &store, &format!("{}:v1", s(&img.layout)), &dir, &[]).ok();
    let rootfs = dir.join("rootfs");
    assert!(is_mounted(&rootfs), "rootfs is not a mount");
    assert_image_content(&rootfs);
    // Set-uid files of images are out of other users' reach.
    for p in [store.join("layers"), dir.join(".kist")] {
        let mode = std::fs::metadata(&p).expect("stat").mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", p.display());
    }

    let c = config(&dir);
    assert_eq!(c["process"]["args"], json!(["sh", "-c", "echo from-image"]));
    assert_eq!(c["process"]["cwd"], json!("/data"));
    assert_eq!(c["process"]["user"], json!({"uid": 1000, "gid": 1000}));
    assert!(c["process"]["env"]
        .as_array()
        .expect("env")
        .contains(&json!("GREETING=hello")));
    assert_eq!(
        c["annotations"]["org.opencontainers.image.stopSignal"],
        json!("SIGQUIT")
    );
    assert_eq!(c["annotations"]["org.example.label"], json!("yes"));
    k.cmd(&["check", "--bundle", &s(&dir)]).ok();

    // The bundle runs as made...
    let id = k.id("img");
    let o = k.cmd(&["run", "--bundle", &s(&dir), &id]).ok();
    assert_eq!(o.stdout.trim(), "from-image", "{}", o.describe());
    // ...and with another command: user, cwd, env and layers as the image says.
    let mut c = c;
    c["process"]["args"] = json!([
        "sh",
        "-c",
        "id -u; pwd; echo $GREETING; cat /etc/layer2 /opq/new.txt; ls /opq"
    ]);
    write(&dir.join("config.json"), c.to_string().as_bytes());
    let id = k.id("img");
    let o = k.cmd(&["run", "--bundle", &s(&dir), &id]).ok();
    assert_eq!(
        o.stdout,
        "1000\n/data\nhello\ntwo\nnew\nnew.txt\n",
        "{}",
        o.describe()
    );

    remove(&k, &dir).ok();
    assert!(!is_mounted(&rootfs));
    assert!(!dir.exists());
}

#[test]
fn kist_only_bundle_two_bundles_share_layers_writes_isolated() {
    let k = Kist::new();
    let img = build_image(&k, &[top_layer()]);
    let store = k.dir.join("store");
    let (a, b) = (k.dir.join("a"), k.dir.join("b"));
    bundle(&k, &store, &s(&img.layout), &a, &[]).ok();
    bundle(&k, &store, &s(&img.layout), &b, &[]).ok();
    let layers = std::fs::read_dir(store.join("layers"))
        .expect("store")
        .count();
    assert_eq!(layers, 2, "each layer is unpacked once for both bundles");

    // A container writes in a's rootfs: b and the store never see it.
    let mut c = config(&a);
    c["process"]["args"] = json!([
        "sh",
        "-c",
        "echo mine > /data/keep.txt; rm /etc/layer2; echo x > /new"
    ]);
    c["process"]["user"] = json!({"uid": 0, "gid": 0});
    write(&a.join("config.json"), c.to_string().as_bytes());
    let id = k.id("w");
    k.cmd(&["run", "--bundle", &s(&a), &id]).ok();
    assert_eq!(
        std::fs::read_to_string(a.join("rootfs/data/keep.txt")).expect("a"),
        "mine\n"
    );
    assert!(!a.join("rootfs/etc/layer2").exists());
    assert_image_content(&b.join("rootfs"));
    assert!(!b.join("rootfs/new").exists());
    // The writes live in a's own upper directory.
    assert!(a.join(".kist/upper/new").exists());
    for l in std::fs::read_dir(store.join("layers"))
        .expect("store")
        .flatten()
    {
        assert!(!l.path().join("new").exists());
        if l.path().join("data/keep.txt").exists() {
            assert_eq!(
                std::fs::read_to_string(l.path().join("data/keep.txt")).expect("lower"),
                "keep\n"
            );
        }
    }
    remove(&k, &a).ok();
    assert_image_content(&b.join("rootfs"));
    remove(&k, &b).ok();
    assert!(crate::common::cleanup::mounts_under(&k.dir).is_empty());
}

#[test]
fn kist_only_bundle_copy_is_a_plain_directory() {
    let k = Kist::new();
    // A third layer big enough for a progress line.
    let mut big = Vec::new();
    entry(&mut big, "big.bin", b'0', &vec![0u8; 9 << 20], "", 0o644);
    let img = build_image(&k, &[top_layer(), end(big)]);
    let store = k.dir.join("store");
    let dir = k.dir.join("c");
    let o = bundle(&k, &store, &s(&img.layout), &dir, &["--copy"]).ok();
    assert!(
        o.stderr.contains("unpacking layer 3/3"),
        "no progress line: {}",
        o.describe()
    );
    assert!(!is_mounted(&dir.join("rootfs")));
    assert_image_content(&dir.join("rootfs"));
    assert_eq!(
        std::fs::metadata(dir.join("rootfs/big.bin"))
            .expect("big")
            .len(),
        9 << 20
    );
    // A second bundle into a directory that is not empty: refused, untouched.
    let o = bundle(&k, &store, &s(&img.layout), &dir, &[]).fail();
    assert!(o.stderr.contains("not empty"), "{}", o.describe());
    assert!(dir.join("config.json").exists() && !is_mounted(&dir.join("rootfs")));
    let id = k.id("copy");
    let o = k.cmd(&["run", "--bundle", &s(&dir), &id]).ok();
    assert_eq!(o.stdout.trim(), "from-image");
    remove(&k, &dir).ok();
    assert!(!dir.exists());
}

#[test]
fn kist_only_bundle_remove_refuses_while_a_container_uses_it() {
    let k = Kist::new();
    let img = build_image(&k, &[top_layer()]);
    let store = k.dir.join("store");
    let dir = k.dir.join("r");
    bundle(&k, &store, &s(&img.layout), &dir, &[]).ok();
    let id = k.id("busy");
    k.cmd(&["create", "--bundle", &s(&dir), &id]).ok();
    remove(&k, &dir).fail().stderr_has(&id);
    assert!(
        is_mounted(&dir.join("rootfs")),
        "a refused --remove unmounted the rootfs"
    );
    k.delete_force(&id).ok();
    remove(&k, &dir).ok();
    assert!(crate::common::cleanup::mounts_under(&k.dir).is_empty());
    assert!(!dir.exists());
    // Not a bundle made by kist bundle: left alone.
    let other = k.bundle(&["true"]);
    remove(&k, &other.dir)
        .fail()
        .stderr_has("not made by kist bundle");
    assert!(other.dir.join("config.json").exists());
}

#[test]
fn kist_only_bundle_from_archives() {
    let k = Kist::new();
    let img = build_image(&k, &[top_layer()]);
    // docker-archive: manifest.json naming the same blobs, tar'd without index.json.
    let docker = k.path("docker");
    mkdir(&docker);
    let names: Vec<String> = img
        .layer_digests
        .iter()
        .map(|d| format!("blobs/sha256/{d}"))
        .collect();
    // docker save writes uncompressed layers: give it the base's tar.
    let base_gz = read(&img.blobs.join(&img.layer_digests[0]));
    let mut dec = Vec::new();
    gunzip(&k, &base_gz, &mut dec);
    mkdir(&docker.join("blobs/sha256"));
    let base_hex = sha256_hex(&dec);
    write(&docker.join(format!("blobs/sha256/{base_hex}")), &dec);
    let top = read(&img.blobs.join(&img.layer_digests[1]));
    write(&docker.join(&names[1]), &top);
    let cfg = read(&img.blobs.join(&img.config_digest));
    write(&docker.join(format!("{}.json", img.config_digest)), &cfg);
    let manifest = json!([{
        "Config": format!("{}.json", img.config_digest),
        "RepoTags": ["localhost/test:v1"],
        "Layers": ["layer0/layer.tar", names[1]]
    }]);
    write(
        &docker.join("manifest.json"),
        manifest.to_string().as_bytes(),
    );
    // As docker save writes it: `<id>/layer.tar`, here a symlink to the blob.
    mkdir(&docker.join("layer0"));
    std::os::unix::fs::symlink(
        format!("../blobs/sha256/{base_hex}"),
        docker.join("layer0/layer.tar"),
    )
    .expect("symlink");
    let docker_tar = k.path("docker.tar");
    tar(&docker, &docker_tar);
    let oci_tar = k.path("oci.tar");
    tar(&img.layout, &oci_tar);

    let store = k.dir.join("store");
    for (n, image) in [
        (0, format!("{}:v1", s(&oci_tar))),
        (1, format!("{}:v1", s(&docker_tar))),
    ] {
        let dir = k.dir.join(format!("arch{n}"));
        bundle(&k, &store, &image, &dir, &[]).ok();
        assert_image_content(&dir.join("rootfs"));
        remove(&k, &dir).ok();
    }
    // A tag that is not there is an error naming the tags that are.
    let dir = k.dir.join("notag");
    bundle(&k, &store, &format!("{}:nope", s(&oci_tar)), &dir, &[])
        .fail()
        .stderr_has("v1");
    assert!(!dir.exists());
}

fn gunzip(k: &Kist, gz: &[u8], out: &mut Vec<u8>) {
    let p = k.path("layer.gz");
    write(&p, gz);
    let o = Command::new("gzip")
        .arg("-dc")
        .arg(&p)
        .output()
        .expect("gzip -dc");
    assert!(o.status.success(), "gzip -dc");
    out.extend_from_slice(&o.stdout);
}

#[test]
fn kist_only_bundle_rejects_corrupt_blobs() {
    let k = Kist::new();
    for (what, victim) in [("layer", 1usize), ("base layer", 0), ("config", 99)] {
        let img = build_image(&k, &[top_layer()]);
        let name = if victim == 99 {
            img.config_digest.clone()
        } else {
            img.layer_digests[victim].clone()
        };
        let p = img.blobs.join(&name);
        let mut bytes = read(&p);
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        write(&p, &bytes);
        let store = k.path("store");
        let dir = k.dir.join(format!("corrupt-{victim}"));
        let o = bundle(&k, &store, &s(&img.layout), &dir, &[]).fail();
        assert!(
            o.stderr.contains("does not match")
                || o.stderr.contains("hashes to")
                || o.stderr.contains("gzip")
                || o.stderr.contains("corrupt"),
            "{what}: {}",
            o.describe()
        );
        assert!(
            !dir.exists(),
            "{what}: a failed bundle left {}",
            dir.display()
        );
        let kept = std::fs::read_dir(store.join("layers"))
            .map(|r| r.count())
            .unwrap_or(0);
        let wanted = if victim == 1 { 1 } else { 0 };
        assert_eq!(
            kept, wanted,
            "{what}: the corrupt layer (or a later one) reached the store"
        );
    }
}

#[test]
fn kist_only_bundle_refuses_escaping_paths() {
    let k = Kist::new();
    // `../` in a name, and a path through a symlink of the same layer.
    let mut dotdot = Vec::new();
    entry(&mut dotdot, "../escaped.txt", b'0', b"out\n", "", 0o644);
    let mut through = Vec::new();
    entry(&mut through, "evil", b'2', b"", "../../../..", 0o777);
    entry(&mut through, "evil/escaped2.txt", b'0', b"out\n", "", 0o644);
    let mut hard = Vec::new();
    entry(&mut hard, "h", b'1', b"", "../../../../etc/passwd", 0o644);
    for (what, layer, needle) in [
        ("dotdot", end(dotdot), "escapes the layer"),
        ("symlink", end(through), "symlink"),
        ("hardlink", end(hard), "escapes the layer"),
    ] {
        let img = build_image(&k, &[layer]);
        let store = k.path("store");
        let dir = k.dir.join(format!("esc-{what}"));
        bundle(&k, &store, &s(&img.layout), &dir, &[])
            .fail()
            .stderr_has(needle);
        assert!(!dir.exists());
        for p in [
            store.join("escaped.txt"),
            store.join("layers/escaped.txt"),
            store.join("tmp/escaped.txt"),
        ] {
            assert!(!p.exists(), "{what}: {} was written", p.display());
        }
        assert!(!Path::new("/escaped2.txt").exists());
        assert!(!store
            .join("tmp")
            .read_dir()
            .map(|mut r| r.next().is_some())
            .unwrap_or(false));
    }
}

#[test]
fn kist_only_bundle_with_more_layers_than_one_page_of_mount_options() {
    let k = Kist::new();
    // 70 layers: their lowerdir list no longer fits in mount(2)'s page.
    let mut layers = Vec::new();
    for n in 1..=70 {
        let mut t = Vec::new();
        entry(&mut t, "many/", b'5', b"", "", 0o755);
        entry(
            &mut t,
            &format!("many/l{n}"),
            b'0',
            format!("{n}\n").as_bytes(),
            "",
            0o644,
        );
        if n == 60 {
            entry(&mut t, "many/l5", b'0', b"overwritten\n", "", 0o644);
        }
        if n == 70 {
            entry(&mut t, "many/.wh.l1", b'0', b"", "", 0o644);
        }
        layers.push(end(t));
    }
    let img = build_image(&k, &layers);
    let store = k.dir.join("store");
    let dir = k.dir.join("many");
    bundle(&k, &store, &s(&img.layout), &dir, &[]).ok();
    let m = dir.join("rootfs/many");
    assert!(is_mounted(&dir.join("rootfs")));
    assert!(
        !m.join("l1").exists(),
        "the top layer's whiteout is not on top"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("l5")).expect("l5"),
        "overwritten\n"
    );
    assert_eq!(std::fs::read_to_string(m.join("l70")).expect("l70"), "70\n");
    assert_eq!(std::fs::read_dir(&m).expect("many").count(), 69);
    let id = k.id("many");
    let o = k.cmd(&["run", "--bundle", &s(&dir), &id]).ok();
    assert_eq!(o.stdout.trim(), "from-image");
    remove(&k, &dir).ok();
    assert!(!dir.exists());
}
