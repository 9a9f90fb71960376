// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * xsk-reflect: a minimal AF_XDP reference program for the NIC lab, independent of the
 * engine (libxdp's own XSK program and socket code, no xsk-rs, no steer.bpf.c).
 *
 * It binds one AF_XDP socket per rx queue (each with its own UMEM), in zero-copy or copy
 * mode, with need_wakeup, and answers in place on the queue a frame arrived on:
 *   - ARP requests for ADDR          -> ARP reply
 *   - ICMP echo requests to ADDR     -> echo reply
 *   - UDP datagrams to ADDR          -> the same datagram back (addresses, ports swapped)
 * Everything else goes straight back to the fill ring. On SIGINT/SIGTERM it prints one
 * line per queue (frames received, answered, kernel XDP_STATISTICS) and exits.
 *
 * Frame handling is the textbook one: the RX descriptor's address (which in zero-copy
 * points past the driver's headroom) is used as is for TX, and completed TX addresses go
 * straight back to the fill ring (the kernel masks them to the chunk in aligned mode).
 *
 * The order of setup is selectable, since drivers reconfigure rings differently when a
 * socket is bound before or after the XDP program is attached:
 *   zc, copy                              bind queue 0, attach (libxdp's order), bind 1..N-1
 *   zc-attach-first, copy-attach-first    attach, then bind every queue
 *
 * QUEUES `all` means every queue that can both receive and send once the program is
 * attached (virtio_net adds XDP-only queue pairs that count as rx queues only).
 *
 * Usage: xsk-reflect IFACE QUEUES|all MODE ADDR
 */
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#define FRAMES 4096
#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define RING 2048
#define BATCH 64
#define MAXQ 16

struct q {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	void *buf;
	uint64_t rx_frames, answered, ignored, tx_kicks, fill_wakeups;
	uint32_t outstanding; /* on the TX ring or in flight, not yet completed */
};

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static void die(const char *what, int err)
{
	fprintf(stderr, "xsk-reflect: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint16_t csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return htons(csum_fold(s));
}

/* Rewrites the frame into its answer in place. Returns 1 if it is to be sent. */
static int answer(uint8_t *f, uint32_t len, uint32_t me, const uint8_t *ourmac)
{
	uint8_t mac[6];
	if (len < 14)
		return 0;
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == ETH_P_ARP && len >= 42) {
		uint8_t *a = f + 14;
		uint32_t tpa;
		memcpy(&tpa, a + 24, 4);
		if (a[6] != 0 || a[7] != 1 || tpa != me)
			return 0;
		a[7] = 2;                   /* reply */
		memcpy(a + 18, a + 8, 10);  /* tha, tpa <- sha, spa */
		memcpy(a + 8, ourmac, 6);   /* sha */
		memcpy(a + 14, &me, 4);     /* spa */
		memcpy(f, f + 6, 6);        /* to the requester */
		memcpy(f + 6, ourmac, 6);
		return 1;
	}
	if (type != ETH_P_IP || len < 34)
		return 0;
	uint8_t *ip = f + 14;
	uint32_t ihl = (ip[0] & 15) * 4u, dst;
	memcpy(&dst, ip + 16, 4);
	if ((ip[0] >> 4) != 4 || ihl < 20 || dst != me || 14 + ihl > len)
		return 0;
	uint8_t *l4 = ip + ihl;
	uint32_t l4len = len - 14 - ihl;
	if (ip[9] == 1 && l4len >= 8 && l4[0] == 8) {
		l4[0] = 0;
		l4[2] = l4[3] = 0;
		uint16_t c = csum(l4, (size_t)ntohs(*(uint16_t *)(ip + 2)) - ihl);
		memcpy(l4 + 2, &c, 2);
	} else if (ip[9] == 17 && l4len >= 8) {
		uint8_t t[2];
		memcpy(t, l4, 2);
		memcpy(l4, l4 + 2, 2);
		memcpy(l4 + 2, t, 2); /* swapping ports keeps the UDP checksum */
	} else {
		return 0;
	}
	uint8_t t4[4];
	memcpy(t4, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, t4, 4); /* swapping addresses keeps the IP checksum */
	memcpy(mac, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, mac, 6);
	return 1;
}

/* The queues that can receive and send. */
static int rx_queue_count(const char *ifname);

/* The interface's queues with the given prefix (rx- or tx-) now, from sysfs. */
static int queue_count(const char *ifname, const char *prefix)
{
	char path[128];
	int n = 0;
	snprintf(path, sizeof path, "/sys/class/net/%s/queues", ifname);
	DIR *d = opendir(path);
	if (!d)
		return 1;
	for (struct dirent *e; (e = readdir(d));)
		n += strncmp(e->d_name, prefix, 3) == 0;
	closedir(d);
	return n ? n : 1;
}

static int rx_queue_count(const char *ifname)
{
	int rx = queue_count(ifname, "rx-"), tx = queue_count(ifname, "tx-");
	return rx < tx ? rx : tx;
}

static void refill(struct q *q, const uint64_t *addrs, uint32_t n)
{
	uint32_t idx;
	while (xsk_ring_prod__reserve(&q->fq, n, &idx) != n) {
		if (xsk_ring_prod__needs_wakeup(&q->fq)) {
			q->fill_wakeups++;
			recvfrom(xsk_socket__fd(q->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
		}
		if (stop)
			return;
	}
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&q->fq, idx + i) = addrs[i];
	xsk_ring_prod__submit(&q->fq, n);
}

static void service(struct q *q, uint32_t me, const uint8_t *ourmac)
{
	uint32_t idx, n, i, tidx;
	uint64_t back[2 * BATCH];
	uint32_t nback = 0;

	/* Completions go back to the fill ring. */
	n = xsk_ring_cons__peek(&q->cq, BATCH, &idx);
	if (n) {
		for (i = 0; i < n; i++)
			back[i] = *xsk_ring_cons__comp_addr(&q->cq, idx + i);
		xsk_ring_cons__release(&q->cq, n);
		q->outstanding -= n;
		refill(q, back, n);
	}
	nback = 0;
	if (xsk_ring_prod__needs_wakeup(&q->fq)) {
		q->fill_wakeups++;
		recvfrom(xsk_socket__fd(q->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}

	n = xsk_ring_cons__peek(&q->rx, BATCH, &idx);
	if (!n)
		goto kick;
	struct xdp_desc out[BATCH];
	uint32_t nout = 0;
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		uint8_t *f = xsk_umem__get_data(q->buf, d->addr);
		q->rx_frames++;
		if (answer(f, d->len, me, ourmac))
			out[nout++] = *d;
		else
			back[nback++] = d->addr;
	}
	xsk_ring_cons__release(&q->rx, n);
	if (nout) {
		uint32_t got = xsk_ring_prod__reserve(&q->tx, nout, &tidx);
		for (i = 0; i < got; i++) {
			struct xdp_desc *t = xsk_ring_prod__tx_desc(&q->tx, tidx + i);
			t->addr = out[i].addr;
			t->len = out[i].len;
		}
		xsk_ring_prod__submit(&q->tx, got);
		q->answered += got;
		q->outstanding += got;
		for (i = got; i < nout; i++) /* no TX room: dropped */
			back[nback++] = out[i].addr;
	}
	q->ignored += n - nout;
	if (nback)
		refill(q, back, nback);
kick:
	if (q->outstanding && xsk_ring_prod__needs_wakeup(&q->tx)) {
		q->tx_kicks++;
		sendto(xsk_socket__fd(q->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: xsk-reflect IFACE QUEUES zc|copy|zc-attach-first|copy-attach-first ADDR\n");
		return 2;
	}
	const char *ifname = argv[1];
	int all = strcmp(argv[2], "all") == 0;
	int nq = all ? 1 : atoi(argv[2]);
	int zc = strncmp(argv[3], "zc", 2) == 0;
	int attach_first = strstr(argv[3], "-attach-first") != NULL;
	int mode_ok = !strcmp(argv[3], "zc") || !strcmp(argv[3], "copy") || !strcmp(argv[3], "zc-attach-first") ||
		      !strcmp(argv[3], "copy-attach-first");
	struct in_addr me;
	if (nq < 1 || nq > MAXQ || !mode_ok || inet_pton(AF_INET, argv[4], &me) != 1) {
		fprintf(stderr, "xsk-reflect: bad arguments\n");
		return 2;
	}
	struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };
	setrlimit(RLIMIT_MEMLOCK, &r);
	uint8_t mac[6];
	{
		char path[128];
		snprintf(path, sizeof path, "/sys/class/net/%s/address", ifname);
		FILE *fp = fopen(path, "r");
		if (!fp || fscanf(fp, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6)
			die("reading the interface's MAC", errno ? errno : EINVAL);
		fclose(fp);
	}

	int map_fd = -1;
	if (attach_first) {
		int e = xsk_setup_xdp_prog((int)if_nametoindex(ifname), &map_fd);
		if (e)
			die("attaching libxdp's XSK program", e);
		if (all)
			nq = rx_queue_count(ifname);
	}
	static struct q qs[MAXQ];
	for (int i = 0; i < nq; i++) {
		struct q *q = &qs[i];
		if (posix_memalign(&q->buf, getpagesize(), (size_t)FRAMES * FRAME_SIZE))
			die("allocating the UMEM", ENOMEM);
		struct xsk_umem_config uc = { .fill_size = RING, .comp_size = RING, .frame_size = FRAME_SIZE,
					      .frame_headroom = 0, .flags = 0 };
		int e = xsk_umem__create(&q->umem, q->buf, (uint64_t)FRAMES * FRAME_SIZE, &q->fq, &q->cq, &uc);
		if (e)
			die("xsk_umem__create", e);
		struct xsk_socket_config sc = { .rx_size = RING, .tx_size = RING,
						.libxdp_flags = attach_first ? XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0,
						.xdp_flags = XDP_FLAGS_DRV_MODE,
						.bind_flags = (uint16_t)((zc ? XDP_ZEROCOPY : XDP_COPY) | XDP_USE_NEED_WAKEUP) };
		e = xsk_socket__create(&q->xsk, ifname, (uint32_t)i, q->umem, &q->rx, &q->tx, &sc);
		if (e) {
			char what[96];
			snprintf(what, sizeof what, "binding queue %d in %s mode", i, zc ? "zero-copy" : "copy");
			die(what, e);
		}
		if (attach_first && (e = xsk_socket__update_xskmap(q->xsk, map_fd)))
			die("putting the socket in the XSKMAP", e);
		if (all && !attach_first && i == 0)
			nq = rx_queue_count(ifname); /* libxdp attached the program with queue 0 */
		if (nq > MAXQ)
			nq = MAXQ;
		/* Half the frames on the fill ring; the other half is never needed in place. */
		uint64_t addrs[RING];
		for (uint32_t j = 0; j < RING; j++)
			addrs[j] = (uint64_t)j * FRAME_SIZE;
		refill(q, addrs, RING);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("xsk-reflect: ready on %s, %d queue(s), %s mode, %s\n", ifname, nq, zc ? "zero-copy" : "copy",
	       attach_first ? "program attached before binding" : "queue 0 bound before the program was attached");
	fflush(stdout);
	while (!stop) {
		for (int i = 0; i < nq; i++)
			service(&qs[i], me.s_addr, mac);
	}
	for (int i = 0; i < nq; i++) {
		struct xdp_statistics st = { 0 };
		socklen_t sl = sizeof st;
		getsockopt(xsk_socket__fd(qs[i].xsk), SOL_XDP, XDP_STATISTICS, &st, &sl);
		printf("xsk-reflect: queue %d rx %llu answered %llu ignored %llu tx_kicks %llu fill_wakeups %llu"
		       " | kernel rx_dropped %llu rx_invalid %llu tx_invalid %llu rx_ring_full %llu fill_empty %llu\n",
		       i, (unsigned long long)qs[i].rx_frames, (unsigned long long)qs[i].answered,
		       (unsigned long long)qs[i].ignored, (unsigned long long)qs[i].tx_kicks,
		       (unsigned long long)qs[i].fill_wakeups, (unsigned long long)st.rx_dropped,
		       (unsigned long long)st.rx_invalid_descs, (unsigned long long)st.tx_invalid_descs,
		       (unsigned long long)st.rx_ring_full, (unsigned long long)st.rx_fill_ring_empty_descs);
	}
	for (int i = 0; i < nq; i++)
		xsk_socket__delete(qs[i].xsk);
	for (int i = 0; i < nq; i++)
		xsk_umem__delete(qs[i].umem);
	return 0;
}
