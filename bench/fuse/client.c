/*
 * Measuring client for bench/fuse, in C so that the client's own cost is the same tiny constant
 * for every filesystem under test. Prints one JSON object.
 *
 *   client fstat <file> <n>        n fstat() calls on one open fd: per-op latency
 *   client randread <file> <n>     n 4 KiB preads at distinct random 4 KiB-aligned offsets after
 *                                  dropping the file's page cache and disabling readahead: every
 *                                  read is a page-cache miss (on FUSE: one 4 KiB READ request)
 *   client seqread <file> <bs>     read the file from start to end in <bs> pieces: throughput
 *   client dropcache <file>        POSIX_FADV_DONTNEED on the whole file
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void print_latency(const char *op, uint64_t *ns, long n) {
	double sum = 0;
	for (long i = 0; i < n; i++) sum += ns[i];
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("{\"op\":\"%s\",\"n\":%ld,\"meanUs\":%.3f,\"p50Us\":%.3f,\"p90Us\":%.3f,\"p99Us\":%.3f}\n", op, n,
	       sum / n / 1000.0, ns[n / 2] / 1000.0, ns[n * 9 / 10] / 1000.0, ns[n * 99 / 100] / 1000.0);
}

static int open_or_die(const char *path) {
	int fd = open(path, O_RDONLY);
	if (fd < 0) { perror(path); exit(1); }
	return fd;
}

static void bench_fstat(const char *path, long n) {
	int fd = open_or_die(path);
	uint64_t *ns = malloc(n * sizeof(*ns));
	struct stat st;
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns();
		if (fstat(fd, &st) != 0) { perror("fstat"); exit(1); }
		ns[i] = now_ns() - t;
	}
	print_latency("fstat", ns, n);
}

static void bench_randread(const char *path, long n) {
	int fd = open_or_die(path);
	struct stat st;
	fstat(fd, &st);
	long blocks = st.st_size / 4096;
	if (blocks < n) { fprintf(stderr, "file too small for %ld distinct blocks\n", n); exit(1); }
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	/* distinct offsets: a random permutation prefix of all block numbers */
	long *order = malloc(blocks * sizeof(*order));
	for (long i = 0; i < blocks; i++) order[i] = i;
	srand48(42);
	for (long i = 0; i < n; i++) {
		long j = i + (long)(drand48() * (blocks - i));
		long tmp = order[i]; order[i] = order[j]; order[j] = tmp;
	}
	uint64_t *ns = malloc(n * sizeof(*ns));
	char buf[4096];
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns();
		if (pread(fd, buf, sizeof(buf), order[i] * 4096) != sizeof(buf)) { perror("pread"); exit(1); }
		ns[i] = now_ns() - t;
	}
	print_latency("randread4k", ns, n);
}

static void bench_seqread(const char *path, long bs) {
	int fd = open_or_die(path);
	char *buf = malloc(bs);
	uint64_t total = 0, t = now_ns();
	for (;;) {
		ssize_t got = read(fd, buf, bs);
		if (got < 0) { perror("read"); exit(1); }
		if (got == 0) break;
		total += got;
	}
	double s = (now_ns() - t) / 1e9;
	printf("{\"op\":\"seqread\",\"bytes\":%llu,\"seconds\":%.4f,\"gibPerSecond\":%.3f}\n",
	       (unsigned long long)total, s, total / s / (1 << 30));
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: client fstat|randread|seqread|dropcache <file> [n]\n"); return 2; }
	const char *op = argv[1], *path = argv[2];
	long n = argc > 3 ? atol(argv[3]) : 0;
	if (!strcmp(op, "fstat")) bench_fstat(path, n);
	else if (!strcmp(op, "randread")) bench_randread(path, n);
	else if (!strcmp(op, "seqread")) bench_seqread(path, n);
	else if (!strcmp(op, "dropcache")) {
		int fd = open_or_die(path);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		printf("{\"op\":\"dropcache\"}\n");
	} else { fprintf(stderr, "unknown op %s\n", op); return 2; }
	return 0;
}
