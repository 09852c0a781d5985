// OCI artifacts in an image index (signatures, SBOMs, a Helm chart, a WASM module, an artifact
// index, an image that refers to another): converting the index converts its image and copies
// every artifact byte for byte, with its blobs, under the same digest. A signature of a manifest
// the conversion replaced still names the source manifest, and the conversion warns about it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import { copiedUnchangedBecause } from '../../src/convert/artifacts.ts';
import { convertImage } from '../../src/convert/convert-image.ts';
import { inspectImage } from '../../src/convert/inspect.ts';
import type { ProgressSink } from '../../src/convert/progress.ts';
import { OciLayoutRepository } from '../../src/image/oci-layout.ts';
import {
  MediaTypes,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type ImageRepository,
} from '../../src/image/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { buildTar } from '../../src/tar/index.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { sha256 } from './layout-helpers.ts';

jest.setTimeout(120_000);

const EMPTY = 'application/vnd.oci.empty.v1+json';
const COSIGN_SIG = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SPDX = 'application/spdx+json';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

async function putBlob(repo: ImageRepository, mediaType: string, bytes: Buffer) {
  await repo.putBlob(bytes);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

async function putManifest(repo: ImageRepository, doc: ImageManifest | ImageIndex) {
  const bytes = json(doc);
  const mediaType = doc.mediaType!;
  await repo.putManifest(sha256(bytes), mediaType, bytes);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

/** An OCI 1.1 artifact manifest (its blobs stored): the empty config, the given layers, maybe a subject. */
async function artifactManifest(
  repo: ImageRepository,
  artifactType: string | undefined,
  layers: [string, Buffer][],
  subject?: Descriptor,
  config: [string, Buffer] = [EMPTY, Buffer.from('{}')],
): Promise<ImageManifest> {
  return {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    ...(artifactType ? { artifactType } : {}),
    config: await putBlob(repo, ...config),
    layers: await Promise.all(layers.map(([type, bytes]) => putBlob(repo, type, bytes))),
    ...(subject
      ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }
      : {}),
  };
}

/** The index entry of a new artifact manifest. */
async function artifact(...args: Parameters<typeof artifactManifest>): Promise<Descriptor> {
  const artifactType = args[1];
  const stored = await putManifest(args[0], await artifactManifest(...args));
  return { ...stored, ...(artifactType ? { artifactType } : {}) };
}

/** A linux/amd64 image whose layer holds one file; `extra` goes into its manifest. */
async function image(repo: ImageRepository, extra: Partial<ImageManifest> = {}) {
  const tar = buildTar([{ name: 'hello', type: 'file', data: Buffer.from('hello\n') }]);
  const doc: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: await putBlob(
      repo,
      MediaTypes.ociConfig,
      json({
        os: 'linux',
        architecture: 'amd64',
        rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      }),
    ),
    layers: [await putBlob(repo, MediaTypes.ociLayerGzip, gzipSync(tar))],
    ...extra,
  };
  return { ...(await putManifest(repo, doc)), platform: { os: 'linux', architecture: 'amd64' } };
}

interface Fixture {
  /** Index entries in order: the image, then what must be copied as it is. */
  image: Descriptor;
  /** The copied entries that refer to the image, which the conversion replaces. */
  stale: { digest: string; kind: string }[];
  copied: Descriptor[];
}

