//! `linux.netDevices` (runtime-spec 1.3): host network interfaces moved into
//! the container's network namespace, renamed there when asked, with their
//! permanent global addresses kept (the kernel drops addresses on a move),
//! and set up.
//!
//! Netlink is spoken with the rust-netlink crates' message types and their
//! plain blocking socket: no async runtime and no threads (the runtime forks
//! after this, and a forked multi-threaded process is undefined territory),
//! and no `ip` command (its presence, version and output format would become
//! part of the runtime's contract). Requests go from the runtime, which has
//! the privileges over both namespaces; the container's side is reached by
//! entering its network namespace for the socket only (setns is per thread,
//! and the runtime has one).

use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, Error, Result};

/// A device to move, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its name on the host (the entry's key).
    pub host: String,
    /// Its name in the container.
    pub name: String,
}

/// Longest interface name (IFNAMSIZ less the NUL).
const IFNAME_MAX: usize = 15;

/// The checked `linux.netDevices` of a configuration, in name order. Each
/// device must exist on the host now: the spec asks the runtime to check
/// that the move is possible before creating anything.
pub fn from_spec(spec: &Spec) -> Result<Vec<Device>> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out: Vec<Device> = Vec::new();
    let mut nl: Option<Netlink> = None;
    for host in keys {
        let field = format!("linux.netDevices[{host:?}]");
        check_ifname(host).map_err(|e| Error::new(format!("{field}: host name {e}")))?;
        let name = match map[host].name().as_deref() {
            None | Some("") => host.clone(),
            Some(n) => {
                check_ifname(n).map_err(|e| Error::new(format!("{field}.name: {e}")))?;
                n.to_string()
            }
        };
        if let Some(o) = out.iter().find(|d| d.name == name) {
            return Err(Error::new(format!(
                "{field}.name: {name:?} is also the name of linux.netDevices[{:?}]",
                o.host
            )));
        }
        let nl = match &nl {
            Some(n) => n,
            None => nl.insert(Netlink::new().context("linux.netDevices: netlink socket")?),
        };
        if nl.index_of(host).is_err() {
            return Err(Error::new(format!(
                "{field}: no network interface {host:?} on the host"
            )));
        }
        out.push(Device {
            host: host.clone(),
            name,
        });
    }
    if !out.is_empty() {
        let ns = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .and_then(|n| n.iter().find(|n| n.typ() == LinuxNamespaceType::Network));
        if ns.is_none() {
            return Err(Error::new(
                "linux.netDevices: the container needs its own network namespace (linux.namespaces has no \"network\")",
            ));
        }
    }
    Ok(out)
}

/// The kernel's rule for interface names (dev_valid_name).
fn check_ifname(n: &str) -> std::result::Result<(), String> {
    if n.is_empty() || n.len() > IFNAME_MAX {
        return Err(format!("{n:?}: must be 1 to {IFNAME_MAX} bytes"));
    }
    if n == "." || n == ".." || n.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!(
            "{n:?}: not a valid interface name (no '/', ':' or spaces, not . or ..)"
        ));
    }
    Ok(())
}

/// The network namespace the devices go to: the one given by path, else
/// the init's own (`/proc/<pid>/ns/net`, made with it). Never the runtime's.
pub fn target_netns(spec: &Spec, init: i32) -> Result<OwnedFd> {
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|n| n.iter().find(|n| n.typ() == LinuxNamespaceType::Network))
        .and_then(|n| n.path().clone())
        .unwrap_or_else(|| format!("/proc/{init}/ns/net").into());
    let fd = std::fs::File::open(&path).map(OwnedFd::from).map_err(|e| {
        Error::io(
            format!("linux.netDevices: open network namespace {path:?}"),
            e,
        )
    })?;
    let same = |a: &std::fs::Metadata, b: &std::fs::Metadata| {
        use std::os::unix::fs::MetadataExt;
        (a.dev(), a.ino()) == (b.dev(), b.ino())
    };
    let ours = std::fs::metadata("/proc/self/ns/net").context("stat /proc/self/ns/net")?;
    let theirs = std::fs::File::from(fd.try_clone().context("dup netns fd")?)
        .metadata()
        .context("stat container network namespace")?;
    if same(&ours, &theirs) {
        return Err(Error::new(
            "linux.netDevices: the container's network namespace is the runtime's own",
        ));
    }
    Ok(fd)
}

/// Moves every device into `netns`, renamed, with its permanent global
/// addresses, and sets it up.
pub fn move_all(devices: &[Device], netns: BorrowedFd<'_>) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let host = Netlink::new().context("linux.netDevices: netlink socket")?;
    let inside =
        Netlink::new_in(netns).context("linux.netDevices: netlink socket in the container")?;
    for d in devices {
        let field = format!("linux.netDevices[{:?}]", d.host);
        move_one(&host, &inside, d, netns).context(field)?;
    }
    Ok(())
}

