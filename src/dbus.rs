//! A small blocking D-Bus client for exactly what the systemd cgroup driver
//! (`cgroups::systemd`) needs: EXTERNAL auth over a unix socket, method
//! calls to systemd's manager, and its `JobRemoved` signal.
//!
//! Why not zbus: its connections run a socket-reader task on an executor;
//! by default zbus starts a thread to tick it ("internal executor"), and
//! with that turned off nothing reads the socket unless the caller ticks
//! the executor from another task, so a blocking call would deadlock (and
//! its async-io reactor may start a thread of its own). kist forks after
//! talking to systemd (`exec` into a unit's cgroup, `run`) and must have no
//! thread then; a synchronous client on one socket has none, and the few
//! signatures used here are short to marshal (youki made the same choice).
//!
//! Wire format: D-Bus specification, "Message Protocol", little endian.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A D-Bus value, with enough type information to marshal it (an empty
/// array still has an element signature).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    Path(String),
    Sig(String),
    /// Element signature, elements.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Double(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(e, _) => format!("a{e}"),
            Value::Struct(f) => {
                let inner: String = f.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::U32(v) => Some(*v),
            _ => None,
        }
    }
}

/// A `(sv)` property of systemd's unit API.
pub fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

/// The alignment of a value whose signature starts with `c`.
fn align_of(c: u8) -> usize {
    match c {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        _ => 8, // x t d ( {
    }
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

fn put(buf: &mut Vec<u8>, align: usize, bytes: &[u8]) {
    pad(buf, align);
    buf.extend_from_slice(bytes);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    pad(buf, 4);
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// Appends `v` to `buf`; offsets are from the start of the message, which
/// is where `buf` starts.
pub fn marshal(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Byte(b) => buf.push(*b),
        Value::Bool(b) => put(buf, 4, &u32::from(*b).to_le_bytes()),
        Value::I32(n) => put(buf, 4, &n.to_le_bytes()),
        Value::U32(n) => put(buf, 4, &n.to_le_bytes()),
        Value::I64(n) => put(buf, 8, &n.to_le_bytes()),
        Value::U64(n) => put(buf, 8, &n.to_le_bytes()),
        Value::Double(n) => put(buf, 8, &n.to_le_bytes()),
        Value::Str(s) | Value::Path(s) => put_str(buf, s),
        Value::Sig(s) => {
            buf.push(s.len() as u8);
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Array(elem, items) => {
            pad(buf, 4);
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            // The length counts from the first element, after its padding.
            pad(
                buf,
                align_of(elem.as_bytes().first().copied().unwrap_or(b'y')),
            );
            let start = buf.len();
            for i in items {
                marshal(buf, i);
            }
            let len = (buf.len() - start) as u32;
            buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        Value::Struct(fields) => {
            pad(buf, 8);
            for f in fields {
                marshal(buf, f);
            }
        }
        Value::Variant(inner) => {
            marshal(buf, &Value::Sig(inner.signature()));
            marshal(buf, inner);
        }
    }
}

/// Reads values from a message (offsets from its start, for alignment).
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Reader { data, pos }
    }

    fn bad(&self, what: &str) -> Error {
        Error::new(format!(
            "D-Bus: malformed message: {what} at byte {}",
            self.pos
        ))
    }

    fn align(&mut self, a: usize) -> Result<()> {
        let to = self.pos.div_ceil(a) * a;
        if to > self.data.len() {
            return Err(self.bad("truncated padding"));
        }
        self.pos = to;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or_else(|| self.bad("truncated value"))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        self.align(8)?;
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self, len: usize) -> Result<String> {
        let b = self.take(len + 1)?;
        if b[len] != 0 {
            return Err(self.bad("string without its NUL"));
        }
        String::from_utf8(b[..len].to_vec()).map_err(|_| self.bad("string not UTF-8"))
    }

    /// Reads one complete type from the front of `sig`; returns the value
    /// and the rest of the signature.
    pub fn read<'s>(&mut self, sig: &'s str) -> Result<(Value, &'s str)> {
        let c = *sig
            .as_bytes()
            .first()
            .ok_or_else(|| self.bad("empty signature"))?;
        let rest = &sig[1..];
        let v = match c {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'i' => Value::I32(self.u32()? as i32),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(self.u64()? as i64),
            b't' => Value::U64(self.u64()?),
            b'd' => Value::Double(f64::from_bits(self.u64()?)),
            b's' | b'o' => {
                let n = self.u32()? as usize;
                let s = self.string(n)?;
                if c == b's' {
                    Value::Str(s)
                } else {
                    Value::Path(s)
                }
            }
            b'g' => {
                let n = self.take(1)?[0] as usize;
                Value::Sig(self.string(n)?)
            }
            b'v' => {
                let n = self.take(1)?[0] as usize;
                let inner = self.string(n)?;
                let (v, left) = self.read(&inner)?;
                if !left.is_empty() {
                    return Err(self.bad("variant holding more than one type"));
                }
                Value::Variant(Box::new(v))
            }
            b'a' => {
                let elem_len = single_len(rest).ok_or_else(|| self.bad("array signature"))?;
                let elem = &rest[..elem_len];
                let n = self.u32()? as usize;
                self.align(align_of(elem.as_bytes()[0]))?;
                let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
                let end = end.ok_or_else(|| self.bad("array longer than the message"))?;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.read(elem)?.0);
                }
                return Ok((Value::Array(elem.to_string(), items), &rest[elem_len..]));
            }
            b'(' | b'{' => {
                let close = if c == b'(' { b')' } else { b'}' };
                self.align(8)?;
                let mut inner = rest;
                let mut fields = Vec::new();
                while inner.as_bytes().first() != Some(&close) {
                    if inner.is_empty() {
                        return Err(self.bad("unclosed struct signature"));
                    }
                    let (v, left) = self.read(inner)?;
                    fields.push(v);
                    inner = left;
                }
                return Ok((Value::Struct(fields), &inner[1..]));
            }
            _ => return Err(self.bad(&format!("unsupported type {:?}", c as char))),
        };
        Ok((v, rest))
    }

    /// Every value of a body with signature `sig`.
    pub fn read_all(&mut self, mut sig: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        while !sig.is_empty() {
            let (v, rest) = self.read(sig)?;
            out.push(v);
            sig = rest;
        }
        Ok(out)
    }
}

