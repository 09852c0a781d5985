// First contact with a registry that may speak plain http (configured insecure, or loopback):
// https and http are tried in parallel, https wins when it works, and once the host's scheme is
// known nothing is tried twice.
import { join } from 'node:path';

import { RegistryClient } from '../../src/registry/client.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { pushTestImage, recordRequests } from './helpers.ts';
import { makePki } from './servers.ts';

let dir: string;
let plain: RegistryFixture;
let tls: RegistryFixture;

beforeAll(async () => {
  dir = await makeTempDir('scheme');
  const pki = await makePki(join(dir, 'pki'));
  [plain, tls] = await Promise.all([
    startRegistry(),
    startRegistry({ tls: { certFile: pki.certFile, keyFile: pki.keyFile } }),
  ]);
});
afterAll(async () => {
  await Promise.all([plain?.stop(), tls?.stop()]);
  await removeDir(dir);
});

async function pushWith(registry: RegistryFixture, repoName: string) {
  const pusher = new RegistryClient({ certsDirs: [], insecure: [registry.host] });
  try {
    const repo = openRegistryRepository(`${registry.host}/${repoName}`, { client: pusher });
    return await pushTestImage(repo, 'v1', [3_000, 4_000, 5_000, 6_000]);
  } finally {
    await pusher.close();
  }
}

it('a plain-http registry: first requests race both schemes, later ones go straight to http', async () => {
  const image = await pushWith(plain, 'scheme/plain');
  const client = new RegistryClient({ certsDirs: [], insecure: [plain.host] });
  const requests = recordRequests(client);
  try {
    // Four resolutions sent at once, before anything is known about the host.
    const [resolved] = await Promise.all(
      [1, 2, 3, 4].map(() => client.resolve(`${plain.host}/scheme/plain:v1`)),
    );
    const failedFirst = requests.events.filter((r) => r.error !== undefined).length;
    expect(failedFirst).toBeGreaterThanOrEqual(1);
    expect(failedFirst).toBeLessThanOrEqual(4);
    const layers = await Promise.all(
      resolved.layers.map((desc) => resolved.openBlob(desc).readRange(0, desc.size)),
    );
    expect(layers).toEqual(image.layers);
    // No TLS attempt once http was found: only the four first manifest requests ever tried it.
    // (Their failures are counted whenever they come: on a loaded machine a losing TLS attempt
    // may fail after its resolution has already been answered over http.)
    const failed = requests.stop().filter((r) => r.error !== undefined);
    expect(failed.length).toBeLessThanOrEqual(4);
    expect(failed.every((r) => r.status === undefined && r.purpose === 'manifest')).toBe(true);
  } finally {
    await client.close();
  }
});

it('a TLS registry configured insecure: https wins, the parallel plain-http attempt is dropped', async () => {
  const image = await pushWith(tls, 'scheme/tls');
  const client = new RegistryClient({ certsDirs: [], insecure: [tls.host] });
  const requests = recordRequests(client);
  try {
    const resolved = await client.resolve(`${tls.host}/scheme/tls:v1`);
    const layers = await Promise.all(
      resolved.layers.map((desc) => resolved.openBlob(desc).readRange(0, desc.size)),
    );
    expect(layers).toEqual(image.layers);
    // The plain-http twin of the first request got the 400 a TLS server sends, and nothing else
    // was ever sent in clear.
    const superseded = requests.stop().filter((r) => r.error !== undefined);
    expect(superseded).toHaveLength(1);
    expect(superseded[0]).toMatchObject({ status: 400, error: 'superseded' });
  } finally {
    await client.close();
  }
});
