// The events benchmark's C baseline: libbpf's ring_buffer consumer, one callback per record.
// Usage: consumer <events.bpf.o> <producer> <count> <policy>
// Starts <producer> <count> (a getppid loop) as the target, consumes until every record that
// was not dropped has arrived, and prints "records drops seconds wakeups checksum".
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct event {
	uint64_t seq, ts;
	uint32_t pid, cpu;
	char comm[16];
	uint64_t pad[3];
};

struct cfg {
	uint32_t pid, policy;
	uint64_t count, seq, drops;
};

static uint64_t records, checksum;

static int on_record(void *ctx, void *data, size_t len)
{
	const struct event *e = data;
	records++;
	checksum += e->seq + e->pid;
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap) { return 0; }

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s <events.bpf.o> <producer> <count> <policy>\n", argv[0]);
		return 2;
	}
	libbpf_set_print(silent);
	uint64_t count = strtoull(argv[3], NULL, 10);
	uint32_t policy = atoi(argv[4]);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "on_getppid");
	struct bpf_link *link = bpf_program__attach(prog);
	if (!link) {
		fprintf(stderr, "cannot attach: %s\n", strerror(errno));
		return 1;
	}
	int cfg_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "bench_cfg"));
	struct ring_buffer *rb = ring_buffer__new(
		bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_record, NULL, NULL);
	int go[2];
	if (pipe(go))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		execl(argv[2], argv[2], argv[3], (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	uint32_t k = 0;
	struct cfg cfg = { .pid = child, .policy = policy, .count = count };
	bpf_map_update_elem(cfg_fd, &k, &cfg, BPF_ANY);
	double t0 = now(), t1 = t0;
	if (write(go[1], "g", 1) != 1)
		return 1;
	int exited = 0;
	uint64_t wakeups = 0;
	for (;;) {
		int n = ring_buffer__poll(rb, 100);
		if (n > 0) {
			wakeups++;
			t1 = now();
		}
		if (!exited && waitpid(child, NULL, WNOHANG) == child)
			exited = 1;
		if (exited) {
			bpf_map_lookup_elem(cfg_fd, &k, &cfg);
			if (records + cfg.drops >= count)
				break;
			if (n == 0 && now() - t1 > 2)
				break;
		}
	}
	bpf_map_lookup_elem(cfg_fd, &k, &cfg);
	printf("%llu %llu %.6f %llu %llu\n", (unsigned long long)records,
	       (unsigned long long)cfg.drops, t1 - t0, (unsigned long long)wakeups,
	       (unsigned long long)checksum);
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
