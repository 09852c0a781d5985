// An emulated remote link between this host and a server network namespace, built only from
// things the benchmark creates itself:
//
//   host ── <host veth> 10.199.N.1 ══ 10.199.N.2 [router netns] 10.199.N.5 ══ 10.199.N.6 [server netns]
//
// The router namespace forwards between the two veth pairs and is where the link is emulated:
//  - rate: `tbf` on each of the router's egress interfaces (download towards the host on r0,
//    upload towards the server on r1);
//  - delay: iptables-legacy sends every forwarded packet to NFQUEUE 0, where `delayline` (C, built
//    here with gcc) holds it for RTT/2. Each packet crosses the router once, so a round trip pays
//    the delay twice, ACKs included (unlike a delaying TCP proxy, which would hide handshakes and
//    ACK clocking). This kernel has no sch_netem; NFQUEUE is the userspace delay line.
// Delaying on the router, not in the sender's OUTPUT hook, matters: ip_rcv orphans the skb, so TCP
// small queues on the sender do not cap the bytes in flight at tcp_limit_output_bytes.
// The host only gets one veth with a /30 address and a route to the server's /30; iptables rules,
// qdiscs and processes live in the namespaces, which `destroy()` deletes (also on failure).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isAlive, run, stopProcess } from '../../backend/test/support/process.ts';

export interface LinkProfile {
  /** Short name used in results, e.g. `20ms-1gbit`. */
  name: string;
  /** Round-trip time added by the link (split evenly between the two directions). */
  rttMs: number;
  /** Rate in each direction, in Mbit/s; 0 = not limited (veth speed). */
  rateMbit: number;
}

/**
 * The links the benchmark measures: the 2/20/80 ms RTT at 1 Gbit/s and 100 Mbit/s, and
 * `unshaped` (the same path without delay or rate limit: the "loopback" baseline).
 */
export const LINK_PROFILES: readonly LinkProfile[] = [
  { name: 'unshaped', rttMs: 0, rateMbit: 0 },
  { name: '2ms-1gbit', rttMs: 2, rateMbit: 1000 },
  { name: '20ms-1gbit', rttMs: 20, rateMbit: 1000 },
  { name: '80ms-1gbit', rttMs: 80, rateMbit: 1000 },
  { name: '2ms-100mbit', rttMs: 2, rateMbit: 100 },
  { name: '20ms-100mbit', rttMs: 20, rateMbit: 100 },
  { name: '80ms-100mbit', rttMs: 80, rateMbit: 100 },
];

export function findProfile(name: string): LinkProfile {
  const profile = LINK_PROFILES.find((p) => p.name === name);
  if (!profile) {
    const known = LINK_PROFILES.map((p) => p.name).join(', ');
    throw new Error(`unknown link profile "${name}" (known: ${known})`);
  }
  return profile;
}

export interface EmulatedLink {
  /** The host's end, 10.199.N.1. */
  hostAddress: string;
  /** Where servers in `serverNetns` listen, 10.199.N.6. */
  serverAddress: string;
  serverNetns: string;
  routerNetns: string;
  /** The profile in force, or null for an unshaped link (plain forwarding). */
  readonly profile: LinkProfile | null;
  /** Switches the emulation; null removes rate and delay (e.g. to load the registry fast). */
  configure(profile: LinkProfile | null): Promise<void>;
  /** Deletes the namespaces (with their veths, rules and qdiscs) and stops the delay line. */
  destroy(): Promise<void>;
}

const NETNS_PREFIX = 'slipnet-';
const live = new Set<EmulatedLink>();

/** Destroys every link this process created (for signal handlers and test teardown). */
export async function destroyAllLinks(): Promise<void> {
  await Promise.all([...live].map((link) => link.destroy()));
}

/** gcc-compiles delayline.c into `binDir` unless an up-to-date binary is there; returns its path. */
export async function buildDelayline(binDir: string): Promise<string> {
  const source = join(dirname(fileURLToPath(import.meta.url)), 'delayline.c');
  const binary = join(binDir, 'delayline');
  const [src, bin] = await Promise.all([stat(source), stat(binary).catch(() => null)]);
  if (!bin || bin.mtimeMs < src.mtimeMs) {
    await mkdir(binDir, { recursive: true });
    await run('gcc', ['-O2', '-Wall', '-o', binary, source]);
  }
  return binary;
}

export interface CreateLinkOptions {
  /** Where the delayline binary is built/cached. */
  binDir: string;
  /** Initial profile (default: unshaped). */
  profile?: LinkProfile | null;
}

