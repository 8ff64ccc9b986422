// The maps benchmark's C baseline: dump a pinned u64 -> u64 hash map into arrays, with batch
// lookups and with get_next_key + lookup. Usage: dump <pinned map | id:N> <runs>
// Prints "entries batch_ms walk_ms" (the best of <runs> each).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long dump_batch(int fd, uint64_t *keys, uint64_t *values, uint32_t cap)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t in = 0, out = 0, total = 0;
	int first = 1;
	for (;;) {
		uint32_t n = cap - total;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys + total,
					     values + total, &n, &opts);
		if (r && errno != ENOENT)
			return -errno;
		total += n;
		first = 0;
		in = out;
		if (r || total == cap)
			return total;
	}
}

static long dump_walk(int fd, uint64_t *keys, uint64_t *values, uint32_t cap)
{
	uint32_t total = 0;
	const uint64_t *prev = NULL;
	while (total < cap && !bpf_map_get_next_key(fd, prev, &keys[total])) {
		if (!bpf_map_lookup_elem(fd, &keys[total], &values[total])) {
			prev = &keys[total];
			total++;
		}
	}
	return total;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <pinned map | id:N> <runs>\n", argv[0]);
		return 2;
	}
	int fd = strncmp(argv[1], "id:", 3) ? bpf_obj_get(argv[1])
					     : bpf_map_get_fd_by_id(atoi(argv[1] + 3));
	if (fd < 0) {
		fprintf(stderr, "cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);
	bpf_obj_get_info_by_fd(fd, &info, &len);
	uint32_t cap = info.max_entries;
	uint64_t *keys = malloc(sizeof(uint64_t) * cap), *values = malloc(sizeof(uint64_t) * cap);
	int runs = atoi(argv[2]);
	double best_batch = 1e18, best_walk = 1e18;
	long n = 0, m = 0;
	uint64_t sum = 0;
	for (int i = 0; i < runs; i++) {
		double t = now_ms();
		n = dump_batch(fd, keys, values, cap);
		t = now_ms() - t;
		if (t < best_batch)
			best_batch = t;
		sum += values[n / 2];
	}
	for (int i = 0; i < runs; i++) {
		double t = now_ms();
		m = dump_walk(fd, keys, values, cap);
		t = now_ms() - t;
		if (t < best_walk)
			best_walk = t;
		sum += values[m / 2];
	}
	if (n < 0 || m != n) {
		fprintf(stderr, "dumps disagree: batch %ld, walk %ld\n", n, m);
		return 1;
	}
	printf("%ld %.3f %.3f %llu\n", n, best_batch, best_walk, (unsigned long long)sum);
	return 0;
}
