// Measuring an emulated link from the host: round-trip time (TCP handshakes) and throughput (one
// large HTTP download from the registry behind the link), so that every benchmark result carries
// proof that its link was what it claims.
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  if (values.length === 0) throw new Error('cannot summarize an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Time for one TCP handshake to host:port (SYN → SYN/ACK = one round trip), in ms. */
export function tcpConnectMs(host: string, port: number, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      socket.destroy();
      resolve(ms);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`TCP connect to ${host}:${port} timed out`));
    });
    socket.once('error', reject);
  });
}

/** Round-trip time from `samples` sequential TCP handshakes, in ms. */
export async function measureRttMs(host: string, port: number, samples = 10): Promise<Summary> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await tcpConnectMs(host, port));
  return summarize(times);
}

export interface Download {
  bytes: number;
  seconds: number;
  /** Payload rate from the first response byte to the last, in Mbit/s (the handshake and request
   * round trip excluded, TCP slow start included). */
  mbitPerSecond: number;
}

/** GETs `url`, discarding the body; fails unless the status is 200. */
export function download(url: string): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url} answered ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      let first: bigint | null = null;
      res.on('data', (chunk: Buffer) => {
        first ??= process.hrtime.bigint();
        bytes += chunk.length;
      });
      res.once('end', () => {
        const seconds = first === null ? 0 : Number(process.hrtime.bigint() - first) / 1e9;
        resolve({ bytes, seconds, mbitPerSecond: seconds > 0 ? (bytes * 8) / seconds / 1e6 : 0 });
      });
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/** Uploads `size` random (incompressible) bytes as a blob of `repo`; returns its digest. */
export async function uploadRandomBlob(
  registryUrl: string,
  repo: string,
  size: number,
): Promise<string> {
  const data = randomBytes(size);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) {
    throw new Error(`blob upload to ${registryUrl}/${repo} not started: HTTP ${start.status}`);
  }
  const target = new URL(location, registryUrl);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, {
    method: 'PUT',
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`blob upload of ${digest} failed: HTTP ${put.status}`);
  return digest;
}

export interface LinkMeasurement {
  rttMs: Summary;
  download: Download;
}

/** Measures RTT to the registry's port and the throughput of one download of `blobDigest`. */
export async function measureLink(
  registryUrl: string,
  repo: string,
  blobDigest: string,
): Promise<LinkMeasurement> {
  const url = new URL(registryUrl);
  const rttMs = await measureRttMs(url.hostname, Number(url.port));
  const dl = await download(`${registryUrl}/v2/${repo}/blobs/${blobDigest}`);
  return { rttMs, download: dl };
}
