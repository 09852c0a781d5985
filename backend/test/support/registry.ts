// A real registry for tests: the `docker-registry` Debian package (distribution 2.8) on
// 127.0.0.1:<free port>, storing blobs in a temp dir. Supports range, suffix range and
// multi-range reads. Optional htpasswd Basic auth (apache2-utils `htpasswd -B`) and TLS.
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

import { run, startDaemon, stopProcess } from './process.ts';
import { freePort, makeTempDir, removeDir, waitFor } from './tmp.ts';

export interface RegistryOptions {
  /** Require Basic auth with this user (bcrypt htpasswd file). */
  htpasswd?: { username: string; password: string };
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** Listen on this address instead of 127.0.0.1 (e.g. one inside `netns`). */
  bindAddress?: string;
  /** Run the registry inside this network namespace (`ip netns exec`), e.g. behind an emulated link. */
  netns?: string;
  /** Require Bearer tokens from a token server (distribution `auth.token`; JWTs signed by a
   *  certificate in `rootCertBundle`). */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/** One line of the registry's access log. */
export interface AccessLogLine {
  method: string;
  path: string;
  status: number;
  bytes: number;
  userAgent: string;
}

export interface RegistryFixture {
  /** `127.0.0.1:PORT` — use as the registry part of image references. */
  host: string;
  /** `http://127.0.0.1:PORT` (or https). */
  url: string;
  rootDir: string;
  logFile: string;
  /** Parsed access log so far (requests the registry has answered). */
  accessLog(): Promise<AccessLogLine[]>;
  /** Where the registry stores a blob's bytes (to corrupt it in tests). */
  blobDataPath(digest: string): string;
  stop(): Promise<void>;
}

const ACCESS_LINE =
  /"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"/;

export function parseAccessLog(text: string): AccessLogLine[] {
  const lines: AccessLogLine[] = [];
  for (const line of text.split('\n')) {
    const m = ACCESS_LINE.exec(line);
    if (!m) continue;
    lines.push({
      method: m[1],
      path: m[2],
      status: Number(m[3]),
      bytes: m[4] === '-' ? 0 : Number(m[4]),
      userAgent: m[5],
    });
  }
  return lines;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryFixture> {
  const dir = await makeTempDir('registry');
  const port = await freePort();
  const host = `${opts.bindAddress ?? '127.0.0.1'}:${port}`;
  const scheme = opts.tls ? 'https' : 'http';
  const storage = join(dir, 'storage');
  const logFile = join(dir, 'registry.log');

  let auth = '';
  if (opts.htpasswd) {
    const { stdout } = await run('htpasswd', [
      '-Bbn',
      opts.htpasswd.username,
      opts.htpasswd.password,
    ]);
    await writeFile(join(dir, 'htpasswd'), stdout.trim() + '\n');
    auth = `auth:\n  htpasswd:\n    realm: slipstream-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  if (opts.token) {
    const t = opts.token;
    auth =
      `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n` +
      `    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootCertBundle}\n`;
  }
  const tls = opts.tls
    ? `  tls:\n    certificate: ${opts.tls.certFile}\n    key: ${opts.tls.keyFile}\n`
    : '';
  const config =
    `version: 0.1\n` +
    `log: {level: info, accesslog: {disabled: false}, fields: {service: registry}}\n` +
    `storage:\n  cache: {blobdescriptor: inmemory}\n  filesystem: {rootdirectory: ${storage}}\n` +
    `  delete: {enabled: true}\n` +
    `http:\n  addr: ${host}\n  headers: {X-Content-Type-Options: [nosniff]}\n${tls}` +
    auth;
  await writeFile(join(dir, 'config.yml'), config);

  const serve = ['docker-registry', 'serve', join(dir, 'config.yml')];
  const [cmd, ...args] = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...serve] : serve;
  const child: ChildProcess = startDaemon(cmd, args, logFile);
  const url = `${scheme}://${host}`;
  await waitFor(`registry on ${url}`, async () => {
    if (child.exitCode !== null) {
      throw new Error(`registry exited: ${await readFile(logFile, 'utf8').catch(() => '')}`);
    }
    return (await probeStatus(`${url}/v2/`)) > 0;
  });

  return {
    host,
    url,
    rootDir: storage,
    logFile,
    accessLog: async () => parseAccessLog(await readFile(logFile, 'utf8')),
    blobDataPath: (digest) => {
      const [algo, hex] = digest.split(':');
      return join(storage, 'docker/registry/v2/blobs', algo, hex.slice(0, 2), hex, 'data');
    },
    stop: async () => {
      await stopProcess(child);
      await removeDir(dir);
    },
  };
}

/** The HTTP status of GET url, or 0 when nothing answers (TLS not verified: probe only). */
function probeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', rejectUnauthorized: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