/// The length of the first complete type in `sig`.
fn single_len(sig: &str) -> Option<usize> {
    let b = sig.as_bytes();
    match *b.first()? {
        b'a' => single_len(&sig[1..]).map(|n| n + 1),
        b'(' | b'{' => {
            let mut depth = 0;
            for (i, c) in b.iter().enumerate() {
                match c {
                    b'(' | b'{' => depth += 1,
                    b')' | b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        _ => Some(1),
    }
}

pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

/// One received message, its header decoded.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub body: Vec<Value>,
}

/// What a method call is sent to.
pub struct Call<'a> {
    pub destination: Option<&'a str>,
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
    pub args: &'a [Value],
}

/// A whole method call message.
pub fn encode_call(serial: u32, c: &Call) -> Vec<u8> {
    let mut body = Vec::new();
    // The body starts 8-aligned, so its offsets align as in the message.
    for a in c.args {
        marshal(&mut body, a);
    }
    let sig: String = c.args.iter().map(Value::signature).collect();
    let field =
        |code: u8, v: Value| Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))]);
    let mut fields = vec![
        field(1, Value::Path(c.path.into())),
        field(2, Value::Str(c.interface.into())),
        field(3, Value::Str(c.member.into())),
    ];
    if let Some(d) = c.destination {
        fields.push(field(6, Value::Str(d.into())));
    }
    if !sig.is_empty() {
        fields.push(field(8, Value::Sig(sig)));
    }
    let mut msg = vec![b'l', METHOD_CALL, 0, 1];
    msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    msg.extend_from_slice(&serial.to_le_bytes());
    marshal(&mut msg, &Value::Array("(yv)".into(), fields));
    pad(&mut msg, 8);
    msg.extend_from_slice(&body);
    msg
}

/// The length of the whole message whose first 16 bytes are `head`.
pub fn message_len(head: &[u8; 16]) -> Result<usize> {
    if head[0] != b'l' {
        return Err(Error::new("D-Bus: big-endian messages are not supported"));
    }
    let body = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let fields = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
    let len = (16 + fields).div_ceil(8) * 8 + body;
    // The specification's limit: 128 MiB.
    if len > 128 << 20 {
        return Err(Error::new("D-Bus: message longer than 128 MiB"));
    }
    Ok(len)
}

