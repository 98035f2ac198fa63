// One Ethernet frame as the switch sees it: the bytes of a datagram from a port, checked before
// anything looks at them. A frame is destination MAC, source MAC, EtherType and payload, with no
// preamble and no FCS (QEMU's dgram netdev sends exactly that). Everything the switch forwards
// passed CheckFrame; everything else is dropped and counted by its reason.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pixelrts::net {

// Destination MAC + source MAC + EtherType.
constexpr size_t kEthernetHeader = 14;
// A 1500-byte payload with its header and one 802.1Q tag. Guests on the private network keep
// the standard MTU; a bigger frame is dropped, never truncated.
constexpr size_t kMaxFrame = 1518;

// A MAC address as the low 48 bits of an integer (first octet most significant).
using Mac = uint64_t;

enum class FrameVerdict {
  kOk,
  kRunt,       // shorter than an Ethernet header
  kOversized,  // longer than kMaxFrame
  kBadSource,  // the source address is a group (multicast or broadcast) address or zero
};

// Checks a datagram of `length` bytes at `bytes` (of which at least min(length, kMaxFrame) are
// readable). Never reads beyond kEthernetHeader bytes.
FrameVerdict CheckFrame(const uint8_t* bytes, size_t length);

// The destination and source addresses of a frame that passed CheckFrame.
Mac DestinationOf(const uint8_t* frame);
Mac SourceOf(const uint8_t* frame);

// True for group addresses (the I/G bit): broadcast and multicast, which are flooded.
bool IsGroup(Mac mac);

}  // namespace pixelrts::net
