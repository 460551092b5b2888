/*
 * hack/text-trace.c: text-trace OUT PROGRAM [ARG...]
 *
 * Runs PROGRAM under ptrace, single-stepping it and every process it
 * clones (until one execs something else), and appends to OUT the offset
 * from the start of PROGRAM's mapping of every instruction it ran, one hex
 * number a line. hack/hot-symbols turns them into the functions kist runs:
 * exact coverage, where sampling misses the short ones. Slow (a minute or
 * two a command on a small VM); when PROGRAM exits, the processes it left
 * behind (a created container's init) are detached and run on untraced.
 *
 * Built by hack/hot-symbols: cc -O2 -o text-trace hack/text-trace.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAN (64u << 20) /* largest text mapping covered */

static uint8_t seen[SPAN / 8];
static pid_t live[256];
static int nlive;

static void track(pid_t p, int on)
{
	for (int i = 0; i < nlive; i++)
		if (live[i] == p) {
			if (!on)
				live[i] = live[--nlive];
			return;
		}
	if (on && nlive < 256)
		live[nlive++] = p;
}

/* Stops, detaches (which clears the trap flag) and continues every tracee left. */
static void detach_all(void)
{
	for (int i = 0; i < nlive; i++)
		kill(live[i], SIGSTOP);
	while (nlive > 0) {
		int st;
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0)
			break;
		if (WIFSTOPPED(st))
			ptrace(PTRACE_DETACH, p, 0, 0);
		kill(p, SIGCONT);
		track(p, 0);
	}
}

/* The lowest address PROGRAM's file is mapped at (its ELF header). */
static uintptr_t image_base(pid_t pid, const char *exe)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	uintptr_t base = 0;
	while (fgets(line, sizeof line, f)) {
		char *name = strchr(line, '/');
		if (name) {
			name[strcspn(name, "\n")] = 0;
			if (strcmp(name, exe) == 0) {
				base = strtoull(line, NULL, 16);
				break;
			}
		}
	}
	fclose(f);
	return base;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: text-trace OUT PROGRAM [ARG...]\n");
		return 2;
	}
	char exe[4096];
	if (!realpath(argv[2], exe)) {
		perror(argv[2]);
		return 1;
	}
	pid_t main_pid = fork();
	if (main_pid < 0)
		return 1;
	if (main_pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execv(exe, argv + 2);
		_exit(127);
	}
	int st;
	if (waitpid(main_pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
		fprintf(stderr, "text-trace: %s did not start\n", exe);
		return 1;
	}
	uintptr_t base = image_base(main_pid, exe);
	if (!base) {
		fprintf(stderr, "text-trace: %s not mapped\n", exe);
		return 1;
	}
	ptrace(PTRACE_SETOPTIONS, main_pid, 0,
	       PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC);
	ptrace(PTRACE_SINGLESTEP, main_pid, 0, 0);
	int code = 0;
	for (;;) {
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0)
			break;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			track(p, 0);
			if (p == main_pid) {
				code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				detach_all();
				break;
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		track(p, 1);
		int sig = WSTOPSIG(st), event = st >> 16;
		if (event == PTRACE_EVENT_EXEC) {
			/* the container's program (or a re-exec): not ours to trace */
			ptrace(PTRACE_DETACH, p, 0, 0);
			track(p, 0);
			continue;
		}
		struct user_regs_struct regs;
		if (ptrace(PTRACE_GETREGS, p, 0, &regs) == 0) {
			uintptr_t off = regs.rip - base;
			if (regs.rip >= base && off < SPAN)
				seen[off / 8] |= 1u << (off % 8);
		}
		int deliver = (sig == SIGTRAP || sig == SIGSTOP || event) ? 0 : sig;
		ptrace(PTRACE_SINGLESTEP, p, 0, deliver);
	}
	FILE *out = fopen(argv[1], "a");
	if (!out) {
		perror(argv[1]);
		return 1;
	}
	for (size_t i = 0; i < SPAN; i++)
		if (seen[i / 8] & (1u << (i % 8)))
			fprintf(out, "%zx\n", i);
	fclose(out);
	return code;
}
