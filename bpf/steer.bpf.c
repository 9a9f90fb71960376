// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bypass XDP steering program.
 *
 * Frames meant for one of the engine's IPv4 addresses (IPv4 with that destination,
 * ARP whose target protocol address is that address) are redirected into the AF_XDP
 * socket bound on the frame's rx queue (xsks[rx_queue_index]). Everything else gets
 * XDP_PASS, so the kernel keeps its own addresses, ARP and traffic on the interface.
 * A frame for the engine arriving on a queue with no socket is dropped and counted.
 *
 * Maps the engine fills at run time:
 *   xsks   XSKMAP, rx queue index -> AF_XDP socket fd
 *   addrs  HASH, IPv4 address (network byte order) -> 1; changeable without reload
 *   stats  PERCPU_ARRAY, rx queue index -> {steered, passed, no_socket}
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 64
#define MAX_ADDRS 64

struct queue_stats {
	__u64 steered;
	__u64 passed;
	__u64 no_socket;
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ADDRS);
	__type(key, __u32);
	__type(value, __u8);
} addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct queue_stats);
} stats SEC(".maps");

/* ARP for Ethernet/IPv4: 8-byte fixed header, then sha(6) spa(4) tha(6) tpa(4). */
#define ARP_TPA_OFFSET 24
#define ARP_LEN 28

static __always_inline int for_engine(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	__u32 dst;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return 0;
		dst = ip->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		__u8 *arp = (void *)(eth + 1);
		if ((void *)(arp + ARP_LEN) > data_end)
			return 0;
		__builtin_memcpy(&dst, arp + ARP_TPA_OFFSET, sizeof(dst));
	} else {
		return 0;
	}
	return bpf_map_lookup_elem(&addrs, &dst) != NULL;
}

SEC("xdp")
int bypass_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 queue = ctx->rx_queue_index;
	struct queue_stats *st = bpf_map_lookup_elem(&stats, &queue);

	if (!for_engine(data, data_end)) {
		if (st)
			st->passed++;
		return XDP_PASS;
	}
	if (!bpf_map_lookup_elem(&xsks, &queue)) {
		if (st)
			st->no_socket++;
		return XDP_DROP;
	}
	if (st)
		st->steered++;
	/* XDP_DROP is the fallback should the socket vanish between lookup and redirect. */
	return bpf_redirect_map(&xsks, queue, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