/** The source index: one image and every kind of thing that is not one. */
async function writeSource(repo: ImageRepository): Promise<Fixture> {
  const img = await image(repo);
  const signature = await artifact(
    repo,
    COSIGN_SIG,
    [
      [
        'application/vnd.dev.cosign.simplesigning.v1+json',
        json({ critical: { image: { 'docker-manifest-digest': img.digest } } }),
      ],
    ],
    img,
  );
  const sbom = await artifact(repo, SPDX, [[SPDX, json({ spdxVersion: 'SPDX-2.3' })]]);
  // Signed itself: refers to the SBOM, which is copied unchanged, so it stays valid.
  const sbomSignature = await artifact(
    repo,
    COSIGN_SIG,
    [
      [
        'application/vnd.dev.cosign.simplesigning.v1+json',
        json({ critical: { image: { 'docker-manifest-digest': sbom.digest } } }),
      ],
    ],
    sbom,
  );
  const chart = await artifact(
    repo,
    undefined,
    [
      [
        'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
        gzipSync(buildTar([{ name: 'Chart.yaml', type: 'file', data: Buffer.from('name: x\n') }])),
      ],
    ],
    undefined,
    ['application/vnd.cncf.helm.config.v1+json', json({ name: 'x', version: '1.0.0' })],
  );
  // An image config, but its layer is a WASM module, not a tar.
  const wasm = await artifact(
    repo,
    undefined,
    [['application/vnd.wasm.content.layer.v1+wasm', Buffer.from('\0asm\x01\0\0\0')]],
    undefined,
    [
      MediaTypes.ociConfig,
      json({ os: 'wasip1', architecture: 'wasm', rootfs: { type: 'layers', diff_ids: [] } }),
    ],
  );
  // An image in every respect, except that it refers to another manifest.
  const referring = await image(repo, {
    subject: { mediaType: img.mediaType, digest: img.digest, size: img.size },
  });
  const bundleMember = await artifact(repo, 'application/vnd.example.member', [
    ['text/plain', Buffer.from('member\n')],
  ]);
  const bundle = await putManifest(repo, {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    artifactType: 'application/vnd.example.bundle',
    manifests: [bundleMember],
  });
  const copied = [
    signature,
    sbom,
    sbomSignature,
    chart,
    wasm,
    { ...referring, platform: { os: 'linux', architecture: 'arm64' } },
    bundle,
  ];
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [img, ...copied],
  };
  await repo.putManifest('v1', MediaTypes.ociIndex, json(index));
  return {
    image: img,
    stale: [
      { digest: signature.digest, kind: COSIGN_SIG },
      { digest: referring.digest, kind: 'an image' },
    ],
    copied,
  };
}

async function blobOf(repo: ImageRepository, desc: Descriptor): Promise<Buffer> {
  return buffer(await repo.openBlob(desc));
}

/** Every manifest `desc` names (nested ones too) and every blob is in `dst`, byte for byte. */
async function expectCopied(src: ImageRepository, dst: ImageRepository, desc: Descriptor) {
  const original = await src.getManifest(desc.digest);
  const copy = await dst.getManifest(desc.digest);
  expect(copy.digest).toBe(desc.digest);
  expect(copy.bytes.equals(original.bytes)).toBe(true);
  const doc = JSON.parse(original.bytes.toString()) as Partial<ImageManifest & ImageIndex>;
  for (const child of doc.manifests ?? []) await expectCopied(src, dst, child);
  for (const blob of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
    expect((await blobOf(dst, blob)).equals(await blobOf(src, blob))).toBe(true);
  }
}

function recordingProgress(): ProgressSink & { lines: string[] } {
  const lines: string[] = [];
  return { lines, start: () => {}, update: () => {}, finish: () => {}, log: (m) => lines.push(m) };
}

describe.each([
  ['a registry', 'registry'],
  ['an OCI layout', 'layout'],
] as const)('artifacts in an index, from and to %s', (_name, kind) => {
  let registry: RegistryFixture | undefined;
  let client: RegistryClient | undefined;
  let dir: string;
  let open: (name: string) => ImageRepository;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convert-artifacts-'));
    if (kind === 'registry') {
      registry = await startRegistry();
      client = new RegistryClient();
      open = (name) => openRegistryRepository(`${registry!.host}/artifacts/${name}`, { client });
    } else {
      open = (name) => new OciLayoutRepository(join(dir, name));
    }
  });

  afterAll(async () => {
    await client?.close();
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('converts the image and copies every artifact unchanged, warning about a stale signature', async () => {
    const src = open('src');
    const fixture = await writeSource(src);
    const dst = open('dst');
    const progress = recordingProgress();
    const result = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'esgz', progress });

    expect(result.layers).toHaveLength(1);
    const top = JSON.parse((await dst.getManifest('esgz')).bytes.toString()) as ImageIndex;
    const [converted, ...rest] = top.manifests;
    expect(converted.digest).not.toBe(fixture.image.digest);
    expect(converted.platform).toEqual(fixture.image.platform);
    // The index entries of what is copied are the source's, in the same order.
    expect(rest).toEqual(fixture.copied);
    for (const desc of fixture.copied) await expectCopied(src, dst, desc);

    // What refers to the replaced manifest is stale; the SBOM's signature is not.
    expect(result.warnings).toEqual(
      fixture.stale.map(
        ({ digest, kind }) =>
          `${digest} (${kind}) is copied unchanged and refers to ${fixture.image.digest}, which the conversion replaced by ${converted.digest}: it does not apply to the converted image (sign or attest ${converted.digest} again)`,
      ),
    );
    for (const warning of result.warnings) expect(progress.lines).toContain(`warning: ${warning}`);
    const signature = JSON.parse(
      (await dst.getManifest(fixture.stale[0].digest)).bytes.toString(),
    ) as ImageManifest;
    expect(signature.subject?.digest).toBe(fixture.image.digest);
    expect(progress.lines.filter((l) => l.includes('copied unchanged ('))).toHaveLength(7);

    // inspect shows what has an image config (a WASM module's layer is not a tar: not lazy);
    // the artifacts, which convert copies as they are, are left out.
    const report = await inspectImage({
      repo: dst,
      reference: 'esgz',
      readRange: async (desc, start, end) => (await blobOf(dst, desc)).subarray(start, end),
      close: () => Promise.resolve(),
    });
    expect(report.manifests.map((m) => [m.digest, m.layers[0].format])).toEqual([
      [converted.digest, 'estargz'],
      [fixture.copied[4].digest, 'unknown'],
      [fixture.copied[5].digest, 'gzip'],
    ]);
  });

  it('refuses an artifact on its own: there is nothing to convert', async () => {
    const src = open('lone');
    const sbom = await artifactManifest(src, SPDX, [[SPDX, json({ spdxVersion: 'SPDX-2.3' })]]);
    await src.putManifest('sbom', MediaTypes.ociManifest, json(sbom));
    const err = await convertImage({
      src,
      srcRef: 'sbom',
      dst: open('lone-dst'),
      dstRef: 'x',
    }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toBe(
      `${src.name}:sbom is an OCI artifact of type ${SPDX}, not an image: there is nothing to convert`,
    );
  });
});

