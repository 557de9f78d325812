// SPDX-License-Identifier: Apache-2.0
//
// switchd's kernel fast path: tc ingress programs that carry out the engine's
// decisions for packets whose key the engine already decided, and send every other
// packet up to switchd.
//
// fp_port runs at the ingress of a port's device in switchd's namespace (a veth's
// host end, a system port); fp_tunnel at the ingress of switchd's external-mode
// VXLAN device, after the kernel decapsulated the packet. Both reduce the frame to
// a key (struct fp_key: the ingress device, tunnel id and source, and every header
// field the engine's flow key reads for IPv4, plus the TCP flags), look it up in
// fp_mega under each mask of fp_masks (wildcarded entries: untracked
// decisions, kept for every frame equal under the bits the engine read), then
// in fp_flows2 (exact entries), and on a valid hit redirect or drop as the entry says (after taking
// a VLAN tag off or putting one on, when the entry says so). Everything else
// (a miss, an entry of an older generation, a frame that is not plain IPv4 or IPv6,
// an IP fragment, neighbour discovery) goes up: a 104-byte header (struct
// fp_meta: the key as computed here, so user space installs exactly this key) is pushed in front of the frame and the
// frame is redirected to switchd's upcall TAP, which it reads like a VM's.
//
// Byte orders: addresses and ports as on the wire; tunnel addresses and the
// tunnel id as the kernel's bpf_tunnel_key gives them (host order).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in6.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* "NTU2": the header of this layout (a key with its VLAN); a switchd reading
 * another layout's upcalls drops them rather than misreading them. */
#define FP_MAGIC 0x4e545532
#define FP_KEY_OK 1

enum fp_kind {
    FP_DROP = 0,
    FP_PEER = 1,   /* into a veth's peer, in the VM's namespace */
    FP_EGRESS = 2, /* out of a device of this namespace (a TAP: to its VM) */
    FP_TUNNEL = 3, /* into the VXLAN device with a tunnel key */
};

enum fp_stat {
    FP_STAT_HIT = 0,
    FP_STAT_UPCALL = 1,
    FP_STAT_UPCALL_FAIL = 2,
    FP_STAT_STALE = 3,
    FP_STAT_CTL = 4,
    FP_STAT_MAX = 5,
};

struct fp_key {
    __u32 ifindex;
    __u32 tun_src;
    __u64 tun_id;
    __u8 dl_dst[6];
    __u8 dl_src[6];
    __u16 dl_type;
    /* An ICMP echo's identifier (part of its connection, as a TCP or UDP port
     * is); 0 otherwise. */
    __u16 icmp_id;
    __u32 nw_src;
    __u32 nw_dst;
    __u8 nw_proto;
    __u8 nw_tos;
    __u8 nw_ttl;
    __u8 reserved; /* zero */
    __u16 tp_src;
    __u16 tp_dst;
    /* The 802.1Q tag the kernel took out of the frame, with 0x1000 set (as the
     * engine's vlan_tci has it); 0 when untagged. */
    __u16 vlan_tci;
    __u8 pad[6]; /* zero */
    /* IPv6 addresses (nw_src/nw_dst are zero then), as on the wire. */
    __u8 ipv6_src[16];
    __u8 ipv6_dst[16];
};

struct fp_val {
    __u64 gen;
    __u64 packets;
    __u64 bytes;
    __u64 used;
    __u32 kind;
    __u32 ifindex;
    __u32 tun_dst;
    __u16 tun_ttl;
    __u16 flags; /* FP_F_* */
    __u64 tun_id;
    /* The tag FP_F_VLAN_PUSH puts on (as on the wire, without 0x1000). */
    __u16 vlan_tci;
    __u8 pad[6];
};

/* The decision went through connection tracking: TCP segments that move a
 * connection's state (SYN, FIN, RST) go up to switchd. */
#define FP_F_TRACKED 1
/* Before the output: take the frame's tag off, then put one on (both: rewrite). */
#define FP_F_VLAN_POP 2
#define FP_F_VLAN_PUSH 4
#define TCP_CTL (0x01 | 0x02 | 0x04)

