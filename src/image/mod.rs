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