export async function createLink(opts: CreateLinkOptions): Promise<EmulatedLink> {
  const delayline = await buildDelayline(opts.binDir);
  await removeStaleNamespaces();
  const n = await pickSubnet();
  const tag = `${NETNS_PREFIX}${process.pid}-${n}`;
  const routerNetns = `${tag}-r`;
  const serverNetns = `${tag}-s`;
  const hostVeth = `slip${n}h`;
  const hostAddress = `10.199.${n}.1`;
  const serverAddress = `10.199.${n}.6`;

  let current: LinkProfile | null = null;
  let delayProcess: ChildProcess | null = null;
  let destroyed = false;

  const inRouter = (cmd: string, args: string[]) =>
    run('ip', ['netns', 'exec', routerNetns, cmd, ...args]);
  const stopDelay = async () => {
    if (delayProcess) await stopProcess(delayProcess);
    delayProcess = null;
  };

  const link: EmulatedLink = {
    hostAddress,
    serverAddress,
    serverNetns,
    routerNetns,
    get profile() {
      return current;
    },
    configure: async (profile) => {
      await stopDelay();
      for (const dev of ['r0', 'r1']) {
        await run('ip', ['netns', 'exec', routerNetns, 'tc', 'qdisc', 'del', 'dev', dev, 'root'], {
          allowFailure: true,
        });
      }
      current = profile;
      if (!profile) return;
      for (const dev of profile.rateMbit > 0 ? ['r0', 'r1'] : []) {
        await inRouter('tc', ['qdisc', 'add', 'dev', dev, 'root', 'tbf', ...tbfParams(profile)]);
      }
      if (profile.rttMs > 0) {
        delayProcess = await startDelayline(delayline, routerNetns, (profile.rttMs * 1000) / 2);
      }
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      live.delete(link);
      await stopDelay();
      // Deleting a namespace destroys its veth ends and with them their peers (the host veth and
      // its route go too), its iptables rules and qdiscs.
      for (const ns of [serverNetns, routerNetns]) {
        await run('ip', ['netns', 'delete', ns], { allowFailure: true });
      }
      await run('ip', ['link', 'delete', hostVeth], { allowFailure: true });
    },
  };
  live.add(link);

  try {
    const sh = (args: string[]) => run('ip', args);
    await sh(['netns', 'add', routerNetns]);
    await sh(['netns', 'add', serverNetns]);
    await sh(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'r0', 'netns', routerNetns]);
    await sh([
      '-n',
      routerNetns,
      'link',
      'add',
      'r1',
      'type',
      'veth',
      'peer',
      'name',
      's0',
      'netns',
      serverNetns,
    ]);
    await sh(['addr', 'add', `${hostAddress}/30`, 'dev', hostVeth]);
    await sh(['link', 'set', hostVeth, 'up']);
    await sh(['-n', routerNetns, 'addr', 'add', `10.199.${n}.2/30`, 'dev', 'r0']);
    await sh(['-n', routerNetns, 'addr', 'add', `10.199.${n}.5/30`, 'dev', 'r1']);
    for (const dev of ['lo', 'r0', 'r1']) await sh(['-n', routerNetns, 'link', 'set', dev, 'up']);
    await sh(['-n', serverNetns, 'addr', 'add', `${serverAddress}/30`, 'dev', 's0']);
    for (const dev of ['lo', 's0']) await sh(['-n', serverNetns, 'link', 'set', dev, 'up']);
    await sh(['-n', serverNetns, 'route', 'add', 'default', 'via', `10.199.${n}.5`]);
    await sh(['route', 'add', `10.199.${n}.4/30`, 'via', `10.199.${n}.2`, 'dev', hostVeth]);
    await inRouter('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // --queue-bypass: while no delayline is bound (unshaped, or between profiles) packets pass.
    await inRouter('iptables-legacy', [
      '-A',
      'FORWARD',
      '-j',
      'NFQUEUE',
      '--queue-num',
      '0',
      '--queue-bypass',
    ]);
    await link.configure(opts.profile ?? null);
  } catch (err) {
    await link.destroy();
    throw err;
  }
  return link;
}

/**
 * tbf parameters for a rate: the bucket holds 1 ms worth of bytes (at least 64 KiB so one GSO
 * packet fits), and the queue holds one bandwidth-delay product (at least 256 KiB), as a router
 * buffer sized by the usual rule of thumb would.
 */
export function tbfParams(profile: LinkProfile): string[] {
  const bytesPerMs = (profile.rateMbit * 1e6) / 8 / 1000;
  const burst = Math.max(64 * 1024, Math.round(bytesPerMs));
  const limit = Math.max(256 * 1024, Math.round(bytesPerMs * Math.max(profile.rttMs, 1)));
  return ['rate', `${profile.rateMbit}mbit`, 'burst', String(burst), 'limit', String(limit)];
}

async function startDelayline(
  binary: string,
  netns: string,
  delayUs: number,
): Promise<ChildProcess> {
  // Real-time priority when allowed: on a loaded machine a normally scheduled delay line would add
  // its scheduling latency to every packet (it needs almost no CPU, so it cannot starve others).
  const realtime = (await run('chrt', ['-f', '20', 'true'], { allowFailure: true })).code === 0;
  const args = [binary, '--queue', '0', '--delay-us', String(Math.round(delayUs))];
  const child = spawn(
    'ip',
    ['netns', 'exec', netns, ...(realtime ? ['chrt', '-f', '20'] : []), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`delayline exited (${code}): ${stderr.trim()}`)));
    child.once('error', reject);
  });
  return child;
}

/** A free 10.199.N.0/24 block: N not used by any address or route on the host. */
async function pickSubnet(): Promise<number> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show']);
  const routes = (await run('ip', ['-4', 'route', 'show'])).stdout;
  const used = new Set<number>();
  for (const m of (stdout + routes).matchAll(/10\.199\.(\d+)\./g)) used.add(Number(m[1]));
  const start = 1 + (process.pid % 200);
  for (let i = 0; i < 250; i++) {
    const n = 1 + ((start + i) % 250);
    if (!used.has(n)) return n;
  }
  throw new Error('no free 10.199.N.0/24 block for an emulated link');
}

/** Deletes namespaces left by benchmark processes that died without cleaning up. */
async function removeStaleNamespaces(): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list']);
  for (const line of stdout.split('\n')) {
    const m = new RegExp(`^(${NETNS_PREFIX}(\\d+)-\\d+-[rs])\\b`).exec(line);
    if (!m || isAlive(Number(m[2]))) continue;
    await run('ip', ['netns', 'delete', m[1]], { allowFailure: true });
  }
}