/// Decodes a whole message.
pub fn decode(data: &[u8]) -> Result<Message> {
    if data.len() < 16 || data[0] != b'l' {
        return Err(Error::new("D-Bus: malformed message header"));
    }
    let mut m = Message {
        kind: data[1],
        ..Default::default()
    };
    let mut r = Reader::new(data, 12);
    let (fields, _) = r.read("a(yv)")?;
    let mut sig = String::new();
    if let Value::Array(_, fields) = fields {
        for f in fields {
            let Value::Struct(f) = f else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (f.first(), f.get(1)) else {
                continue;
            };
            let s = v.as_str().map(str::to_string);
            match code {
                1 => m.path = s,
                2 => m.interface = s,
                3 => m.member = s,
                4 => m.error_name = s,
                5 => m.reply_serial = v.as_u32(),
                8 => sig = s.unwrap_or_default(),
                _ => {}
            }
        }
    }
    r.align(8)?;
    m.body = r.read_all(&sig)?;
    Ok(m)
}

/// Which kind of socket: a bus daemon (the system bus, or a user's session
/// bus: needs `Hello`, routes signals only on `AddMatch`) or a systemd
/// instance's private socket (peer to peer with that manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Daemon,
    Private,
}

pub const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
pub const SYSTEMD_PRIVATE: &str = "/run/systemd/private";

/// A connection: one socket, no thread.
pub struct Conn {
    sock: UnixStream,
    bus: Bus,
    serial: u32,
    /// Signals that arrived while waiting for a reply.
    pending: Vec<Message>,
}

impl Conn {
    /// The system bus, or systemd's private socket when there is no bus
    /// daemon (as runc: a minimal host or an early boot).
    pub fn system() -> Result<Conn> {
        let path = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
            .ok()
            .and_then(|a| a.strip_prefix("unix:path=").map(str::to_string));
        let bus_path = path.as_deref().unwrap_or(SYSTEM_BUS);
        match Conn::open(Path::new(bus_path), Bus::Daemon) {
            Ok(c) => Ok(c),
            Err(e) => Conn::open(Path::new(SYSTEMD_PRIVATE), Bus::Private)
                .map_err(|e2| Error::new(format!("D-Bus: system bus: {e}; systemd: {e2}"))),
        }
    }

    /// The calling user's systemd instance (rootless `--systemd-cgroup`),
    /// found as runc finds it: the session bus of `$DBUS_SESSION_BUS_ADDRESS`,
    /// else `$XDG_RUNTIME_DIR/bus` when it exists; then, when there is no
    /// session bus (no dbus-user-session), the user manager's own private
    /// socket `$XDG_RUNTIME_DIR/systemd/private`, which `systemctl --user`
    /// uses too.
    pub fn user() -> Result<Conn> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let candidates = user_buses(
            env("DBUS_SESSION_BUS_ADDRESS").as_deref(),
            env("XDG_RUNTIME_DIR").as_deref(),
            |p| p.exists(),
        )?;
        let mut tried = Vec::new();
        for (path, bus) in candidates {
            match Conn::open(&path, bus) {
                Ok(c) => return Ok(c),
                Err(e) => tried.push(e.to_string()),
            }
        }
        Err(Error::new(format!(
            "D-Bus: the user's systemd instance: {} (is `systemctl --user` running for uid {}? `loginctl enable-linger` starts it without a login)",
            tried.join("; "),
            crate::rootless::host_euid()
        )))
    }

    pub fn open(path: &Path, bus: Bus) -> Result<Conn> {
        let sock = UnixStream::connect(path)
            .map_err(|e| Error::io(format!("connect to {}", path.display()), e))?;
        // A systemd that does not answer must not hang an engine's call.
        let t = Some(Duration::from_secs(60));
        sock.set_read_timeout(t)
            .and_then(|_| sock.set_write_timeout(t))
            .map_err(|e| Error::io("D-Bus socket timeout", e))?;
        let mut c = Conn {
            sock,
            bus,
            serial: 0,
            pending: Vec::new(),
        };
        c.auth()?;
        if bus == Bus::Daemon {
            c.call(&Call {
                destination: Some("org.freedesktop.DBus"),
                path: "/org/freedesktop/DBus",
                interface: "org.freedesktop.DBus",
                member: "Hello",
                args: &[],
            })?;
        }
        Ok(c)
    }

    pub fn bus(&self) -> Bus {
        self.bus
    }

    /// EXTERNAL auth, with BEGIN sent right behind AUTH as sd-bus's own
    /// client does. Sent only after OK, BEGIN can reach a systemd private
    /// socket in the same read as the first call: sd-bus then keeps that
    /// call in its buffer, unparsed, until more bytes arrive, and the call
    /// never gets a reply (seen with the user instance under emulation).
    fn auth(&mut self) -> Result<()> {
        let uid = crate::rootless::host_euid().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.sock
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes())
            .map_err(|e| Error::io("D-Bus auth: send", e))?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            return Err(Error::new(format!(
                "D-Bus auth: EXTERNAL refused: {line:?}"
            )));
        }
        Ok(())
    }

    /// One auth line, read byte by byte: nothing after it may be consumed.
    fn read_line(&mut self) -> Result<String> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            if out.len() > 4096 {
                return Err(Error::new("D-Bus auth: reply line too long"));
            }
            self.sock
                .read_exact(&mut b)
                .map_err(|e| Error::io("D-Bus auth: read", e))?;
            out.push(b[0]);
        }
        out.truncate(out.len() - 2);
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn recv(&mut self) -> Result<Message> {
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .map_err(|e| Error::io("D-Bus: read", e))?;
        let len = message_len(&head)?;
        let mut data = head.to_vec();
        data.resize(len, 0);
        self.sock
            .read_exact(&mut data[16..])
            .map_err(|e| Error::io("D-Bus: read", e))?;
        decode(&data)
    }

    /// Calls a method and returns the reply's body; a D-Bus error becomes
    /// an error carrying its name and message.
    pub fn call(&mut self, c: &Call) -> Result<Vec<Value>> {
        self.serial += 1;
        let serial = self.serial;
        self.sock
            .write_all(&encode_call(serial, c))
            .map_err(|e| Error::io(format!("D-Bus: call {}", c.member), e))?;
        loop {
            let m = self.recv()?;
            match m.kind {
                SIGNAL => self.pending.push(m),
                METHOD_RETURN if m.reply_serial == Some(serial) => return Ok(m.body),
                ERROR if m.reply_serial == Some(serial) => {
                    let text = m.body.first().and_then(Value::as_str).unwrap_or("");
                    return Err(Error::new(format!(
                        "{}: {} {text}",
                        c.member,
                        m.error_name.as_deref().unwrap_or("error")
                    )));
                }
                _ => {}
            }
        }
    }

    /// The next signal `want` accepts, from those already received first.
    pub fn wait_signal(&mut self, mut want: impl FnMut(&Message) -> bool) -> Result<Message> {
        if let Some(i) = self.pending.iter().position(&mut want) {
            return Ok(self.pending.remove(i));
        }
        loop {
            let m = self.recv()?;
            if m.kind == SIGNAL && want(&m) {
                return Ok(m);
            }
        }
    }
}

