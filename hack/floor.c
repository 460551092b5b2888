/*
 * hack/floor.c: the floor of hack/bench, the least work a runtime can do to
 * run the bench's containers, timed beside kist, runc and crun.
 *
 * It speaks just enough of runc's command line for the bench
 * (--root R  run|create --bundle B ID,  start|state ID,  exec ID ARG...,
 * kill ID SIG,  delete [--force] ID) and does only what every runtime must
 * for hack/mkbundle's config, which it does not parse (it reads config.json,
 * since a runtime must, and takes the rest as written there):
 *  - cgroups: a directory in every hierarchy of /proc/self/cgroup (relative
 *    to its own, as runc without cgroupsPath), cpuset.cpus/mems copied,
 *    the device rules (deny all, runc's default allow list), placement the
 *    cheap way: clone3(CLONE_INTO_CGROUP) on cgroup2, the process writing
 *    "0" into each v1 `tasks` itself;
 *  - one clone3 with the config's namespaces (pid, net, ipc, uts, mount;
 *    cgroup unshared once in the cgroups); hostname;
 *  - the mounts: / rslave, rootfs bind, proc, /dev tmpfs + devpts + shm +
 *    mqueue, sysfs ro, the default device nodes and /dev links, pivot_root,
 *    maskedPaths, readonlyPaths, read-only root;
 *  - the process: rlimit, capability bounding set, capset + ambient,
 *    no_new_privs, execve; `create` blocks on a FIFO that `start` opens;
 *  - state: the pid and the cgroup directories in <root>/<id>, which `state`
 *    reads back with /proc/PID/stat, `delete` removes with the cgroups.
 * No config validation, no error messages worth the name, no seccomp (the
 * `run-seccomp` row's floor is the plain run), no hooks, no security
 * measures beyond the config's: a lower bound, not a runtime.
 *
 * Built by hack/bench: cc -O2 -static -o floor hack/floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXCG 16

static char state_dir[4096];
static char cg_dirs[MAXCG][4096];
static int cg_v2[MAXCG]; /* cg_dirs[i] is the cgroup2 directory */
static int ncg;
static int unified_fd = -1;
static int tasks_fd[MAXCG];
static int ntasks;

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		die(path);
	close(fd);
}

static ssize_t read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	if (r >= 0)
		buf[r] = 0;
	return r;
}

