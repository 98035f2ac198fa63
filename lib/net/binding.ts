/** Typed signatures of the native net part (native/net/net_module.cc). */

/** One port's counters since it was added. */
export interface NativePortStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames the port could not hand to its peer (not there yet, or its queue full). */
  txDropped: number;
}

/** The switch's counters since it started. */
export interface NativeSwitchStats {
  /** Frames sent to the one port their destination was learnt on. */
  forwarded: number;
  /** Frames sent to every other port (broadcast, multicast, unknown destination). */
  flooded: number;
  /** Frames whose destination is on the port they came from (not sent back). */
  filtered: number;
  /** Datagrams shorter than an Ethernet header, dropped. */
  runt: number;
  /** Datagrams longer than 1518 bytes, dropped. */
  oversized: number;
  /** Frames from a broadcast, multicast or zero source address, dropped. */
  badSource: number;
  /** Datagrams from an address other than the port's peer, dropped. */
  foreign: number;
  /** Addresses in the forwarding table. */
  learnt: number;
  /** Per port id. */
  ports: Record<string, NativePortStats>;
}

/** A learning switch forwarding on a native thread; holds its network's lock while it lives. */
export interface NativeEthernetSwitch {
  /** Binds port `id`'s datagram socket at `path`; its peer (QEMU's socket) is `peerPath`. */
  addPort(id: number, path: string, peerPath: string): void;
  /** Removes a port and its socket file; false when there was none. */
  removePort(id: number): boolean;
  stats(): NativeSwitchStats;
  /** Stops the thread, removes every port and the lock file (the lock is held until the process exits). */
  close(): void;
}

declare module '../native' {
  interface NativeAddon {
    /** Takes the lock at `lockPath` (ERR_PIXELRTS_NET_BUSY when another switch holds it) and starts forwarding. */
    EthernetSwitch: new (lockPath: string) => NativeEthernetSwitch;
  }
}
