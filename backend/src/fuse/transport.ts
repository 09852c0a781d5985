// The byte pipe a FuseSession serves: requests come in one at a time, replies go out one write each.
// /dev/fuse (FuseDevice) in production; the decoder/dispatcher tests plug in a queue.

export interface FuseTransport {
  /**
   * Start delivering requests: `onRequest` gets each one (the buffer is only valid during the
   * call: decode synchronously). `onEnd` is called once when the connection has ended (unmounted
   * or aborted), with the error if it ended abnormally.
   */
  listen(onRequest: (buf: Buffer, length: number) => void, onEnd: (err?: Error) => void): void;
  /**
   * Write one complete reply. Must not block for long (the kernel copies and returns). Replies to
   * requests the kernel has already given up on are silently dropped.
   */
  write(chunks: readonly Buffer[]): void;
  /** Where a transport that writes some replies asynchronously reports their failures. */
  onWriteError?: (err: Error) => void;
}