/* The container's cgroups: one directory per hierarchy, opened for placement. */
static void cgroups_create(const char *id)
{
	static const char *dev_allow[] = { "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm",
					   "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm",
					   "c 5:2 rwm", "c 10:200 rwm" };
	char buf[8192], path[4096], val[256];
	int unified = access("/sys/fs/cgroup/unified", F_OK) == 0;
	if (read_file("/proc/self/cgroup", buf, sizeof buf) < 0)
		die("read /proc/self/cgroup");
	for (char *line = strtok(buf, "\n"); line && ncg < MAXCG; line = strtok(NULL, "\n")) {
		char *ctl = strchr(line, ':'), *rel;
		if (!ctl || !(rel = strchr(ctl + 1, ':')))
			continue;
		*rel++ = 0;
		ctl++;
		char *dir = cg_dirs[ncg];
		if (!*ctl) {
			snprintf(dir, 4096, "/sys/fs/cgroup%s%s/%s", unified ? "/unified" : "",
				 strcmp(rel, "/") ? rel : "", id);
		} else {
			char *name = strncmp(ctl, "name=", 5) ? ctl : ctl + 5;
			snprintf(dir, 4096, "/sys/fs/cgroup/%s%s/%s", name, strcmp(rel, "/") ? rel : "", id);
		}
		if (mkdir(dir, 0755) < 0)
			die(dir);
		cg_v2[ncg++] = !*ctl;
		if (!*ctl) {
			unified_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (unified_fd < 0)
				die(dir);
			continue;
		}
		if (strstr(ctl, "cpuset")) {
			for (int i = 0; i < 2; i++) {
				const char *f = i ? "cpuset.mems" : "cpuset.cpus";
				snprintf(path, sizeof path, "%.4000s/../%s", dir, f);
				if (read_file(path, val, sizeof val) < 0)
					die(path);
				snprintf(path, sizeof path, "%.4000s/%s", dir, f);
				write_file(path, val);
			}
		}
		if (strstr(ctl, "devices")) {
			snprintf(path, sizeof path, "%.4000s/devices.deny", dir);
			write_file(path, "a");
			snprintf(path, sizeof path, "%.4000s/devices.allow", dir);
			for (size_t i = 0; i < sizeof dev_allow / sizeof *dev_allow; i++)
				write_file(path, dev_allow[i]);
		}
		snprintf(path, sizeof path, "%.4000s/tasks", dir);
		if ((tasks_fd[ntasks++] = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			die(path);
	}
}

static void cgroups_remove(void)
{
	for (int i = 0; i < ncg; i++) {
		/* A reaped process can leave its cgroup a moment later. */
		for (int t = 0; rmdir(cg_dirs[i]) < 0 && errno == EBUSY && t < 1000; t++)
			usleep(100);
	}
}

static void join_cgroups(void)
{
	for (int i = 0; i < ntasks; i++)
		if (write(tasks_fd[i], "0", 1) != 1)
			die("join cgroup");
}

static pid_t clone3_into(uint64_t flags, int cgroup_fd)
{
	struct clone_args args = { 0 };
	args.flags = flags | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
	args.exit_signal = SIGCHLD;
	args.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
	return syscall(SYS_clone3, &args, sizeof args);
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	if (mount(src, dst, type, flags, data) < 0)
		die(dst);
}

static void setup_rootfs(const char *rootfs)
{
	static const char *masked[] = { "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
					"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
					"/proc/sched_debug", "/sys/firmware", "/proc/scsi" };
	static const char *ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" };
	static const struct {
		const char *name;
		int minor, major;
	} nodes[] = { { "null", 3, 1 }, { "zero", 5, 1 }, { "full", 7, 1 },
		      { "random", 8, 1 }, { "urandom", 9, 1 }, { "tty", 0, 5 } };
	static const char *links[][2] = { { "/proc/self/fd", "fd" },    { "/proc/self/fd/0", "stdin" },
					  { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
					  { "/proc/kcore", "core" },       { "pts/ptmx", "ptmx" } };
	struct stat st;

	mnt(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
	mnt(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL);
	if (chdir(rootfs) < 0)
		die("chdir rootfs");
	mnt("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mnt("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	mkdir("dev/pts", 0755);
	mnt("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	mkdir("dev/shm", 0755);
	mnt("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k");
	mkdir("dev/mqueue", 0755);
	mnt("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
	mnt("sysfs", "sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL);
	int dev = open("dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dev < 0)
		die("open dev");
	umask(0);
	for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++)
		if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0)
			die(nodes[i].name);
	umask(022);
	for (size_t i = 0; i < sizeof links / sizeof *links; i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			die(links[i][1]);
	close(dev);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		die("umount old root");
	if (chdir("/") < 0)
		die("chdir /");
	for (size_t i = 0; i < sizeof masked / sizeof *masked; i++) {
		if (stat(masked[i], &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			mnt("tmpfs", masked[i], "tmpfs", MS_RDONLY, NULL);
		else
			mnt("/dev/null", masked[i], NULL, MS_BIND, NULL);
	}
	for (size_t i = 0; i < sizeof ro / sizeof *ro; i++) {
		if (mount(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			die(ro[i]);
		}
		mnt(ro[i], ro[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
	}
	mnt(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
}

/* The config's process: RLIMIT_NOFILE 1024, three capabilities, no_new_privs. */
static void setup_process(void)
{
	static const int keep[] = { CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE };
	uint64_t mask = 0;
	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
		mask |= 1ULL << keep[i];
	struct rlimit rl = { 1024, 1024 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit");
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (!(mask & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			die("capbset drop");
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { (uint32_t)mask, (uint32_t)mask, (uint32_t)mask },
					       { (uint32_t)(mask >> 32), (uint32_t)(mask >> 32),
						 (uint32_t)(mask >> 32) } };
	if (syscall(SYS_capset, &h, d) < 0)
		die("capset");
	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, keep[i], 0, 0) < 0)
			die("ambient");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
}

static void exec_args(char **argv)
{
	static char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
			       NULL };
	/* mkbundle's args: an absolute path or a busybox applet */
	if (argv[0][0] != '/') {
		static char path[4096];
		snprintf(path, sizeof path, "/bin/%.4000s", argv[0]);
		argv[0] = path;
	}
	execve(argv[0], argv, env);
	die("execve");
}

/* process.args as mkbundle writes them (plain strings, no escapes), in place. */
static char **config_args(char *cfg)
{
	static char *argv[64];
	int n = 0;
	char *p = strstr(cfg, "\"args\"");
	if (!p || !(p = strchr(p, '[')))
		return NULL;
	while (n < 63 && (p = strpbrk(p, "\"]")) && *p == '"') {
		char *end = strchr(p + 1, '"');
		if (!end)
			return NULL;
		*end = 0;
		argv[n++] = p + 1;
		p = end + 1;
	}
	argv[n] = NULL;
	return n ? argv : NULL;
}

static void state_path(char *buf, const char *file)
{
	snprintf(buf, 4096, "%.4000s/%s", state_dir, file);
}

static void save_state(pid_t pid)
{
	char path[4096], buf[MAXCG * 4097 + 32];
	int n = snprintf(buf, sizeof buf, "%d\n", pid);
	for (int i = 0; i < ncg; i++)
		n += snprintf(buf + n, sizeof buf - n, "%d %s\n", cg_v2[i] ? 2 : 1, cg_dirs[i]);
	state_path(path, "state");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, n) != n)
		die(path);
	close(fd);
}

/* The pid and cgroup directories recorded by create. */
static pid_t load_state(void)
{
	char path[4096], buf[MAXCG * 4097 + 32];
	state_path(path, "state");
	if (read_file(path, buf, sizeof buf) < 0)
		die(path);
	char *line = strtok(buf, "\n");
	pid_t pid = line ? atoi(line) : 0;
	while ((line = strtok(NULL, "\n")) && ncg < MAXCG && strlen(line) > 2) {
		cg_v2[ncg] = line[0] == '2';
		snprintf(cg_dirs[ncg++], 4096, "%s", line + 2);
	}
	return pid;
}

/* run and create: everything up to the process, which run waits for. */
static int cmd_create(const char *bundle, const char *id, int detach)
{
	char path[4096], rootfs[4096], cfg[65536];
	snprintf(path, sizeof path, "%.4000s/config.json", bundle);
	if (read_file(path, cfg, sizeof cfg) < 0)
		die(path);
	char **args = config_args(cfg);
	if (!args) {
		fprintf(stderr, "floor: %s: no process.args\n", path);
		return 1;
	}
	snprintf(rootfs, sizeof rootfs, "%.4000s/rootfs", bundle);
	if (mkdir(state_dir, 0711) < 0)
		die(state_dir);
	cgroups_create(id);
	int fifo = -1, ready[2];
	if (detach) {
		state_path(path, "start");
		if (mkfifo(path, 0600) < 0)
			die(path);
		fifo = open(path, O_PATH | O_CLOEXEC);
		if (fifo < 0 || pipe2(ready, O_CLOEXEC) < 0)
			die("fifo");
	}
	pid_t pid = clone3_into(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS, unified_fd);
	if (pid < 0)
		die("clone3");
	if (pid == 0) {
		join_cgroups();
		/* after joining: the container's cgroups are the namespace's roots */
		if (unshare(CLONE_NEWCGROUP) < 0)
			die("unshare cgroupns");
		if (sethostname("kist", 4) < 0)
			die("sethostname");
		setup_rootfs(rootfs);
		setup_process();
		if (detach) {
			char self[64];
			snprintf(self, sizeof self, "/proc/self/fd/%d", fifo);
			if (write(ready[1], "", 1) != 1)
				die("ready");
			int w = open(self, O_WRONLY | O_CLOEXEC);
			if (w < 0)
				die("open fifo");
		}
		exec_args(args);
	}
	save_state(pid);
	if (detach) {
		char c;
		close(ready[1]);
		if (read(ready[0], &c, 1) != 1) {
			fprintf(stderr, "floor: the container failed\n");
			return 1;
		}
		return 0;
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	cgroups_remove();
	state_path(path, "state");
	unlink(path);
	rmdir(state_dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmd_start(void)
{
	char path[4096], c;
	state_path(path, "start");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	while (read(fd, &c, 1) > 0)
		;
	unlink(path);
	return 0;
}

static const char *status_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof buf) < 0)
		return "stopped";
	char *p = strrchr(buf, ')');
	if (!p || p[2] == 'Z')
		return "stopped";
	char fifo[4096];
	state_path(fifo, "start");
	return access(fifo, F_OK) == 0 ? "created" : "running";
}

static int cmd_state(const char *id)
{
	pid_t pid = load_state();
	printf("{\"ociVersion\":\"1.0.2\",\"id\":\"%s\",\"status\":\"%s\",\"pid\":%d}\n", id, status_of(pid), pid);
	return 0;
}

static int cmd_exec(char **argv)
{
	pid_t pid = load_state();
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("pidfd_open");
	char path[4096];
	for (int i = 0; i < ncg; i++) {
		if (cg_v2[i]) {
			unified_fd = open(cg_dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (unified_fd < 0)
				die(cg_dirs[i]);
			continue;
		}
		snprintf(path, sizeof path, "%.4000s/tasks", cg_dirs[i]);
		if ((tasks_fd[ntasks++] = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			die(path);
	}
	if (setns(pidfd, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWCGROUP) <
	    0)
		die("setns");
	pid_t child = clone3_into(0, unified_fd);
	if (child < 0)
		die("clone3");
	if (child == 0) {
		join_cgroups();
		setup_process();
		exec_args(argv);
	}
	int status;
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmd_kill(const char *sig)
{
	pid_t pid = load_state();
	int s = strcmp(sig, "KILL") == 0 || strcmp(sig, "SIGKILL") == 0 ? SIGKILL
		: strcmp(sig, "TERM") == 0 || strcmp(sig, "SIGTERM") == 0 ? SIGTERM
									: atoi(sig);
	if (kill(pid, s) < 0)
		die("kill");
	return 0;
}

static int cmd_delete(int force)
{
	char path[4096];
	pid_t pid = load_state();
	if (force)
		kill(pid, SIGKILL);
	cgroups_remove();
	state_path(path, "state");
	unlink(path);
	state_path(path, "start");
	unlink(path);
	if (rmdir(state_dir) < 0)
		die(state_dir);
	return 0;
}

int main(int argc, char **argv)
{
	const char *root = NULL, *bundle = ".";
	int i = 1, force = 0;
	if (argc > 2 && strcmp(argv[1], "--root") == 0) {
		root = argv[2];
		i = 3;
	}
	if (!root || i >= argc) {
		fprintf(stderr, "usage: floor --root DIR run|create|start|state|exec|kill|delete ...\n");
		return 2;
	}
	const char *cmd = argv[i++];
	for (; i < argc && argv[i][0] == '-'; i++) {
		if ((strcmp(argv[i], "--bundle") == 0 || strcmp(argv[i], "-b") == 0) && i + 1 < argc)
			bundle = argv[++i];
		else if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			force = 1;
	}
	if (i >= argc) {
		fprintf(stderr, "floor: %s: no container id\n", cmd);
		return 2;
	}
	const char *id = argv[i++];
	mkdir(root, 0700);
	snprintf(state_dir, sizeof state_dir, "%.2000s/%.2000s", root, id);
	if (strcmp(cmd, "run") == 0)
		return cmd_create(bundle, id, 0);
	if (strcmp(cmd, "create") == 0)
		return cmd_create(bundle, id, 1);
	if (strcmp(cmd, "start") == 0)
		return cmd_start();
	if (strcmp(cmd, "state") == 0)
		return cmd_state(id);
	if (strcmp(cmd, "exec") == 0) {
		if (i >= argc) {
			fprintf(stderr, "floor: exec: no command\n");
			return 2;
		}
		return cmd_exec(argv + i);
	}
	if (strcmp(cmd, "kill") == 0)
		return cmd_kill(i < argc ? argv[i] : "TERM");
	if (strcmp(cmd, "delete") == 0)
		return cmd_delete(force);
	fprintf(stderr, "floor: unknown command %s\n", cmd);
	return 2;
}