fn move_one(host: &Netlink, inside: &Netlink, d: &Device, netns: BorrowedFd<'_>) -> Result<()> {
    let index = host
        .index_of(&d.host)
        .with_context(|| format!("find {:?} on the host", d.host))?;
    let addrs = host.addresses(index).context("read its addresses")?;
    // One request moves and renames, so the device never shows in the
    // container under its host name (which might be taken there).
    let mut link = LinkMessage::default();
    link.header.index = index;
    link.attributes
        .push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
    link.attributes.push(LinkAttribute::IfName(d.name.clone()));
    host.request(RouteNetlinkMessage::SetLink(link), 0)
        .with_context(|| {
            format!(
                "move into the container's network namespace as {:?}",
                d.name
            )
        })?;
    let index = inside
        .index_of(&d.name)
        .with_context(|| format!("find {:?} in the container", d.name))?;
    for a in addrs {
        let shown = a
            .attributes
            .iter()
            .find_map(|x| match x {
                AddressAttribute::Address(ip) | AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            })
            .map(|ip: IpAddr| format!("{ip}/{}", a.header.prefix_len))
            .unwrap_or_default();
        let mut m = AddressMessage::default();
        m.header = a.header.clone();
        m.header.index = index;
        m.attributes = a
            .attributes
            .into_iter()
            .filter(|x| {
                matches!(
                    x,
                    AddressAttribute::Address(_)
                        | AddressAttribute::Local(_)
                        | AddressAttribute::Broadcast(_)
                        | AddressAttribute::Flags(_)
                )
            })
            .collect();
        inside
            .request(
                RouteNetlinkMessage::NewAddress(m),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .with_context(|| format!("restore address {shown} on {:?}", d.name))?;
    }
    let mut up = LinkMessage::default();
    up.header.index = index;
    up.header.flags = LinkFlags::Up;
    up.header.change_mask = LinkFlags::Up;
    inside
        .request(RouteNetlinkMessage::SetLink(up), 0)
        .with_context(|| format!("set {:?} up", d.name))?;
    Ok(())
}

/// A NETLINK_ROUTE socket.
struct Netlink {
    sock: Socket,
}

impl Netlink {
    fn new() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).context("socket(NETLINK_ROUTE)")?;
        sock.bind_auto().context("bind netlink socket")?;
        sock.connect(&SocketAddr::new(0, 0))
            .context("connect netlink socket")?;
        Ok(Netlink { sock })
    }

    /// A socket of network namespace `ns`: made there, used from here.
    fn new_in(ns: BorrowedFd<'_>) -> Result<Netlink> {
        let ours = std::fs::File::open("/proc/self/ns/net").context("open /proc/self/ns/net")?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .context("enter the container's network namespace")?;
        let sock = Netlink::new();
        nix::sched::setns(ours.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .context("return to the runtime's network namespace")?;
        sock
    }

    /// Sends one request and reads its answers until the ACK or DONE; a
    /// NACK becomes the error.
    fn request(&self, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0; req.header.length as usize];
        req.serialize(&mut buf[..]);
        self.sock.send(&buf, 0).context("netlink send")?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full().context("netlink receive")?;
            let mut off = 0;
            while off < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| Error::new(format!("netlink: bad answer: {e}")))?;
                let len = m.header.length as usize;
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(_) => Err(Error::io("netlink", e.to_io())),
                        }
                    }
                    NetlinkPayload::InnerMessage(i) => out.push(i),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// The permanent, global-scope addresses of interface `index`: those
    /// an administrator configured, not the link-local or temporary ones
    /// the kernel makes itself.
    fn addresses(&self, index: u32) -> Result<Vec<AddressMessage>> {
        let mut all = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut q = AddressMessage::default();
            q.header.family = family;
            for m in self.request(RouteNetlinkMessage::GetAddress(q), NLM_F_DUMP)? {
                if let RouteNetlinkMessage::NewAddress(a) = m {
                    if a.header.index == index
                        && a.header.scope == AddressScope::Universe
                        && a.header.flags.contains(AddressHeaderFlags::Permanent)
                    {
                        all.push(a);
                    }
                }
            }
        }
        Ok(all)
    }

    fn index_of(&self, name: &str) -> Result<u32> {
        let mut q = LinkMessage::default();
        q.attributes.push(LinkAttribute::IfName(name.to_string()));
        for m in self.request(RouteNetlinkMessage::GetLink(q), 0)? {
            if let RouteNetlinkMessage::NewLink(l) = m {
                return Ok(l.header.index);
            }
        }
        Err(Error::new("no such interface"))
    }
}