struct fp_conf {
    __u64 gen;
    __u32 upcall_ifindex;
    /* Masks in use in fp_masks (1..n_masks - 1 are looked at; 0 is unused). */
    __u32 n_masks;
};

/* A wildcarded entry's key: which mask, and the frame's key under it. */
struct fp_mkey {
    __u32 mask;
    __u32 pad; /* zero */
    struct fp_key key;
};

#define FP_MASKS 16
#define FP_KEY_WORDS (sizeof(struct fp_key) / 8)

struct fp_meta {
    __u32 magic;
    __u32 flags;
    struct fp_key key;
    __u32 tun_dst;
    __u32 tcp_flags;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct fp_key);
    __type(value, struct fp_val);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_flows2 SEC(".maps"); /* "2": this layout; an older switchd's fp_flows is
                            * another map */

/* Wildcarded entries (megaflows): decisions the engine made for every frame
 * equal to the key under a mask (the bits its tables and actions read), looked
 * up mask by mask when fp_flows2 has no entry for the exact key. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, FP_MASKS);
    __type(key, __u32);
    __type(value, struct fp_key);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_masks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct fp_mkey);
    __type(value, struct fp_val);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_mega SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fp_conf);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_conf SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, FP_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_stats SEC(".maps");

static __always_inline void count(__u32 which)
{
    __u64 *c = bpf_map_lookup_elem(&fp_stats, &which);
    if (c)
        *c += 1;
}

/* Fills the key; 0 when the frame is plain IPv4 or IPv6 that the fast path may
 * carry: not a fragment, headers present, for IPv6 no extension header and no
 * neighbour discovery or MLD (ICMPv6 types from 130: the switch sees all of
 * those). Headers are read with bpf_skb_load_bytes:
 * direct access would need them in the linear part, and pulling them there makes
 * a cloned packet (TCP sends clones of what it keeps for retransmission) copy
 * its head, on every packet. */
static __always_inline int parse(struct __sk_buff *skb, struct fp_key *k, __u32 *tcp_flags)
{
    struct {
        struct ethhdr eth;
        struct iphdr ip;
    } __attribute__((packed)) h;
    /* The kernel takes an 802.1Q tag out of the frame before tc ingress: it goes
     * into the key. 802.1ad tags go up. */
    if (skb->vlan_present) {
        if (skb->vlan_proto != bpf_htons(ETH_P_8021Q))
            return -1;
        k->vlan_tci = (__u16)skb->vlan_tci | 0x1000;
    }
    if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)) < 0)
        return -1;
    __builtin_memcpy(k->dl_dst, h.eth.h_dest, 6);
    __builtin_memcpy(k->dl_src, h.eth.h_source, 6);
    k->dl_type = h.eth.h_proto;
    __u32 off;
    __u8 proto;
    if (h.eth.h_proto == bpf_htons(ETH_P_IPV6)) {
        __u8 ip6[40];
        if (bpf_skb_load_bytes(skb, ETH_HLEN, ip6, 40) < 0 || ip6[0] >> 4 != 6)
            return -1;
        proto = ip6[6];
        if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMPV6)
            return -1;
        __builtin_memcpy(k->ipv6_src, ip6 + 8, 16);
        __builtin_memcpy(k->ipv6_dst, ip6 + 24, 16);
        k->nw_proto = proto;
        k->nw_tos = (__u8)((ip6[0] & 0x0f) << 4 | ip6[1] >> 4);
        k->nw_ttl = ip6[7];
        off = ETH_HLEN + 40;
    } else {
        if (h.eth.h_proto != bpf_htons(ETH_P_IP) || h.ip.version != 4 || h.ip.ihl < 5)
            return -1;
        if (h.ip.frag_off & bpf_htons(0x3fff))
            return -1;
        k->nw_src = h.ip.saddr;
        k->nw_dst = h.ip.daddr;
        k->nw_proto = h.ip.protocol;
        k->nw_tos = h.ip.tos;
        k->nw_ttl = h.ip.ttl;
        proto = h.ip.protocol;
        off = ETH_HLEN + h.ip.ihl * 4;
    }
    __u8 l4[14];
    switch (proto) {
    case IPPROTO_TCP:
        if (bpf_skb_load_bytes(skb, off, l4, 14) < 0)
            return -1;
        k->tp_src = *(__u16 *)l4;
        k->tp_dst = *(__u16 *)(l4 + 2);
        *tcp_flags = l4[13];
        break;
    case IPPROTO_UDP:
        if (bpf_skb_load_bytes(skb, off, l4, 8) < 0)
            return -1;
        k->tp_src = *(__u16 *)l4;
        k->tp_dst = *(__u16 *)(l4 + 2);
        break;
    /* The engine reads type and code under either protocol number, whatever
     * the IP version, so the key does too. */
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        if (bpf_skb_load_bytes(skb, off, l4, 8) < 0)
            return -1;
        /* Neighbour discovery and MLD always go up: the switch sees all of it. */
        if (proto == IPPROTO_ICMPV6 && l4[0] >= 130)
            return -1;
        k->tp_src = l4[0];
        k->tp_dst = l4[1];
        /* An echo's identifier (request and reply of ICMP, then of ICMPv6). */
        if (l4[0] == 0 || l4[0] == 8 || l4[0] == 128 || l4[0] == 129)
            k->icmp_id = *(__u16 *)(l4 + 4);
        break;
    default:
        break;
    }
    return 0;
}

