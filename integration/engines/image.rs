//! The test images, built by the suite itself since no registry is reachable.
//!
//! One tarball serves all three engines: it is an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/...`) for `ctr images import` and `podman load`,
//! and it also carries the `manifest.json` of a docker-archive pointing at the
//! same blobs, which is what `docker load` of Docker 20.10 reads (it predates
//! OCI-layout loading). The single uncompressed layer is the suite's busybox
//! rootfs (the same one the runtime tests use, with `user` as uid 1000).

use super::super::common::Bundle;
use super::sha256_hex;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name every engine knows the image by after loading it.
pub const IMAGE: &str = "localhost/kist-busybox:test";

/// The sandbox ("pause") image of the CRI tests: the same layer, whose
/// entrypoint sleeps until the sandbox is killed, as the real pause does.
pub const PAUSE: &str = "localhost/kist-pause:test";

/// Writes the image archive under `dir` and returns its path.
pub fn build(dir: &Path, mark: &str) -> PathBuf {
    build_images(dir, mark, &[(IMAGE, serde_json::json!({ "Cmd": ["sh"] }))])
}

/// The archive with [`IMAGE`] and [`PAUSE`]. The pause image's environment
/// carries the test's mark, so a sandbox process left behind is found by the
/// leak check like any container process (CRI gives the pause no env of its own).
pub fn build_with_pause(dir: &Path, mark: &str) -> PathBuf {
    build_images(
        dir,
        mark,
        &[
            (IMAGE, serde_json::json!({ "Cmd": ["sh"] })),
            (
                PAUSE,
                serde_json::json!({
                    "Entrypoint": ["sleep", "inf"],
                    "Env": [format!("KIST_TEST_MARK={mark}")]
                }),
            ),
        ],
    )
}

/// One archive holding an image per `(name, config)`, all on the same layer;
/// `config` adds to (or replaces) the default `PATH`, `Cmd` and `WorkingDir`.
fn build_images(dir: &Path, mark: &str, images: &[(&str, serde_json::Value)]) -> PathBuf {
    let work = dir.join("image");
    let blobs = work.join("layout/blobs/sha256");
    mkdir(&blobs);
    let bundle = Bundle::new(&work.join("src"), &["sh"], mark);

    let layer_path = work.join("layer.tar");
    tar(&bundle.rootfs(), &layer_path);
    let layer = blob(&blobs, &read(&layer_path));

    let mut index_entries = Vec::new();
    let mut docker_entries = Vec::new();
    for (name, extra) in images {
        let mut image_config = serde_json::json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "WorkingDir": "/"
        });
        for (key, v) in extra.as_object().into_iter().flatten() {
            match (key.as_str(), v.as_array()) {
                ("Env", Some(more)) => {
                    if let Some(env) = image_config["Env"].as_array_mut() {
                        env.extend(more.iter().cloned());
                    }
                }
                _ => image_config[key] = v.clone(),
            }
        }
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": image_config,
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", layer.0)] },
            "history": [ { "created_by": "kist integration suite (integration/engines/image.rs)" } ]
        });
        let config = blob(&blobs, config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{}", config.0),
                "size": config.1
            },
            "layers": [ {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": format!("sha256:{}", layer.0),
                "size": layer.1
            } ]
        });
        let manifest = blob(&blobs, manifest.to_string().as_bytes());
        index_entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", manifest.0),
            "size": manifest.1,
            // containerd names the image after the first; podman after the second.
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": name
            }
        }));
        docker_entries.push(serde_json::json!({
            "Config": format!("blobs/sha256/{}", config.0),
            "RepoTags": [name],
            "Layers": [format!("blobs/sha256/{}", layer.0)]
        }));
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": index_entries });
    let layout = work.join("layout");
    write(&layout.join("index.json"), index.to_string().as_bytes());
    write(
        &layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    write(
        &layout.join("manifest.json"),
        serde_json::Value::Array(docker_entries)
            .to_string()
            .as_bytes(),
    );

    let archive = dir.join("image.tar");
    tar(&layout, &archive);
    let _ = std::fs::remove_dir_all(&work);
    archive
}

/// Stores `bytes` as a blob; returns (hex digest, size).
pub fn blob(blobs: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = sha256_hex(bytes);
    write(&blobs.join(&hex), bytes);
    (hex, bytes.len())
}

pub fn tar(src: &Path, out: &Path) {
    let st = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(src)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(
        st.success(),
        "tar -C {} -cf {}: {st}",
        src.display(),
        out.display()
    );
}

pub fn mkdir(p: &Path) {
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

pub fn write(p: &Path, b: &[u8]) {
    std::fs::write(p, b).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}
