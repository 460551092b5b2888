//! Kubernetes' way: containerd 1.6's CRI plugin, driven with `crictl` (cri-tools
//! v1.26.1) as the kubelet drives it, running pods on kist through the runc v2
//! shim (`runtimes.kist.options.BinaryName`).
//!
//! Each test has its own containerd with the CRI plugin: private root, state,
//! socket, runtime root, streaming server on a random local port, network
//! namespaces under its state dir (`netns_mounts_under_state_dir`), pod cgroups
//! under `/<mark>`. No registry: the sandbox ("pause") image is the suite's
//! busybox with `sleep inf` as entrypoint, imported into the `k8s.io`
//! namespace before any pod is run, and containers are created with
//! `--no-pull`. Pods ask for `oom_score_adj` -998, which this machine's
//! missing CAP_SYS_RESOURCE forbids: `restrict_oom_score_adj = true`.
//!
//! Networking is Debian's `containernetworking-plugins`: `loopback` (which the
//! CRI adds itself) and `bridge` with `host-local` IPAM on a bridge and a /24
//! of 10.200-255.x.0 private to the test. The bridge holds the subnet's .1,
//! so the host reaches pods as the kubelet's probes do; pods get no default
//! route and no masquerade, so the traffic stays on this machine. IPAM's
//! `dataDir` is private too. `portmap` is left out: it would add NAT chains
//! to the host's global iptables tables that outlive the last pod. libcni
//! keeps its results in `/var/lib/cni/results/<network>-<sandbox>-<if>`
//! whatever the config says: the network name is the test's own, and the
//! files must be gone at the end.
//!
//! crictl is not packaged by Debian: it is found at `shared/tools/crictl` in
//! the first ancestor of the checkout that has it (`../shared/tools/crictl` in
//! CI), or at `KIST_CRICTL`.

use super::super::common::{cmd, Kist, Output};
use super::{image, kist_bin, strs, tool, wait_until, Daemon, PtyPair, Steps};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";
const CNI_BIN: &str = "/usr/lib/cni";
/// The namespace the CRI keeps its containers in; the shim appends it to the
/// runtime root.
const NS: &str = "k8s.io";
/// The most a stop, rm, stopp or rmp may take, with room for a loaded 2-core
/// machine: these take well under a second with runc, whereas a runtime the
/// shim cannot finish a container with makes them wait for their deadline.
const QUICK: Duration = Duration::from_secs(20);
/// crictl's own deadline for each call: above [`QUICK`], so a stall shows as
/// the time it took rather than as crictl giving up first.
const CRICTL_TIMEOUT: &str = "30s";

/// The CRI's `NamespaceMode` of a pod's or a container's pid namespace.
#[derive(Clone, Copy, PartialEq)]
enum Pid {
    /// The sandbox's (the pause container's) pid namespace.
    Pod = 0,
    /// The host's (`hostPID: true`).
    Node = 2,
}

/// The crictl binary, or None when it is missing and KIST_SKIP_ENGINES=1.
fn crictl_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KIST_CRICTL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|d| d.join("shared/tools/crictl"))
        .find(|p| p.exists());
    if found.is_none() && std::env::var("KIST_SKIP_ENGINES").as_deref() == Ok("1") {
        eprintln!("skipping: no shared/tools/crictl beside the checkout (KIST_SKIP_ENGINES=1)");
        return None;
    }
    Some(found.unwrap_or_else(|| {
        panic!(
            "crictl (cri-tools v1.26.1, static) not found at shared/tools/crictl in any parent of {}: put it there or set KIST_CRICTL (or KIST_SKIP_ENGINES=1 to skip engine tests)",
            env!("CARGO_MANIFEST_DIR")
        )
    }))
}

/// The test's `Kist` guard with its root where the shim makes kist keep the
/// CRI's containers: `<runtime_root>/k8s.io`.
fn cri_kist() -> Kist {
    let mut k = super::engine_kist();
    k.root = k.dir.join("runtime").join(NS);
    k
}

/// The test's private CNI network: a bridge, a /24 and the IPAM's store.
struct Net {
    name: String,
    bridge: String,
    /// "10.X.Y." of the test's 10.X.Y.0/24.
    prefix: String,
    ipam: PathBuf,
}