/* The current wildcarded entry that covers `key`, if any (masks in order;
 * each entry is right for every frame it covers, so the first found will do). */
static __always_inline struct fp_val *lookup_mega(const struct fp_key *key, const struct fp_conf *conf)
{
    struct fp_mkey mk = {};
    __u32 n = conf->n_masks;
    for (__u32 i = 1; i < FP_MASKS; i++) {
        if (i >= n)
            break;
        __u32 idx = i;
        const __u64 *m = bpf_map_lookup_elem(&fp_masks, &idx);
        if (!m)
            break;
        const __u64 *k = (const __u64 *)key;
        __u64 *out = (__u64 *)&mk.key;
#pragma unroll
        for (int w = 0; w < FP_KEY_WORDS; w++)
            out[w] = k[w] & m[w];
        mk.mask = i;
        struct fp_val *v = bpf_map_lookup_elem(&fp_mega, &mk);
        if (v && v->gen == conf->gen)
            return v;
    }
    return 0;
}

static __always_inline int act(struct __sk_buff *skb, struct fp_val *v)
{
    __sync_fetch_and_add(&v->packets, 1);
    __sync_fetch_and_add(&v->bytes, skb->len);
    /* The coarse clock (a tick's resolution is plenty for idle expiry) costs a
     * fraction of the precise one on every packet. */
    v->used = bpf_ktime_get_coarse_ns();
    count(FP_STAT_HIT);
    if ((v->flags & FP_F_VLAN_POP) && bpf_skb_vlan_pop(skb) < 0)
        return TC_ACT_SHOT;
    if ((v->flags & FP_F_VLAN_PUSH) &&
        bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), v->vlan_tci) < 0)
        return TC_ACT_SHOT;
    switch (v->kind) {
    case FP_PEER:
        return bpf_redirect_peer(v->ifindex, 0);
    case FP_EGRESS:
        return bpf_redirect(v->ifindex, 0);
    case FP_TUNNEL: {
        struct bpf_tunnel_key tk = {};
        tk.tunnel_id = (__u32)v->tun_id;
        tk.remote_ipv4 = v->tun_dst;
        tk.tunnel_ttl = v->tun_ttl ? v->tun_ttl : 64;
        if (bpf_skb_set_tunnel_key(skb, &tk, sizeof(tk), BPF_F_ZERO_CSUM_TX) < 0)
            return TC_ACT_SHOT;
        return bpf_redirect(v->ifindex, 0);
    }
    default:
        return TC_ACT_SHOT;
    }
}

