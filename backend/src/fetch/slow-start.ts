// A reader's fetch split over idle connections, so that it arrives in fewer round trips.
//
// A server sends at most its congestion window before it waits for an ACK. On a new connection,
// and on one idle for longer than its retransmission timeout (Linux restarts slow start after
// idle by default), that window is 10 segments (RFC 6928): about 14 KB. A response of N bytes
// then takes ~log2(N / 14 KB + 1) round trips to arrive. `cat` read on demand 70 ms after a pull
// at 80 ms RTT: its one 18 KB chunk took 171 ms (two flights), where the round trip is 88 ms.
//
// Split into k pieces on k idle connections, each piece has its own initial window: 18 KB in two
// pieces arrives in one flight, 480 KB in eight pieces in three instead of six. Only reads a
// reader waits for are split (a container's start, a file's first READ), only when the registry
// is far enough for a round trip to matter, only up to MAX_SPLIT_BYTES (a long sequential read
// has opened its window: its 4 MiB read-ahead requests stay whole), and only over connections
// already open and idle (a new one costs a handshake: a round trip more, not less).
import type { ByteRange } from './types.ts';

/** Below this round trip to the registry, reads (and a lookup's TOC ranges) stay whole. */
export const NEAR_RTT_MS = 10;

/**
 * What a server sends in its first flight: 10 segments of 1448 bytes (1500-byte MTU with TCP
 * timestamps), less ~600 bytes of response headers.
 */
export const INITIAL_WINDOW_BYTES = 10 * 1448 - 600;

/** Pieces one read is split into at most. */
export const MAX_PIECES = 8;

/** Reads larger than this stay whole: at 2 MiB split 8 ways, each piece is 5 flights anyway. */
export const MAX_SPLIT_BYTES = 2 * 2 ** 20;

export interface ConnectionState {
  /** Round trip to the host the bytes come from; undefined when not known. */
  rttMs: number | undefined;
  /** Open connections to that host that are idle now; undefined when not known (a proxy). */
  idleConnections: number | undefined;
}

/**
 * The pieces to request for `ranges`: for each range, the byte ranges that make it up, in
 * order (a range kept whole is one piece, itself).
 */
export function slowStartPieces(
  ranges: readonly ByteRange[],
  connections: ConnectionState,
): ByteRange[][] {
  const whole = ranges.map((r) => [r]);
  const { rttMs, idleConnections } = connections;
  if (rttMs === undefined || rttMs < NEAR_RTT_MS || idleConnections === undefined) return whole;
  const total = ranges.reduce((sum, r) => sum + r.length, 0);
  if (total <= INITIAL_WINDOW_BYTES || total > MAX_SPLIT_BYTES) return whole;
  const pieces = Math.min(MAX_PIECES, idleConnections, Math.ceil(total / INITIAL_WINDOW_BYTES));
  if (pieces <= ranges.length) return whole;
  // Ranges are cut in proportion to their size: each into pieces of at most `pieceBytes`.
  const pieceBytes = Math.ceil(total / pieces);
  return ranges.map((r) => {
    const count = Math.ceil(r.length / pieceBytes);
    const step = Math.ceil(r.length / count);
    const out: ByteRange[] = [];
    for (let at = 0; at < r.length; at += step) {
      out.push({ offset: r.offset + at, length: Math.min(step, r.length - at) });
    }
    return out;
  });
}