/// Where to look for the user's systemd, in order (see [`Conn::user`]):
/// `session` is `$DBUS_SESSION_BUS_ADDRESS`, `runtime_dir`
/// `$XDG_RUNTIME_DIR`.
fn user_buses(
    session: Option<&str>,
    runtime_dir: Option<&str>,
    exists: impl Fn(&Path) -> bool,
) -> Result<Vec<(PathBuf, Bus)>> {
    let mut out = Vec::new();
    if let Some(a) = session {
        let p = unix_path(a).ok_or_else(|| {
            Error::new(format!(
                "D-Bus: DBUS_SESSION_BUS_ADDRESS {a:?}: kist connects only to unix:path= addresses"
            ))
        })?;
        out.push((p, Bus::Daemon));
    }
    if let Some(d) = runtime_dir {
        let d = Path::new(d);
        if session.is_none() && exists(&d.join("bus")) {
            out.push((d.join("bus"), Bus::Daemon));
        }
        out.push((d.join("systemd/private"), Bus::Private));
    }
    if out.is_empty() {
        return Err(Error::new(
            "D-Bus: the user's systemd instance: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set",
        ));
    }
    Ok(out)
}

/// The socket path of the first `unix:path=` address of a D-Bus address
/// list (`;`-separated, values %-escaped).
fn unix_path(addresses: &str) -> Option<PathBuf> {
    addresses.split(';').find_map(|a| {
        let keys = a.strip_prefix("unix:")?;
        let v = keys.split(',').find_map(|kv| kv.strip_prefix("path="))?;
        let b = v.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_bus_addresses() {
        assert_eq!(
            unix_path("unix:path=/run/user/1000/bus"),
            Some(PathBuf::from("/run/user/1000/bus"))
        );
        assert_eq!(
            unix_path("tcp:host=x;unix:guid=ab,path=/tmp/a%20b,x=y"),
            Some(PathBuf::from("/tmp/a b"))
        );
        assert_eq!(unix_path("unix:abstract=/tmp/dbus-x"), None);
        assert_eq!(unix_path("unix:path=/bad%2"), None);
        let none = |_: &Path| false;
        let all = |_: &Path| true;
        let b = user_buses(Some("unix:path=/s"), Some("/run/user/7"), all).unwrap();
        assert_eq!(
            b,
            vec![
                (PathBuf::from("/s"), Bus::Daemon),
                (PathBuf::from("/run/user/7/systemd/private"), Bus::Private)
            ]
        );
        let b = user_buses(None, Some("/run/user/7"), all).unwrap();
        assert_eq!(b[0], (PathBuf::from("/run/user/7/bus"), Bus::Daemon));
        assert_eq!(b.len(), 2);
        let b = user_buses(None, Some("/run/user/7"), none).unwrap();
        assert_eq!(
            b,
            vec![(PathBuf::from("/run/user/7/systemd/private"), Bus::Private)]
        );
        let e = user_buses(Some("unix:abstract=/x"), None, all).unwrap_err();
        assert!(e.to_string().contains("DBUS_SESSION_BUS_ADDRESS"), "{e}");
        assert!(user_buses(None, None, all).is_err());
    }

    #[test]
    fn marshal_matches_the_specification() {
        // "s" then "u": string padded, then the u32 aligned to 4.
        let mut b = Vec::new();
        marshal(&mut b, &Value::Str("ab".into()));
        marshal(&mut b, &Value::U32(7));
        assert_eq!(b, [2, 0, 0, 0, b'a', b'b', 0, 0, 7, 0, 0, 0]);
        // An array of u64 starts its elements 8-aligned; the length
        // excludes that padding.
        let mut b = Vec::new();
        marshal(&mut b, &Value::Array("t".into(), vec![Value::U64(1)]));
        assert_eq!(b, [8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        // An empty array of structs still pads to 8.
        let mut b = Vec::new();
        marshal(&mut b, &Value::Array("(sv)".into(), vec![]));
        assert_eq!(b, [0, 0, 0, 0, 0, 0, 0, 0]);
        // A variant: its signature, then the value aligned in the message.
        let mut b = vec![0u8];
        marshal(&mut b, &Value::Variant(Box::new(Value::Bool(true))));
        assert_eq!(b, [0, 1, b'b', 0, 1, 0, 0, 0]);
    }

    #[test]
    fn marshal_device_allow() {
        // DeviceAllow's variant a(ss): signature "a(ss)", the array length
        // (after it the struct pads to 8), each struct 8-aligned.
        let v = Value::Variant(Box::new(Value::Array(
            "(ss)".into(),
            vec![
                Value::Struct(vec![Value::Str("char-*".into()), Value::Str("m".into())]),
                Value::Struct(vec![Value::Str("a".into()), Value::Str("rw".into())]),
            ],
        )));
        let mut b = Vec::new();
        marshal(&mut b, &v);
        #[rustfmt::skip]
        let want: &[u8] = &[
            5, b'a', b'(', b's', b's', b')', 0, // signature
            0, // pad to 4
            39, 0, 0, 0, // array length, from the first struct (16..55)
            // the first struct 8-aligned: 12 pads to 16
            0, 0, 0, 0,
            6, 0, 0, 0, b'c', b'h', b'a', b'r', b'-', b'*', 0, // 16..27
            0, // pad to 28
            1, 0, 0, 0, b'm', 0, // 28..34
            0, 0, 0, 0, 0, 0, // 34 pads to 40 (8)
            1, 0, 0, 0, b'a', 0, // 40..46
            0, 0, // pad to 48 (4)
            2, 0, 0, 0, b'r', b'w', 0, // 48..55
        ];
        assert_eq!(b, want);
        let mut r = Reader::new(&b, 0);
        assert_eq!(r.read_all("v").unwrap(), [v]);
    }

    #[test]
    fn signatures() {
        let v = Value::Array(
            "(sv)".into(),
            vec![prop("PIDs", Value::Array("u".into(), vec![Value::U32(1)]))],
        );
        assert_eq!(v.signature(), "a(sv)");
        assert_eq!(single_len("a(sa(sv))s"), Some(9));
        assert_eq!(single_len("(uo)x"), Some(4));
        assert_eq!(single_len("(u"), None);
    }

    #[test]
    fn round_trip() {
        let args = vec![
            Value::Str("kist-x.scope".into()),
            Value::Str("replace".into()),
            Value::Array(
                "(sv)".into(),
                vec![
                    prop("Description", Value::Str("kist container x".into())),
                    prop("PIDs", Value::Array("u".into(), vec![Value::U32(42)])),
                    prop("Delegate", Value::Bool(true)),
                    prop("MemoryMax", Value::U64(1 << 30)),
                    prop(
                        "AllowedCPUs",
                        Value::Array("y".into(), vec![Value::Byte(3)]),
                    ),
                    prop(
                        "DeviceAllow",
                        Value::Array(
                            "(ss)".into(),
                            vec![Value::Struct(vec![
                                Value::Str("/dev/null".into()),
                                Value::Str("rwm".into()),
                            ])],
                        ),
                    ),
                ],
            ),
            Value::Array("(sa(sv))".into(), vec![]),
        ];
        let msg = encode_call(
            9,
            &Call {
                destination: Some("org.freedesktop.systemd1"),
                path: "/org/freedesktop/systemd1",
                interface: "org.freedesktop.systemd1.Manager",
                member: "StartTransientUnit",
                args: &args,
            },
        );
        let mut head = [0u8; 16];
        head.copy_from_slice(&msg[..16]);
        assert_eq!(message_len(&head).unwrap(), msg.len());
        let m = decode(&msg).unwrap();
        assert_eq!(m.kind, METHOD_CALL);
        assert_eq!(msg[8..12], 9u32.to_le_bytes());
        assert_eq!(m.member.as_deref(), Some("StartTransientUnit"));
        assert_eq!(m.path.as_deref(), Some("/org/freedesktop/systemd1"));
        assert_eq!(m.body, args);
    }

    #[test]
    fn decodes_a_job_removed_signal() {
        // The signal as systemd sends it: (uoss) id, job, unit, result;
        // built with the same header layout a daemon uses.
        let body = [
            Value::U32(77),
            Value::Path("/org/freedesktop/systemd1/job/77".into()),
            Value::Str("kist-x.scope".into()),
            Value::Str("done".into()),
        ];
        let mut msg = encode_call(
            3,
            &Call {
                destination: None,
                path: "/org/freedesktop/systemd1",
                interface: "org.freedesktop.systemd1.Manager",
                member: "JobRemoved",
                args: &body,
            },
        );
        msg[1] = SIGNAL;
        let m = decode(&msg).unwrap();
        assert_eq!(m.kind, SIGNAL);
        assert_eq!(m.body[3], Value::Str("done".into()));
        assert_eq!(m.body[1].as_str(), Some("/org/freedesktop/systemd1/job/77"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        let msg = encode_call(
            1,
            &Call {
                destination: None,
                path: "/a",
                interface: "b.c",
                member: "D",
                args: &[Value::Str("x".into())],
            },
        );
        for cut in [3, 16, 20, msg.len() - 1] {
            assert!(decode(&msg[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = msg.clone();
        bad[0] = b'B';
        assert!(decode(&bad).is_err());
    }

    /// Against a real bus: a private dbus-daemon (no root needed). Hello,
    /// a call with a string argument and a u32 reply, the NameAcquired
    /// signal the daemon sends after Hello, and an error reply.
    #[test]
    fn talks_to_a_real_dbus_daemon() {
        let dir = std::env::temp_dir().join(format!("kist-dbus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("bus");
        let mut daemon = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address=unix:path={}", sock.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon, hack/install-deps)");
        for _ in 0..200 {
            if sock.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let res = (|| -> Result<()> {
            let mut c = Conn::open(&sock, Bus::Daemon)?;
            fn bus<'a>(member: &'a str, args: &'a [Value]) -> Call<'a> {
                Call {
                    destination: Some("org.freedesktop.DBus"),
                    path: "/org/freedesktop/DBus",
                    interface: "org.freedesktop.DBus",
                    member,
                    args,
                }
            }
            let sig = c.wait_signal(|m| m.member.as_deref() == Some("NameAcquired"))?;
            let me = sig.body[0].as_str().unwrap_or("").to_string();
            assert!(me.starts_with(':'), "{me}");
            let pid = c.call(&bus("GetConnectionUnixProcessID", &[Value::Str(me)]))?;
            assert_eq!(pid, vec![Value::U32(std::process::id())]);
            let names = c.call(&bus("ListNames", &[]))?;
            assert!(matches!(&names[0], Value::Array(e, n) if e == "s" && !n.is_empty()));
            let e = c.call(&bus("NoSuchMethod", &[])).unwrap_err();
            assert!(e.to_string().contains("UnknownMethod"), "{e}");
            Ok(())
        })();
        let _ = daemon.kill();
        let _ = daemon.wait();
        let _ = std::fs::remove_dir_all(&dir);
        res.unwrap();
    }
}
