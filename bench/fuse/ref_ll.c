/*
 * Reference for bench/fuse: the smallest libfuse3 low-level filesystem that can serve the same
 * workloads as the TypeScript server — "hello" (13 bytes) for fstat, and "data" (REF_SIZE bytes of
 * generated content served from a static buffer, opened with keep_cache) for reads. Attribute and
 * entry timeouts come from REF_TIMEOUT (seconds, default 0: every fstat reaches the daemon).
 * hello_ll from libfuse3-dev's examples cannot serve reads of this size, hence this file.
 *
 *   REF_SIZE=2147483648 ./ref_ll -f -s <mountpoint>
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { INO_ROOT = 1, INO_HELLO = 2, INO_DATA = 3 };
#define PRIME 251
#define MAX_REPLY (1 << 20)

static off_t data_size;
static double timeout;
static char ramp[MAX_REPLY + PRIME];
static const char hello[] = "Hello World!\n";

static int fill(fuse_ino_t ino, struct stat *st) {
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	switch (ino) {
	case INO_ROOT: st->st_mode = S_IFDIR | 0755; st->st_nlink = 2; return 0;
	case INO_HELLO: st->st_mode = S_IFREG | 0444; st->st_nlink = 1; st->st_size = strlen(hello); return 0;
	case INO_DATA: st->st_mode = S_IFREG | 0444; st->st_nlink = 1; st->st_size = data_size; return 0;
	default: return -1;
	}
}

static void ref_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	if (parent != INO_ROOT) { fuse_reply_err(req, ENOENT); return; }
	if (strcmp(name, "hello") == 0) e.ino = INO_HELLO;
	else if (strcmp(name, "data") == 0) e.ino = INO_DATA;
	else { fuse_reply_err(req, ENOENT); return; }
	e.attr_timeout = timeout;
	e.entry_timeout = timeout;
	fill(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void ref_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
	struct stat st;
	(void)fi;
	if (fill(ino, &st) != 0) fuse_reply_err(req, ENOENT);
	else fuse_reply_attr(req, &st, timeout);
}

static void ref_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
	if (ino == INO_ROOT) fuse_reply_err(req, EISDIR);
	else if ((fi->flags & O_ACCMODE) != O_RDONLY) fuse_reply_err(req, EACCES);
	else { fi->keep_cache = 1; fuse_reply_open(req, fi); }
}

static void ref_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
	(void)fi;
	if (ino == INO_HELLO) {
		size_t len = strlen(hello);
		if ((size_t)off >= len) fuse_reply_buf(req, NULL, 0);
		else fuse_reply_buf(req, hello + off, size < len - off ? size : len - off);
		return;
	}
	if (off >= data_size) { fuse_reply_buf(req, NULL, 0); return; }
	if (size > MAX_REPLY) size = MAX_REPLY;
	if ((off_t)size > data_size - off) size = data_size - off;
	fuse_reply_buf(req, ramp + off % PRIME, size);
}

static void ref_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
	static const char *names[] = { ".", "..", "hello", "data" };
	static const fuse_ino_t inos[] = { INO_ROOT, INO_ROOT, INO_HELLO, INO_DATA };
	char buf[4096];
	size_t used = 0;
	(void)fi;
	if (ino != INO_ROOT) { fuse_reply_err(req, ENOTDIR); return; }
	if (size > sizeof(buf)) size = sizeof(buf);
	for (off_t i = off; i < 4; i++) {
		struct stat st;
		fill(inos[i], &st);
		size_t need = fuse_add_direntry(req, buf + used, size - used, names[i], &st, i + 1);
		if (need > size - used) break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = ref_lookup,
	.getattr = ref_getattr,
	.open = ref_open,
	.read = ref_read,
	.readdir = ref_readdir,
};

int main(int argc, char *argv[]) {
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_session *se;
	int ret = 1;
	const char *size = getenv("REF_SIZE");
	const char *t = getenv("REF_TIMEOUT");
	data_size = size ? strtoll(size, NULL, 10) : 0;
	timeout = t ? strtod(t, NULL) : 0.0;
	for (size_t i = 0; i < sizeof(ramp); i++) ramp[i] = (char)(i % PRIME);
	if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint) {
		fprintf(stderr, "usage: REF_SIZE=<bytes> %s -f -s <mountpoint>\n", argv[0]);
		return 1;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (se && fuse_set_signal_handlers(se) == 0 && fuse_session_mount(se, opts.mountpoint) == 0) {
		ret = opts.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, NULL);
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
	}
	if (se) fuse_session_destroy(se);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
