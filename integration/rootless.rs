//! kist run by an ordinary user (`integration/common/users.rs`): rootless
//! mode, its state root, the user namespace made from the unprivileged
//! side, and isolation between users. This host has no cgroup delegated to
//! the users, so every container here runs without cgroups.

use crate::common::users::user;
use crate::common::Kist;

#[test]
fn rootless_run_as_user_maps_caller_to_root() {
    let u = user(1);
    let k = Kist::as_user(u);
    let b = k.bundle_sh("id -u; id -g; cat /proc/self/uid_map");
    let out = k.output(&b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    assert_eq!(lines.next(), Some("0"), "{out}");
    let map: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(map, ["0", &u.uid.to_string(), "1"], "{out}");
}
