// Logs of chunks failing verification, in proportion to layers rather than chunks: a registry
// sending wrong bytes fails every chunk of a layer, and a line per chunk made 37,608 log lines of
// one `cat` of 300 files. The first failure of a layer is logged at once; the ones that follow
// within the window are counted and logged as one line when it ends. (The metric counts each.)
import type { Logger } from 'pino';

export interface VerificationFailure {
  layer: string;
  digest: string;
  final: boolean;
}

interface Window {
  /** Failures after the one logged when the window opened. */
  failures: number;
  /** Of those, chunks given up (not fetched again). */
  givenUp: number;
}

export function verificationLog(
  log: Pick<Logger, 'warn'>,
  windowMs = 30_000,
): (event: VerificationFailure) => void {
  const windows = new Map<string, Window>();
  const close = (layer: string): void => {
    const window = windows.get(layer);
    windows.delete(layer);
    if (!window || window.failures === 0) return;
    log.warn(
      { layer, failures: window.failures, givenUp: window.givenUp, seconds: windowMs / 1000 },
      'more chunks of the layer failed verification; none was served',
    );
  };
  return (event) => {
    const window = windows.get(event.layer);
    if (window) {
      window.failures++;
      if (event.final) window.givenUp++;
      return;
    }
    log.warn(
      { ...event, summaryAfterSeconds: windowMs / 1000 },
      // The agent cannot tell which side lies: the bytes at the TOC's offset do not hash to the
      // TOC's digest, whether the registry sent other bytes or the TOC describes the blob wrongly.
      'chunk failed verification: the bytes read where the TOC places the chunk do not match the digest it gives (the registry sent other bytes, or the TOC describes the layer wrongly); not served',
    );
    windows.set(event.layer, { failures: 0, givenUp: 0 });
    setTimeout(() => close(event.layer), windowMs).unref();
  };
}