impl Net {
    fn new(k: &Kist) -> Net {
        static N: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        // Spread over 10.200-255.x.0/24 by process and test, skipping any /24
        // the host already routes (another test's bridge, a real network).
        let routes = std::process::Command::new("ip")
            .args(["-4", "route", "show", "table", "all"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let (n, prefix) = loop {
            let n = N.fetch_add(1, Ordering::SeqCst);
            let slot = (pid * 16 + n) % (56 * 256);
            let prefix = format!("10.{}.{}.", 200 + slot / 256, slot % 256);
            if !routes.contains(&prefix) {
                break (n, prefix);
            }
        };
        Net {
            name: k.mark.clone(),
            // IFNAMSIZ: at most 15 characters.
            bridge: format!("kcri{pid:x}x{n}"),
            prefix,
            ipam: k.path("cni-ipam"),
        }
    }

    fn conflist(&self) -> Value {
        json!({
            "cniVersion": "0.4.0",
            "name": self.name,
            "plugins": [ {
                "type": "bridge",
                "bridge": self.bridge,
                // The bridge gets .1 and the host a route to the /24, and no
                // more: the pods get no default route and no masquerade.
                "isGateway": true,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [ [ { "subnet": format!("{}0/24", self.prefix) } ] ],
                    "dataDir": self.ipam
                }
            } ]
        })
    }

    /// What the pods left on the network: veths still on the bridge, leased
    /// addresses, libcni results. Removes the bridge (the plugin never does)
    /// and the results of `pods`.
    fn clean_up(&self, pods: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        let o = std::process::Command::new("ip")
            .args(["-o", "link", "show", "master", &self.bridge])
            .output();
        if let Ok(o) = o {
            for l in String::from_utf8_lossy(&o.stdout).lines() {
                problems.push(format!("interface left on bridge {}: {l}", self.bridge));
            }
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .output();
        if let Ok(rd) = std::fs::read_dir(self.ipam.join(&self.name)) {
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if f.starts_with(&self.prefix) {
                    problems.push(format!(
                        "address {f} still leased in {}",
                        self.ipam.display()
                    ));
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir("/var/lib/cni/results") {
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if pods.iter().any(|p| f.contains(p.as_str())) {
                    problems.push(format!("CNI result {} left behind", e.path().display()));
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        problems
    }
}

/// A private containerd with its CRI plugin, and crictl pointed at it.
struct Cri<'a> {
    k: &'a Kist,
    crictl: PathBuf,
    sock: PathBuf,
    crictl_config: PathBuf,
    state: PathBuf,
    logs: PathBuf,
    net: Net,
    /// Parent of every pod's and container's cgroup, removed (and checked) at the end.
    cgroup_parent: String,
    daemon: Daemon,
    /// Pod sandboxes run by the test, with their config (which `create`
    /// takes again), checked for leftovers at the end.
    pods: RefCell<Vec<(String, PathBuf)>>,
}

impl<'a> Cri<'a> {
    /// Starts containerd and imports the images. None when an engine is
    /// missing and KIST_SKIP_ENGINES=1.
    fn start(k: &'a Kist) -> Option<Cri<'a>> {
        if !super::have(CONTAINERD, "containerd")
            || !super::have(&format!("{CNI_BIN}/bridge"), "containernetworking-plugins")
        {
            return None;
        }
        let crictl = crictl_bin()?;
        let dir = k.path("containerd");
        let net = Net::new(k);
        let conf_dir = dir.join("net.d");
        let logs = dir.join("pod-logs");
        for d in [&conf_dir, &logs] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        write(
            &conf_dir.join("10-kist.conflist"),
            &net.conflist().to_string(),
        );
        let sock = dir.join("c.sock");
        let state = dir.join("state");
        let cri = r#"plugins."io.containerd.grpc.v1.cri""#;
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[{cri}]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  [{cri}.containerd]
    default_runtime_name = "kist"
    [{cri}.containerd.runtimes.kist]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.kist.options]
        BinaryName = "{kist}"
        Root = "{runtime_root}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{conf_dir}"
    max_conf_num = 1
"#,
            root = dir.join("root").display(),
            state = state.display(),
            sock = sock.display(),
            pause = image::PAUSE,
            kist = kist_bin().display(),
            runtime_root = super::runtime_root(k).display(),
            conf_dir = conf_dir.display(),
        );
        let cfg = dir.join("config.toml");
        write(&cfg, &config);
        let crictl_config = dir.join("crictl.yaml");
        write(
            &crictl_config,
            &format!(
                "runtime-endpoint: unix://{s}\nimage-endpoint: unix://{s}\n",
                s = sock.display()
            ),
        );
        let daemon = Daemon::spawn(
            k,
            CONTAINERD,
            &strs(&["--config", &cfg.to_string_lossy()]),
            &[],
        );
        let mut c = Cri {
            k,
            crictl,
            sock,
            crictl_config,
            state,
            logs,
            net,
            cgroup_parent: format!("/{}", k.mark),
            daemon,
            pods: RefCell::new(Vec::new()),
        };
        wait_until("containerd's CRI to answer", super::DAEMON_START, || {
            c.daemon.assert_alive();
            c.sock.exists() && c.crictl(&["version"]).success()
        });
        let archive = image::build_with_pause(&c.k.path("images"), &k.mark);
        let mut v = strs(&["--address", &c.sock.to_string_lossy(), "--namespace", NS]);
        v.extend(strs(&["images", "import", &archive.to_string_lossy()]));
        tool(k, CTR, &v, cmd::Opts::default()).ok();
        // The CRI learns of the import from containerd's events.
        wait_until(
            "the CRI to list the imported images",
            Duration::from_secs(10),
            || {
                let o = c.crictl(&["images", "-q"]);
                o.success() && o.stdout.lines().count() >= 2
            },
        );
        Some(c)
    }

    /// `crictl --config C --timeout T args...`
    fn crictl(&self, args: &[&str]) -> Output {
        self.crictl_opts(args, cmd::Opts::default())
    }

    fn crictl_opts(&self, args: &[&str], opts: cmd::Opts) -> Output {
        let mut v = strs(&[
            "--config",
            &self.crictl_config.to_string_lossy(),
            "--timeout",
            CRICTL_TIMEOUT,
        ]);
        v.extend(strs(args));
        tool(self.k, &self.crictl.to_string_lossy(), &v, opts)
    }

    /// The stdout of `crictl args...`, None when it fails or takes more than
    /// 10 s (a stalling runtime): for clean-up, which must not panic.
    fn try_crictl(&self, args: &[&str]) -> Option<String> {
        let mut v = vec!["--config", self.crictl_config.to_str().unwrap_or_default()];
        v.extend(["--timeout", "10s"]);
        v.extend(args);
        let argv: Vec<std::ffi::OsString> = v.iter().map(Into::into).collect();
        let mut p = cmd::spawn(
            &self.crictl,
            &argv,
            &self.k.path("tool"),
            &self.k.mark,
            cmd::Opts::default(),
        );
        let deadline = Instant::now() + Duration::from_secs(12);
        while Instant::now() < deadline {
            match p.try_wait() {
                Some(o) => return o.success().then_some(o.stdout),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        // Dropping `p` kills crictl.
        None
    }

    /// `crictl args...`, which must succeed within [`QUICK`].
    #[track_caller]
    fn quick(&self, args: &[&str]) -> Output {
        let t = Instant::now();
        let o = self.crictl(args);
        let took = t.elapsed();
        let verdict = match (o.success(), took <= QUICK) {
            (true, true) => return o,
            (true, false) => "succeeded, too late",
            (false, _) => "failed",
        };
        panic!(
            "crictl {} {verdict}: it took {took:.1?}, at most {QUICK:?} allowed:\n{}\n{}",
            args.join(" "),
            o.describe(),
            self.diagnostics(args.last().copied().unwrap_or(""))
        )
    }

    /// The runtime's log for container `id` and the end of containerd's log.
    fn diagnostics(&self, id: &str) -> String {
        let p = self
            .state
            .join("io.containerd.runtime.v2.task")
            .join(NS)
            .join(id)
            .join("log.json");
        format!(
            "runtime log {}:\n{}\ncontainerd log:\n{}",
            p.display(),
            std::fs::read_to_string(&p).unwrap_or_default(),
            self.daemon.log_tail()
        )
    }

    /// Runs a pod sandbox named `name` (`runp`) and returns its id.
    #[track_caller]
    fn runp(&self, name: &str, pid: Pid) -> String {
        let cfg = self.k.path(&format!("pod-{name}.json"));
        write(&cfg, &self.pod_config(name, pid).to_string());
        let o = self.crictl(&["runp", &cfg.to_string_lossy()]);
        let id = o.stdout.trim().to_string();
        if !id.is_empty() {
            self.pods.borrow_mut().push((id.clone(), cfg));
            self.k.track(&id);
        }
        assert!(
            o.success() && !id.is_empty(),
            "{}\n{}",
            o.describe(),
            self.diagnostics(&id)
        );
        id
    }

    fn pod_config(&self, name: &str, pid: Pid) -> Value {
        json!({
            "metadata": { "name": name, "namespace": self.k.mark, "uid": format!("{name}-{}", self.k.mark), "attempt": 0 },
            "hostname": name,
            "log_directory": self.logs.join(name),
            "linux": {
                "cgroup_parent": self.cgroup_parent,
                "security_context": { "namespace_options": { "pid": pid as i32 } }
            }
        })
    }

    /// Creates and starts container `name` running `args` in `pod`, in the
    /// pod's pid namespace or the host's (the kubelet gives a `hostPID` pod's
    /// containers the host's, and the pod's with `shareProcessNamespace`).
    #[track_caller]
    fn run(&self, pod: &str, pid: Pid, name: &str, args: &[&str]) -> String {
        let cfg = self.k.path(&format!("ctr-{name}.json"));
        let config = json!({
            "metadata": { "name": name },
            "image": { "image": image::IMAGE },
            "command": args,
            "envs": [ { "key": "KIST_TEST_MARK", "value": self.k.mark } ],
            "log_path": format!("{name}.log"),
            "linux": { "security_context": { "namespace_options": { "pid": pid as i32 } } }
        });
        write(&cfg, &config.to_string());
        let pod_cfg = self
            .pods
            .borrow()
            .iter()
            .find(|(p, _)| p == pod)
            .map(|(_, cfg)| cfg.clone())
            .unwrap_or_else(|| panic!("pod {pod} was not run by this test"));
        let o = self.crictl(&[
            "create",
            "--no-pull",
            pod,
            &cfg.to_string_lossy(),
            &pod_cfg.to_string_lossy(),
        ]);
        let id = o.stdout.trim().to_string();
        if !id.is_empty() {
            self.k.track(&id);
        }
        assert!(
            o.success() && !id.is_empty(),
            "{}\n{}",
            o.describe(),
            self.daemon.log_tail()
        );
        let o = self.crictl(&["start", &id]);
        assert!(o.success(), "{}\n{}", o.describe(), self.diagnostics(&id));
        id
    }

    /// [`Cri::run`] of a container that answers `reply` to each connection
    /// on port 7777.
    #[track_caller]
    fn run_answering(&self, pod: &str, pid: Pid, name: &str, reply: &str) -> String {
        let script = format!("while :; do echo {reply} | nc -l -p 7777; done");
        self.run(pod, pid, name, &["sh", "-c", &script])
    }

    /// `crictl inspectp -o json`.
    #[track_caller]
    fn inspectp(&self, pod: &str) -> Value {
        json_of(&self.crictl(&["inspectp", "-o", "json", pod]))
    }

    /// `crictl inspect -o json`.
    #[track_caller]
    fn inspect(&self, id: &str) -> Value {
        json_of(&self.crictl(&["inspect", "-o", "json", id]))
    }

    /// The pod's address, which must be in the test's subnet.
    #[track_caller]
    fn pod_ip(&self, pod: &str) -> String {
        let st = self.inspectp(pod);
        let ip = st["status"]["network"]["ip"].as_str().unwrap_or_default();
        assert!(
            ip.starts_with(&self.net.prefix),
            "pod address {ip:?} not in {}0/24: {st}",
            self.net.prefix
        );
        ip.to_string()
    }

    /// The host pid of the pod's pause process.
    #[track_caller]
    fn pause_pid(&self, pod: &str) -> i32 {
        let pid = self.inspectp(pod)["info"]["pid"].as_i64().unwrap_or(0) as i32;
        assert!(pid > 0, "no pid for pod {pod}");
        pid
    }

    #[track_caller]
    fn wait_state(&self, id: &str, want: &str) {
        wait_until(&format!("container {id} to be {want}"), QUICK, || {
            self.inspect(id)["status"]["state"] == want
        });
    }

    /// `crictl exec ID sh -c script` (through the CRI's streaming server).
    fn exec(&self, id: &str, script: &str) -> Output {
        self.crictl(&["exec", id, "sh", "-c", script])
    }

    /// `exec` that must succeed; returns its stdout.
    #[track_caller]
    fn sh(&self, id: &str, script: &str) -> String {
        let o = self.exec(id, script);
        assert!(o.success(), "{}\n{}", o.describe(), self.diagnostics(id));
        o.stdout
    }

    /// Directories of `id`'s cgroup that still exist, in any hierarchy.
    fn cgroups_of(&self, id: &str) -> Vec<PathBuf> {
        let rel = format!("{}/{id}", self.cgroup_parent.trim_start_matches('/'));
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(&rel))
            .chain([Path::new("/sys/fs/cgroup").join(&rel)])
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Everything the CRI and kist should have removed once every pod is gone:
    /// pods, containers, kist state, network namespaces, cgroups of the pods.
    fn leftovers(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (what, args) in [("pod", ["pods", "-q"]), ("container", ["ps", "-aq"])] {
            let Some(listed) = self.try_crictl(&args) else {
                problems.push(format!("crictl {} failed", args.join(" ")));
                continue;
            };
            for id in listed.lines() {
                problems.push(format!("{what} {id} still listed by crictl"));
            }
        }
        for d in [
            self.k.root.clone(),
            self.state.join("io.containerd.grpc.v1.cri/netns"),
        ] {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if !e.file_name().to_string_lossy().starts_with('.') {
                    problems.push(format!("{} left behind", e.path().display()));
                }
            }
        }
        let parent = super::cgroup_dir("pids", &self.cgroup_parent);
        for e in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                problems.push(format!("cgroup {} left behind", e.path().display()));
            }
        }
        problems
    }

    #[track_caller]
    fn assert_nothing_left(&self) {
        let mut problems = self.leftovers();
        // There is no registry: every image must have come from the import.
        let log = std::fs::read_to_string(&self.daemon.log).unwrap_or_default();
        problems.extend(
            log.lines()
                .filter(|l| l.contains("PullImage"))
                .map(String::from),
        );
        assert!(problems.is_empty(), "left behind:\n{}", problems.join("\n"));
    }

    /// The shim's socket of a pod (one shim serves the whole pod), named like
    /// those of `ctr` (see `Containerd::shim_socket`).
    fn shim_socket(&self, pod: &str) -> PathBuf {
        let key = format!("{}/{NS}/{pod}", self.sock.display());
        PathBuf::from("/run/containerd/s").join(super::sha256_hex(key.as_bytes()))
    }
}

impl Drop for Cri<'_> {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let pods: Vec<String> = self.pods.borrow().iter().map(|(p, _)| p.clone()).collect();
        let mut problems = Vec::new();
        if !panicking {
            problems.extend(self.leftovers());
        }
        // Whatever a failed test left goes through the CRI first, so that the
        // shims clean up after themselves.
        for pod in self.try_crictl(&["pods", "-q"]).unwrap_or_default().lines() {
            self.try_crictl(&["rmp", "--force", pod]);
        }
        if !self.daemon.stop() {
            problems.push(format!(
                "containerd ignored SIGTERM:\n{}",
                self.daemon.log_tail()
            ));
        }
        // What the runtime could not stop: kill it so that the cgroups can go.
        for cg in self.cgroups_of("") {
            for pid in procs_below(&cg) {
                problems.push(format!("process {pid} still in {}", cg.display()));
                // SAFETY: kill(2) of a process in a cgroup named after this
                // test's unique mark.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for pod in &pods {
            let s = self.shim_socket(pod);
            if s.exists() {
                problems.push(format!(
                    "shim socket {} of pod {pod} left behind",
                    s.display()
                ));
                let _ = std::fs::remove_file(&s);
            }
        }
        problems.extend(self.net.clean_up(&pods));
        problems.extend(super::remove_cgroup_everywhere(&self.cgroup_parent));
        if panicking {
            problems.clear();
        }
        problems.dedup();
        super::report("containerd CRI", &problems);
    }
}

/// Pids in cgroup `dir` and below.
fn procs_below(dir: &Path) -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(procs_below(&e.path()));
        }
    }
    out
}

