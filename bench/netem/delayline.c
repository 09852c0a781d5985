// delayline: a userspace one-way delay for packets handed over by iptables' NFQUEUE target.
//
// This kernel has neither sch_netem nor sch_fq, so the emulated link delays packets here: every
// packet the kernel queues is held for exactly --delay-us microseconds, then accepted. The delay is
// constant, so packets leave in arrival order and one batch verdict ("accept every id up to N")
// releases all packets that are due. The program speaks nfnetlink_queue over a raw netlink socket
// (no libnetfilter_queue needed: only libc and the kernel's UAPI headers).
//
//   delayline --queue 0 --delay-us 10000 [--maxlen 65536]
//
// The queue copies metadata only (COPY_META: no payload crosses to userspace), keeps GSO packets
// whole (F_GSO: a 64 KiB super-packet is one verdict, not 45) and fails open (F_FAIL_OPEN: when
// the kernel queue is full packets pass undelayed rather than being dropped). Prints "ready" once
// bound; on SIGTERM/SIGINT it releases everything it holds, prints its counters and exits 0.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE (1u << 20) // held packets; far above any bandwidth-delay product we emulate

struct held {
  uint32_t id;
  uint64_t arrived_ns;
};

static struct held ring[RING_SIZE];
static uint32_t ring_head, ring_tail; // head = oldest, tail = next free
static volatile sig_atomic_t stopping;
static int nl_fd;
static uint16_t queue_num;
static uint32_t seq;

static uint64_t packets_seen, max_held, ring_overflows;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "delayline: %s: %s\n", what, strerror(errno));
  exit(1);
}

// Appends one attribute to the message in buf (which has room) and returns the new length.
static size_t put_attr(char *buf, size_t len, uint16_t type, const void *data, uint16_t size) {
  struct nlattr *attr = (struct nlattr *)(buf + len);
  attr->nla_type = type;
  attr->nla_len = NLA_HDRLEN + size;
  memcpy(buf + len + NLA_HDRLEN, data, size);
  return len + NLA_ALIGN(attr->nla_len);
}

// Starts an nfnetlink_queue message: netlink header + nfgenmsg addressed to our queue.
static size_t begin_msg(char *buf, uint16_t msg_type, uint16_t flags) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  memset(buf, 0, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | msg_type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = ++seq;
  struct nfgenmsg *nfg = (struct nfgenmsg *)(buf + NLMSG_HDRLEN);
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(queue_num);
  return NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
}

static void send_msg(char *buf, size_t len) {
  ((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)len;
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  if (sendto(nl_fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) die("sendto");
}

// Sends a config message and waits for the kernel's acknowledgement (errors are fatal: they mean
// the queue could not be set up, and the benchmark must not run on a link that is not what it says).
static void configure(const char *what, char *buf, size_t len) {
  send_msg(buf, len);
  char reply[4096];
  ssize_t n = recv(nl_fd, reply, sizeof(reply), 0);
  if (n < 0) die(what);
  struct nlmsghdr *nlh = (struct nlmsghdr *)reply;
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    struct nlmsgerr *err = (struct nlmsgerr *)NLMSG_DATA(nlh);
    if (err->error != 0) {
      errno = -err->error;
      die(what);
    }
  }
}

static void bind_queue(uint32_t maxlen) {
  char buf[256];
  size_t len = begin_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET)};
  len = put_attr(buf, len, NFQA_CFG_CMD, &cmd, sizeof(cmd));
  configure("bind queue", buf, len);

  len = begin_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
  struct nfqnl_msg_config_params params = {.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META};
  len = put_attr(buf, len, NFQA_CFG_PARAMS, &params, sizeof(params));
  uint32_t be_maxlen = htonl(maxlen);
  len = put_attr(buf, len, NFQA_CFG_QUEUE_MAXLEN, &be_maxlen, sizeof(be_maxlen));
  uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO);
  len = put_attr(buf, len, NFQA_CFG_MASK, &flags, sizeof(flags));
  len = put_attr(buf, len, NFQA_CFG_FLAGS, &flags, sizeof(flags));
  configure("configure queue", buf, len);
}

