// The byte pipe a FuseSession serves: one request per read, one reply per write.
// /dev/fuse (FuseDevice) in production; tests of the decoder/dispatcher may plug in anything.

export interface FuseTransport {
  /**
   * Read exactly one request into `buf` and resolve its length; resolve 0 when the connection has
   * ended (unmounted or aborted). Transient conditions (EINTR/EAGAIN, or ENOENT for a request the
   * kernel interrupted while we read it) are retried by the transport, never surfaced.
   */
  read(buf: Buffer): Promise<number>;
  /**
   * Write one complete reply. Must not block for long (the kernel copies and returns). Replies to
   * requests the kernel has already given up on are silently dropped.
   */
  write(chunks: readonly Buffer[]): void;
}

/** Smallest read buffer a transport accepts for a given negotiated max_write. */
export function requestBufferSize(maxWrite: number): number {
  // fuse_in_header (40) + fuse_write_in (40) + payload, rounded up to a page for headroom.
  return Math.max(8192, maxWrite + 4096);
}