#[track_caller]
fn json_of(o: &Output) -> Value {
    assert!(o.success(), "{}", o.describe());
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", o.describe()))
}

fn write(p: &Path, s: &str) {
    std::fs::write(p, s).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

/// `readlink /proc/PID/ns/NAME` on the host, as a container shows its own.
fn host_ns(pid: &str, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{name}: {e}"))
}

/// What a container shows of its namespaces, one `name:[inode]` a line.
const SHOW_NS: &str = "for n in net ipc uts pid mnt; do readlink /proc/self/ns/$n; done";

/// A container's init that exits 0 on SIGTERM, as a well-behaved pod's does
/// (it is not pid 1 when it shares the pod's pid namespace).
const SERVE: &str = "trap 'exit 0' TERM; while :; do sleep 1; done";

#[test]
fn cri_pod_shares_sandbox_namespaces_execs_twice_and_tears_down_in_seconds() {
    let k = cri_kist();
    let Some(c) = Cri::start(&k) else {
        return;
    };
    let pod = c.runp("pod", Pid::Pod);
    let app = c.run(&pod, Pid::Pod, "app", &["sh", "-c", SERVE]);
    // A second container answering on the pod's localhost.
    let side = c.run_answering(&pod, Pid::Pod, "side", "side-reply");
    let c = &c;
    let (pod, app, side) = (pod.as_str(), app.as_str(), side.as_str());
    let mut steps = Steps::default();

    steps.run("the sandbox runs the pause image", || {
        let pause = c.pause_pid(pod);
        let cmdline = std::fs::read(format!("/proc/{pause}/cmdline")).unwrap_or_default();
        assert_eq!(cmdline, b"sleep\0inf\0", "pause pid {pause}");
    });

    steps.run("net, ipc, uts and pid namespaces are the sandbox's", || {
        let pause = c.pause_pid(pod).to_string();
        for id in [app, side] {
            let seen = c.sh(id, SHOW_NS);
            let seen: Vec<&str> = seen.lines().collect();
            let want: Vec<String> = ["net", "ipc", "uts", "pid"]
                .iter()
                .map(|n| host_ns(&pause, n))
                .collect();
            assert_eq!(seen[..seen.len().min(4)], want, "container {id}");
            assert_ne!(
                seen.get(4).copied(),
                Some(host_ns(&pause, "mnt").as_str()),
                "{id}: mnt"
            );
        }
        // namespace_options.pid = POD: the pause is pid 1 of the container.
        let one = c.sh(app, "tr '\\0' ' ' </proc/1/cmdline");
        assert_eq!(one.trim(), "sleep inf", "pid 1 seen from {app}");
    });

    steps.run(
        "the pod's address and localhost are shared by its containers",
        || {
            let ip = c.pod_ip(pod);
            let addrs = c.sh(app, "ip -4 -o addr show dev eth0");
            assert!(
                addrs.contains(&format!("inet {ip}/24")),
                "eth0 of {app}: {addrs}"
            );
            let reply = c.sh(
            app,
            "for i in $(seq 40); do nc 127.0.0.1 7777 </dev/null && exit; sleep 0.25; done; exit 1",
        );
            assert!(reply.contains("side-reply"), "{reply:?}");
        },
    );

    steps.run("exec twice", || {
        for _ in 0..2 {
            let o = c.exec(app, "echo exec-out-$((6*7)); echo exec-err >&2; exit 3");
            assert!(
                o.stdout.contains("exec-out-42"),
                "{}\n{}",
                o.describe(),
                c.diagnostics(app)
            );
            assert!(o.stderr.contains("exec-err"), "{}", o.describe());
            assert!(o.stderr.contains("exit code 3"), "{}", o.describe());
        }
    });

    steps.run("exec -it twice", || {
        for _ in 0..2 {
            // As when a user comes back later: the last exec's pty is gone,
            // so this one gets its number again.
            wait_until("the last exec's pty to be released", QUICK, || {
                c.exec(app, "ls /dev/pts")
                    .stdout
                    .split_whitespace()
                    .eq(["ptmx"])
            });
            // crictl insists on a terminal for itself: give it a pty.
            let mut pty = PtyPair::new();
            let o = c.crictl_opts(
                &["exec", "-it", app, "sh", "-c", "tty; echo tty-ok"],
                pty.stdio(),
            );
            let seen = pty.drain().to_string();
            assert!(
                o.success(),
                "{}\npty: {seen:?}\n{}",
                o.describe(),
                c.diagnostics(app)
            );
            assert!(
                seen.contains("/dev/pts/0") && seen.contains("tty-ok"),
                "pty: {seen:?}"
            );
        }
    });

    steps.run("stop (TERM trapped) and rm in seconds", || {
        c.quick(&["stop", "--timeout", "10", app]);
        let st = c.inspect(app);
        assert_eq!(st["status"]["state"], "CONTAINER_EXITED", "{st}");
        assert_eq!(st["status"]["exitCode"], 0, "{st}");
        c.quick(&["rm", app]);
        assert!(
            c.cgroups_of(app).is_empty(),
            "cgroups of {app}: {:?}",
            c.cgroups_of(app)
        );
    });

    steps.run(
        "stopp with a container running, then rmp, in seconds",
        || {
            c.quick(&["stopp", pod]);
            assert_eq!(c.inspect(side)["status"]["state"], "CONTAINER_EXITED");
            c.quick(&["rmp", pod]);
            c.assert_nothing_left();
        },
    );
    steps.finish();
}

#[test]
fn cri_host_pid_and_init_exiting_before_its_child_tear_down_in_seconds() {
    let k = cri_kist();
    let Some(c) = Cri::start(&k) else {
        return;
    };
    let host = c.runp("hostpid", Pid::Node);
    let pod = c.runp("podpid", Pid::Pod);
    let app = c.run(&host, Pid::Node, "host-app", &["sh", "-c", SERVE]);
    let srv = c.run_answering(&pod, Pid::Pod, "srv", "pod-reply");
    let c = &c;
    let (host, pod, app, srv) = (host.as_str(), pod.as_str(), app.as_str(), srv.as_str());
    let mut steps = Steps::default();

    steps.run(
        "hostPID: the host's pid namespace, the pod's others",
        || {
            let pause = c.pause_pid(host).to_string();
            let seen = c.sh(app, SHOW_NS);
            let seen: Vec<&str> = seen.lines().collect();
            assert_eq!(
                seen.get(3).copied(),
                Some(host_ns("self", "pid").as_str()),
                "pid of {app}"
            );
            for (i, n) in ["net", "ipc", "uts"].iter().enumerate() {
                assert_eq!(
                    seen.get(i).copied(),
                    Some(host_ns(&pause, n).as_str()),
                    "{n} of {app}"
                );
            }
        },
    );

    steps.run(
        "the host reaches the pod at its address, over the bridge",
        || {
            // As the kubelet's probes do (and without crossing the host's FORWARD
            // chain, which Docker may set to drop bridged traffic).
            let ip = c.pod_ip(pod);
            let addr: std::net::SocketAddr = format!("{ip}:7777").parse().expect("pod address");
            let mut reply = String::new();
            wait_until(&format!("{addr} to answer"), QUICK, || {
                use std::io::Read;
                reply.clear();
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    .and_then(|mut s| {
                        s.set_read_timeout(Some(Duration::from_secs(2)))?;
                        s.read_to_string(&mut reply)
                    })
                    .is_ok()
                    && reply.contains("pod-reply")
            });
        },
    );

    // The shim kills what is left of a container without its own pid
    // namespace once its init exits; then the CRI deletes it.
    for (pod, pid, name) in [
        (pod, Pid::Pod, "orphan-pod"),
        (host, Pid::Node, "orphan-host"),
    ] {
        steps.run(
            &format!("{name}: init exits, its forked child lives on; rm in seconds"),
            || {
                let id = c.run(pod, pid, name, &["sh", "-c", "sleep 1000 & exit 0"]);
                c.wait_state(&id, "CONTAINER_EXITED");
                let st = c.inspect(&id);
                assert_eq!(st["status"]["exitCode"], 0, "{st}");
                wait_until(
                    &format!("the child of {id} to be gone with its cgroups"),
                    QUICK,
                    || c.cgroups_of(&id).is_empty(),
                );
                c.quick(&["rm", &id]);
            },
        );
    }

    steps.run("stop, rm, stopp, rmp in seconds", || {
        c.quick(&["stop", "--timeout", "10", app]);
        assert_eq!(c.inspect(app)["status"]["exitCode"], 0);
        c.quick(&["rm", app]);
        c.quick(&["stop", srv]);
        c.quick(&["rm", srv]);
        for p in [host, pod] {
            c.quick(&["stopp", p]);
            c.quick(&["rmp", p]);
        }
        c.assert_nothing_left();
    });
    steps.finish();
}
