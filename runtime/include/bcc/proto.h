/* BCC compatibility: <bcc/proto.h>. The cursor idiom (`cursor_advance`) and packet header
 * structs. Unlike BCC, field reads are not rewritten into load_half/load_word: the fields are
 * in network byte order (use ntohs/ntohl), and packet memory needs the usual bounds checks. */
#ifndef BPFPM_BCC_PROTO_H
#define BPFPM_BCC_PROTO_H

#include "bcc/compat.h"

#define BPF_PACKET_HEADER __attribute__((packed))

#define cursor_advance(_cursor, _len)                                                           \
	({                                                                                      \
		void *_tmp = _cursor;                                                           \
		_cursor += _len;                                                                \
		_tmp;                                                                           \
	})

struct ethernet_t {
	u8 dst[6];
	u8 src[6];
	u16 type;
} BPF_PACKET_HEADER;

struct dot1q_t {
	u16 tci;
	u16 type;
} BPF_PACKET_HEADER;

struct arp_t {
	u16 htype;
	u16 ptype;
	u8 hlen;
	u8 plen;
	u16 oper;
	u8 sha[6];
	u32 spa;
	u8 tha[6];
	u32 tpa;
} BPF_PACKET_HEADER;

struct ip_t {
	u8 ver_hlen;
	u8 tos;
	u16 tlen;
	u16 identification;
	u16 ffo_unused;
	u8 ttl;
	u8 nextp;
	u16 hchecksum;
	u32 src;
	u32 dst;
} BPF_PACKET_HEADER;

struct ip6_t {
	u32 ver_class_flow;
	u16 payload_len;
	u8 next_header;
	u8 hop_limit;
	u8 src[16];
	u8 dst[16];
} BPF_PACKET_HEADER;

struct icmp_t {
	u8 type;
	u8 code;
	u16 checksum;
} BPF_PACKET_HEADER;

struct udp_t {
	u16 sport;
	u16 dport;
	u16 length;
	u16 crc;
} BPF_PACKET_HEADER;

struct tcp_t {
	u16 src_port;
	u16 dst_port;
	u32 seq_num;
	u32 ack_num;
	u8 offset_res;
	u8 flags;
	u16 rcv_wnd;
	u16 cksum;
	u16 urg_ptr;
} BPF_PACKET_HEADER;

#endif