// Accepts every queued packet whose id is <= id (ids grow monotonically per queue).
static void accept_up_to(uint32_t id) {
  char buf[64];
  size_t len = begin_msg(buf, NFQNL_MSG_VERDICT_BATCH, 0);
  struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(NF_ACCEPT), .id = htonl(id)};
  len = put_attr(buf, len, NFQA_VERDICT_HDR, &vh, sizeof(vh));
  send_msg(buf, len);
}

static void hold(uint32_t id, uint64_t arrived) {
  uint32_t held_now = ring_tail - ring_head;
  if (held_now >= RING_SIZE) {
    // Cannot hold more: release the oldest early rather than lose track of ids.
    accept_up_to(ring[ring_head % RING_SIZE].id);
    ring_head++;
    ring_overflows++;
  }
  ring[ring_tail % RING_SIZE] = (struct held){.id = id, .arrived_ns = arrived};
  ring_tail++;
  if (ring_tail - ring_head > max_held) max_held = ring_tail - ring_head;
}

// Reads every pending packet notification without blocking and holds each packet.
static void receive_packets(void) {
  static char buf[1 << 16];
  for (;;) {
    ssize_t n = recv(nl_fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (errno == ENOBUFS) continue; // a lost notification: its packet goes with the next batch
      die("recv");
    }
    uint64_t arrived = now_ns();
    for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (size_t)n);
         nlh = NLMSG_NEXT(nlh, n)) {
      if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET) continue;
      size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
      while (off + NLA_HDRLEN <= nlh->nlmsg_len) {
        struct nlattr *attr = (struct nlattr *)((char *)nlh + off);
        if (attr->nla_len < NLA_HDRLEN) break;
        if ((attr->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR) {
          struct nfqnl_msg_packet_hdr *ph = (struct nfqnl_msg_packet_hdr *)((char *)attr + NLA_HDRLEN);
          hold(ntohl(ph->packet_id), arrived);
          packets_seen++;
          break;
        }
        off += NLA_ALIGN(attr->nla_len);
      }
    }
  }
}

// Releases every held packet that is due, in one verdict. Returns ns until the next is due (or -1).
static int64_t release_due(uint64_t delay_ns) {
  uint64_t now = now_ns();
  uint32_t last = ring_head;
  while (last != ring_tail && ring[last % RING_SIZE].arrived_ns + delay_ns <= now) last++;
  if (last != ring_head) {
    accept_up_to(ring[(last - 1) % RING_SIZE].id);
    ring_head = last;
  }
  if (ring_head == ring_tail) return -1;
  return (int64_t)(ring[ring_head % RING_SIZE].arrived_ns + delay_ns - now);
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  long delay_us = -1, maxlen = 65536;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--queue")) queue_num = (uint16_t)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--delay-us")) delay_us = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--maxlen")) maxlen = atol(argv[i + 1]);
  }
  if (delay_us < 0 || maxlen <= 0) {
    fprintf(stderr, "usage: delayline --queue N --delay-us MICROSECONDS [--maxlen PACKETS]\n");
    return 2;
  }
  uint64_t delay_ns = (uint64_t)delay_us * 1000ull;
  prctl(PR_SET_TIMERSLACK, 1UL); // wake up on time, not up to 50 µs late

  nl_fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  if (nl_fd < 0) die("socket");
  int rcvbuf = 64 << 20, one = 1;
  if (setsockopt(nl_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
    die("SO_RCVBUFFORCE");
  setsockopt(nl_fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(nl_fd, (struct sockaddr *)&local, sizeof(local)) < 0) die("bind");
  bind_queue((uint32_t)maxlen);

  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready\n");
  fflush(stdout);

  while (!stopping) {
    int64_t wait_ns = release_due(delay_ns);
    struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
    struct pollfd pfd = {.fd = nl_fd, .events = POLLIN};
    int r = ppoll(&pfd, 1, wait_ns < 0 ? NULL : &ts, NULL);
    if (r < 0 && errno != EINTR) die("ppoll");
    if (r > 0) receive_packets();
  }
  if (ring_head != ring_tail) accept_up_to(ring[(ring_tail - 1) % RING_SIZE].id);
  fprintf(stderr, "delayline: packets=%llu max_held=%llu ring_overflows=%llu\n",
          (unsigned long long)packets_seen, (unsigned long long)max_held,
          (unsigned long long)ring_overflows);
  return 0;
}
