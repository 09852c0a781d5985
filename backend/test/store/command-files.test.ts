// The files an image's own command opens first, found as the runtime finds them: the program on
// the image's PATH through symlinks across layers (overlay's view: the topmost entry wins, a
// whiteout hides), and the arguments that are files of the image.
import type { LayerIndex } from '../../src/estargz/index.ts';
import {
  commandCandidates,
  commandFileChunks,
  resolveMerged,
} from '../../src/store/command-files.ts';
import { buildTar } from '../../src/tar/index.ts';
import { estargzFromTar, openBlob, prng, randomBytes } from '../estargz/helpers.ts';

const rand = prng(11);

type Entry = Buffer | { link: string } | { dir: true };

async function layer(entries: Record<string, Entry>): Promise<LayerIndex> {
  const tar = buildTar(
    Object.entries(entries).map(([name, e]) =>
      Buffer.isBuffer(e)
        ? { name, type: 'file' as const, data: e }
        : 'link' in e
          ? { name, type: 'symlink' as const, linkName: e.link }
          : { name, type: 'dir' as const },
    ),
  );
  const { blob, result } = await estargzFromTar(tar, { chunkSize: 1 << 20, level: 1 });
  return openBlob(blob, result.tocDigest);
}

const pathOf = (layers: LayerIndex[], path: string): string | undefined => {
  const file = resolveMerged(layers, path);
  return file && `${file.layer}:${layers[file.layer].path(file.ino)}`;
};

it('finds the program on the image PATH (or the default one) and the arguments that are paths', () => {
  expect(
    commandCandidates({
      Entrypoint: ['python3'],
      Cmd: ['-u', 'app.py', '--port', '8080'],
      Env: ['LANG=C.UTF-8', 'PATH=/opt/venv/bin:/usr/bin'],
      WorkingDir: '/srv',
    }),
  ).toEqual([['/opt/venv/bin/python3', '/usr/bin/python3'], ['/srv/app.py'], ['/srv/8080']]);
  expect(commandCandidates({ Cmd: ['sh'] })[0]).toEqual([
    '/usr/local/sbin/sh',
    '/usr/local/bin/sh',
    '/usr/sbin/sh',
    '/usr/bin/sh',
    '/sbin/sh',
    '/bin/sh',
  ]);
  expect(commandCandidates({ Entrypoint: ['./run'], WorkingDir: '/app' })).toEqual([['/app/run']]);
  // Nothing to go by, or a config of the wrong shape: nothing.
  expect(commandCandidates(undefined)).toEqual([]);
  expect(commandCandidates({ Cmd: 'python3 app.py', Entrypoint: [1, 2] })).toEqual([]);
});

it('follows symlinks across layers, in every component, and lets the topmost entry win', async () => {
  const base = await layer({
    'usr/bin/python3.11': randomBytes(rand, 300_000),
    'usr/bin/python3': { link: 'python3.11' },
    bin: { link: 'usr/bin' },
    'usr/lib/app/real.py': Buffer.from('print(1)\n'),
  });
  const app = await layer({
    'app/start.py': { link: '../usr/lib/app/real.py' },
    'usr/bin/python3.11': randomBytes(rand, 1000), // replaced above the base
  });
  const layers = [base, app];
  expect(pathOf(layers, '/usr/bin/python3')).toBe('1:usr/bin/python3.11');
  expect(pathOf(layers, '/bin/python3')).toBe('1:usr/bin/python3.11');
  expect(pathOf(layers, '/app/start.py')).toBe('0:usr/lib/app/real.py');
  expect(pathOf(layers, '/usr/bin')).toBeUndefined(); // a directory
  expect(pathOf(layers, '/usr/bin/missing')).toBeUndefined();
});

it('stops at a whiteout, a loop and a path through a file', async () => {
  const base = await layer({
    'usr/bin/tool': randomBytes(rand, 1000),
    'etc/a': { link: 'b' },
    'etc/b': { link: '/etc/a' },
    'etc/file': Buffer.from('x'),
  });
  const top = await layer({ 'usr/bin/.wh.tool': Buffer.alloc(0) });
  expect(pathOf([base], '/usr/bin/tool')).toBe('0:usr/bin/tool');
  expect(pathOf([base, top], '/usr/bin/tool')).toBeUndefined();
  expect(pathOf([base], '/etc/a')).toBeUndefined();
  expect(pathOf([base], '/etc/file/x')).toBeUndefined();
});

it('gives each layer the chunks of the command files it holds', async () => {
  const base = await layer({
    'usr/bin/python3.11': randomBytes(rand, 2_500_000), // three 1 MiB chunks
    'usr/bin/python3': { link: 'python3.11' },
    'usr/bin/other': randomBytes(rand, 10_000),
  });
  const app = await layer({ 'app/start.py': Buffer.from('import json\n') });
  const layers = [base, app];
  const chunks = commandFileChunks(layers, { Cmd: ['python3', '/app/start.py', '/app/missing'] });
  expect([...chunks.keys()].sort()).toEqual([0, 1]);
  expect(new Set(chunks.get(0)!.map((c) => base.path(c.ino)))).toEqual(
    new Set(['usr/bin/python3.11']),
  );
  expect(chunks.get(0)).toHaveLength(3);
  expect(chunks.get(1)!.map((c) => app.path(c.ino))).toEqual(['app/start.py']);
  expect(commandFileChunks(layers, {}).size).toBe(0);
});