it('copies a Windows image of the index without its foreign layer, which is pulled from its urls', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convert-foreign-'));
  try {
    const src = new OciLayoutRepository(join(dir, 'src'));
    const linux = await image(src);
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: `sha256:${'ab'.repeat(32)}`,
      size: 1234,
      urls: ['https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:' + 'ab'.repeat(32)],
    };
    const windows = await putManifest(src, {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: await putBlob(
        src,
        MediaTypes.dockerConfig,
        json({ os: 'windows', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] } }),
      ),
      layers: [foreign],
    });
    const entry = { ...windows, platform: { os: 'windows', architecture: 'amd64' } };
    await src.putManifest(
      'v1',
      MediaTypes.ociIndex,
      json({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [linux, entry] }),
    );
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const result = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'esgz' });
    expect(result.layers).toHaveLength(1);
    const top = JSON.parse((await dst.getManifest('esgz')).bytes.toString()) as ImageIndex;
    expect(top.manifests[1]).toEqual(entry);
    expect(
      (await dst.getManifest(windows.digest)).bytes.equals(
        (await src.getManifest(windows.digest)).bytes,
      ),
    ).toBe(true);
    expect(await dst.hasBlob(foreign)).toBe(false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('copiedUnchangedBecause', () => {
  const layer = (mediaType: string) => ({ mediaType, digest: 'sha256:1', size: 1 });
  const imageManifest: Partial<ImageManifest> = {
    config: { mediaType: MediaTypes.ociConfig, digest: 'sha256:0', size: 2 },
    layers: [layer(MediaTypes.ociLayerGzip), layer(MediaTypes.dockerLayerGzip)],
  };
  const entry = { mediaType: MediaTypes.ociManifest, digest: 'sha256:9', size: 9 };

  it.each<[string, Partial<Descriptor>, Partial<ImageManifest>, string | undefined]>([
    ['an image', {}, imageManifest, undefined],
    [
      'a Docker image',
      {},
      {
        ...imageManifest,
        config: { ...imageManifest.config!, mediaType: MediaTypes.dockerConfig },
      },
      undefined,
    ],
    [
      'an attestation',
      { platform: { os: 'unknown', architecture: 'unknown' } },
      imageManifest,
      'an attestation',
    ],
    [
      'an artifactType',
      {},
      { ...imageManifest, artifactType: SPDX },
      `an OCI artifact of type ${SPDX}`,
    ],
    [
      'the empty config',
      {},
      { ...imageManifest, config: { mediaType: EMPTY, digest: 'sha256:0', size: 2 } },
      `an OCI artifact (config ${EMPTY})`,
    ],
    ['no config', {}, { layers: [] }, 'an OCI artifact (config missing)'],
    [
      'a subject',
      {},
      {
        ...imageManifest,
        subject: { mediaType: MediaTypes.ociManifest, digest: 'sha256:5', size: 5 },
      },
      'it refers to sha256:5 (subject)',
    ],
    [
      'a foreign layer',
      {},
      {
        ...imageManifest,
        layers: [layer('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')],
      },
      'its layer sha256:1 is application/vnd.docker.image.rootfs.foreign.diff.tar.gzip, not a tar',
    ],
  ])('%s', (_name, extra, manifest, expected) => {
    expect(copiedUnchangedBecause({ ...entry, ...extra }, manifest)).toBe(expected);
  });
});
