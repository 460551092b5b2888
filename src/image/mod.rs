//! Images for `kist bundle`: reading an OCI image layout or an
//! oci-archive/docker-archive tar (`source`), unpacking its layers once into
//! a content-addressed store with every digest verified (`store`, `layer`),
//! and flattening layers into a plain directory for `--copy` (`flatten`).
//!
//! Layers are kept in overlayfs's own format (a whiteout is a 0/0 character
//! device, an opaque directory has `trusted.overlay.opaque=y`), so a bundle's
//! rootfs is one overlay mount over them.

pub mod digest;
pub mod flatten;
pub mod layer;
pub mod source;
pub mod store;
pub mod xattr;

#[cfg(test)]
mod tests {
    use super::{digest::Digest, layer, source};
    use std::path::{Path, PathBuf};

    #[test]
    fn digests_never_name_paths() {
        let hex = "a".repeat(64);
        assert!(Digest::parse(&format!("sha256:{hex}")).is_ok());
        for bad in [
            format!("sha512:{hex}"),
            "sha256:../../etc/passwd".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}/x", "a".repeat(62)),
            hex.clone(),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            Digest::of(b"").hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn layer_paths_stay_inside() {
        assert_eq!(
            layer::relative(Path::new("./a/b")).unwrap(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(
            layer::relative(Path::new("/a")).unwrap(),
            Some(PathBuf::from("a"))
        );
        assert_eq!(layer::relative(Path::new("./")).unwrap(), None);
        for bad in ["../x", "a/../../x", "a/.."] {
            assert!(layer::relative(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_refs() {
        let (p, t) = source::split_ref("/nonexistent/layout:v1");
        assert_eq!(
            (p, t.as_deref()),
            (PathBuf::from("/nonexistent/layout"), Some("v1"))
        );
        let (p, t) = source::split_ref("/nonexistent/a:b/layout");
        assert_eq!((p, t), (PathBuf::from("/nonexistent/a:b/layout"), None));
        assert!(source::names("v1", "v1"));
        assert!(source::names("localhost/busybox:v1", "v1"));
        assert!(!source::names("localhost:5000/busybox", "5000"));
        assert!(!source::names("v10", "v1"));
    }
}