/* Puts a tag the kernel keeps beside the frame back into it, after the MAC
 * addresses, as it came on the wire: switchd reads the frame behind the upcall
 * header, where the TAP would otherwise insert the tag (inside that header). */
static __always_inline int inline_vlan(struct __sk_buff *skb)
{
    __u16 proto = skb->vlan_proto; /* network order */
    __u16 tci = bpf_htons((__u16)skb->vlan_tci);
    __u8 macs[12];
    if (bpf_skb_vlan_pop(skb) < 0)
        return -1;
    /* Four bytes in front, the addresses moved into them: the inner EtherType
     * then follows the tag where it stood (bpf_skb_adjust_room would refuse
     * what is not IP, an ARP for one). */
    if (bpf_skb_change_head(skb, 4, 0) < 0 ||
        bpf_skb_load_bytes(skb, 4, macs, 12) < 0 ||
        bpf_skb_store_bytes(skb, 0, macs, 12, 0) < 0 ||
        bpf_skb_store_bytes(skb, 12, &proto, 2, 0) < 0 ||
        bpf_skb_store_bytes(skb, 14, &tci, 2, 0) < 0)
        return -1;
    /* A second tag (QinQ) is now beside the frame, where the TAP would put it
     * inside the upcall header: such frames are dropped, and counted. */
    return skb->vlan_present ? -1 : 0;
}

static __always_inline int run(struct __sk_buff *skb, int tunnel)
{
    __u32 zero = 0;
    struct fp_conf *conf = bpf_map_lookup_elem(&fp_conf, &zero);
    struct fp_meta meta = {};
    meta.magic = FP_MAGIC;
    meta.key.ifindex = skb->ifindex;
    if (tunnel) {
        struct bpf_tunnel_key tk = {};
        if (bpf_skb_get_tunnel_key(skb, &tk, sizeof(tk), 0) < 0)
            return TC_ACT_SHOT;
        meta.key.tun_id = tk.tunnel_id;
        meta.key.tun_src = tk.remote_ipv4;
        meta.tun_dst = tk.local_ipv4;
    }
    if (parse(skb, &meta.key, &meta.tcp_flags) == 0) {
        meta.flags = FP_KEY_OK;
        /* Wildcarded entries first: a flow that takes one never has an exact
         * entry, and its frames then cost one lookup, not two. (Tracked
         * decisions are exact only: on a host with wildcarded entries they
         * pay the masks' misses first.) */
        if (conf && conf->n_masks > 1) {
            struct fp_val *m = lookup_mega(&meta.key, conf);
            if (m)
                return act(skb, m);
        }
        struct fp_val *v = bpf_map_lookup_elem(&fp_flows2, &meta.key);
        if (v && conf && v->gen == conf->gen) {
            if (!(v->flags & FP_F_TRACKED) || !(meta.tcp_flags & TCP_CTL))
                return act(skb, v);
            count(FP_STAT_CTL);
        } else if (v) {
            count(FP_STAT_STALE);
        }
    }
    if (!conf || !conf->upcall_ifindex) {
        count(FP_STAT_UPCALL_FAIL);
        return TC_ACT_SHOT;
    }
    count(FP_STAT_UPCALL);
    if (skb->vlan_present && inline_vlan(skb) < 0) {
        count(FP_STAT_UPCALL_FAIL);
        return TC_ACT_SHOT;
    }
    if (bpf_skb_change_head(skb, sizeof(meta), 0) ||
        bpf_skb_store_bytes(skb, 0, &meta, sizeof(meta), 0)) {
        count(FP_STAT_UPCALL_FAIL);
        return TC_ACT_SHOT;
    }
    return bpf_redirect(conf->upcall_ifindex, 0);
}

SEC("classifier")
int fp_port(struct __sk_buff *skb)
{
    return run(skb, 0);
}

SEC("classifier")
int fp_tunnel(struct __sk_buff *skb)
{
    return run(skb, 1);
}

char _license[] SEC("license") = "Apache-2.0";
