/* The workload of the BCC-compat tests: runs the operations named on its command line, each
 * `op:arg:count`, so a test knows exactly which syscalls its own child made. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

__attribute__((noinline)) void bpfpm_leaf(int n)
{
	for (int i = 0; i < n; i++)
		syscall(SYS_getppid);
}

__attribute__((noinline)) void bpfpm_middle(int n)
{
	bpfpm_leaf(n);
	asm volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	for (int a = 1; a < argc; a++) {
		char op[64] = { 0 }, arg[4096] = { 0 };
		long count = 1;
		char *first = strchr(argv[a], ':');
		char *last = strrchr(argv[a], ':');
		if (!first) {
			snprintf(op, sizeof op, "%s", argv[a]);
		} else {
			snprintf(op, sizeof op, "%.*s", (int)(first - argv[a]), argv[a]);
			if (last != first) {
				snprintf(arg, sizeof arg, "%.*s", (int)(last - first - 1), first + 1);
				count = atol(last + 1);
			} else {
				count = atol(first + 1);
			}
		}
		for (long i = 0; i < count; i++) {
			if (!strcmp(op, "getpid")) {
				syscall(SYS_getpid);
			} else if (!strcmp(op, "getppid")) {
				syscall(SYS_getppid);
			} else if (!strcmp(op, "stack")) {
				bpfpm_middle(1);
			} else if (!strcmp(op, "open")) {
				int fd = open(arg, O_RDONLY);
				if (fd >= 0)
					close(fd);
			} else if (!strcmp(op, "creat")) {
				int fd = open(arg, O_CREAT | O_WRONLY, 0600);
				if (fd < 0)
					return 4;
				close(fd);
				unlink(arg);
			} else if (!strcmp(op, "stat")) {
				struct stat st;
				stat(arg, &st);
			} else if (!strcmp(op, "sysstat")) {
				/* the stat syscall itself (glibc's stat() is newfstatat) */
				struct stat st;
				syscall(SYS_stat, arg, &st);
			} else if (!strcmp(op, "statx")) {
				struct statx stx;
				statx(AT_FDCWD, arg, 0, STATX_BASIC_STATS, &stx);
			} else if (!strcmp(op, "lstat")) {
				struct stat st;
				lstat(arg, &st);
			} else if (!strcmp(op, "leaf")) {
				bpfpm_leaf(atoi(arg));
			} else if (!strcmp(op, "kill0")) {
				kill(getppid(), 0);
			} else if (!strcmp(op, "statfs")) {
				struct statfs sf;
				statfs(arg, &sf);
			} else if (!strcmp(op, "chdir")) {
				if (chdir(arg) != 0)
					return 5;
			} else if (!strcmp(op, "spin")) {
				struct timespec t0, t;
				clock_gettime(CLOCK_MONOTONIC, &t0);
				do
					clock_gettime(CLOCK_MONOTONIC, &t);
				while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < atol(arg));
			} else if (!strcmp(op, "write")) {
				int fd = open("/dev/null", O_WRONLY);
				if (write(fd, buf, atol(arg)) < 0)
					return 2;
				close(fd);
			} else if (!strcmp(op, "sleep")) {
				struct timespec ts = { 0, atol(arg) * 1000000L };
				nanosleep(&ts, NULL);
			} else if (!strcmp(op, "fork")) {
				pid_t p = fork();
				if (p == 0)
					_exit(0);
				waitpid(p, NULL, 0);
			} else if (!strcmp(op, "exec")) {
				execl(arg, arg, (char *)NULL);
				return 3;
			} else {
				fprintf(stderr, "unknown op %s\n", op);
				return 1;
			}
		}
	}
	return 0;
}
