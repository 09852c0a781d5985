// The request decoder and the session's dispatch, driven with crafted request bytes: malformed and
// unknown requests, INIT negotiation, reply ordering, INTERRUPT, xattr and readdir encoding.

import { constants } from 'node:fs';

import { Opcode } from '../../src/fuse/abi.ts';
import { DecodeError, decodeRequest } from '../../src/fuse/decode.ts';
import {
  Errno,
  FuseError,
  FuseSession,
  type Filesystem,
  type FuseLogger,
} from '../../src/fuse/index.ts';
import { buildRequest, cstring, QueueTransport, u32s, u64s, type Reply } from './wire.ts';

const { S_IFDIR, S_IFREG, S_IFCHR } = constants;

describe('decodeRequest', () => {
  test('decodes the header and a LOOKUP name', () => {
    const buf = buildRequest({
      opcode: Opcode.LOOKUP,
      unique: 7n,
      nodeid: 2 ** 33 + 5,
      payload: cstring('naïve'),
    });
    const req = decodeRequest(buf, buf.length);
    expect(req.header).toEqual({
      len: buf.length,
      opcode: Opcode.LOOKUP,
      unique: 7n,
      nodeid: 2 ** 33 + 5,
      uid: 1000,
      gid: 1001,
      pid: 4242,
    });
    expect(req.body).toEqual({ kind: 'lookup', name: 'naïve' });
  });

  test('READ offsets above 4 GiB survive', () => {
    const buf = buildRequest({
      opcode: Opcode.READ,
      unique: 9n,
      payload: Buffer.concat([u64s(3, 2 ** 40 + 17), u32s(131072, 0), u64s(0), u32s(0, 0)]),
    });
    expect(decodeRequest(buf, buf.length).body).toEqual({
      kind: 'read',
      fh: 3,
      offset: 2 ** 40 + 17,
      size: 131072,
    });
  });

  test.each([
    ['shorter than a header', Buffer.alloc(20), 20, undefined, Errno.EIO],
    [
      'length field disagrees with the bytes read',
      buildRequest({ opcode: Opcode.GETATTR, unique: 5n, len: 999, payload: Buffer.alloc(16) }),
      56,
      5n,
      Errno.EIO,
    ],
    [
      'name without NUL',
      buildRequest({ opcode: Opcode.LOOKUP, unique: 6n, payload: Buffer.from('abc') }),
      43,
      6n,
      Errno.EINVAL,
    ],
    [
      'empty name',
      buildRequest({ opcode: Opcode.LOOKUP, unique: 6n, payload: Buffer.from([0]) }),
      41,
      6n,
      Errno.EINVAL,
    ],
    [
      'truncated READ',
      buildRequest({ opcode: Opcode.READ, unique: 8n, payload: Buffer.alloc(12) }),
      52,
      8n,
      Errno.EINVAL,
    ],
    [
      'BATCH_FORGET count beyond the payload',
      buildRequest({
        opcode: Opcode.BATCH_FORGET,
        unique: 10n,
        payload: Buffer.concat([u32s(1000, 0), u64s(2, 1)]),
      }),
      64,
      10n,
      Errno.EINVAL,
    ],
    [
      'extension length beyond the request',
      buildRequest({ opcode: Opcode.GETATTR, unique: 11n, extlen: 50, payload: Buffer.alloc(16) }),
      56,
      11n,
      Errno.EINVAL,
    ],
    [
      'GETXATTR without a name',
      buildRequest({ opcode: Opcode.GETXATTR, unique: 12n, payload: u32s(0, 0) }),
      48,
      12n,
      Errno.EINVAL,
    ],
  ])('rejects %s', (_what, buf, length, unique, errno) => {
    let error: unknown;
    try {
      decodeRequest(buf, length);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DecodeError);
    expect(error).toMatchObject({ unique, errno });
  });

  test('classifies unknown and modifying opcodes', () => {
    const unknown = buildRequest({ opcode: 9999, unique: 1n });
    expect(decodeRequest(unknown, unknown.length).body).toEqual({ kind: 'unsupported' });
    const mkdir = buildRequest({
      opcode: Opcode.MKDIR,
      unique: 2n,
      payload: Buffer.concat([u32s(0o755, 0), cstring('d')]),
    });
    expect(decodeRequest(mkdir, mkdir.length).body).toEqual({ kind: 'readOnly' });
    const ioctl = buildRequest({ opcode: Opcode.IOCTL, unique: 3n });
    expect(decodeRequest(ioctl, ioctl.length).body).toEqual({ kind: 'unsupported' });
  });

  test('INIT: flags2 only when the kernel sends the extended struct', () => {
    const old = buildRequest({
      opcode: Opcode.INIT,
      unique: 1n,
      payload: u32s(7, 31, 131072, 0x1234),
    });
    expect(decodeRequest(old, old.length).body).toMatchObject({ minor: 31, flags: 0x1234n });
    const ext = buildRequest({
      opcode: Opcode.INIT,
      unique: 1n,
      payload: Buffer.concat([u32s(7, 45, 131072, 0x1234, 0x10), Buffer.alloc(44)]),
    });
    expect(decodeRequest(ext, ext.length).body).toMatchObject({
      minor: 45,
      flags: 0x1234n | (0x10n << 32n),
    });
  });
});

/** A tiny directory: 1 = root, 2 = "file", 3 = "dev" (char 0:0). */
function tinyFs(overrides: Partial<Filesystem> = {}): Filesystem & { forgotten: number[] } {
  const attr = (ino: number) => ({
    ino,
    mode: ino === 1 ? S_IFDIR | 0o755 : ino === 3 ? S_IFCHR : S_IFREG | 0o644,
    size: 5,
  });
  const forgotten: number[] = [];
  return {
    forgotten,
    lookup: (_parent, name) => {
      const ino = { file: 2, dev: 3 }[name];
      if (!ino) throw new FuseError(Errno.ENOENT);
      return { ino, attr: attr(ino), entryTimeout: 2.5, attrTimeout: 7 };
    },
    forget: (ino, n) => forgotten.push(ino, n),
    getattr: (ino) => ({ attr: attr(ino) }),
    read: () => Buffer.from('hello'),
    readdir: function* (_ino, _fh, offset) {
      const all = [
        { name: '.', ino: 1, mode: S_IFDIR, nextOffset: 1 },
        { name: '..', ino: 1, mode: S_IFDIR, nextOffset: 2 },
        { name: 'file', ino: 2, mode: S_IFREG, nextOffset: 3 },
        { name: 'dev', ino: 3, mode: S_IFCHR, nextOffset: 4 },
      ];
      yield* all.slice(offset);
    },
    getxattr: (_ino, name) => {
      if (name !== 'user.k') throw new FuseError(Errno.ENODATA);
      return Buffer.from('value!');
    },
    listxattr: () => ['user.k', 'trusted.overlay.opaque'],
    ...overrides,
  };
}

interface Harness {
  transport: QueueTransport;
  session: FuseSession;
  logged: string[];
  ask(spec: Parameters<typeof buildRequest>[0]): Promise<Reply>;
}

async function startSession(fs: Filesystem, init = true): Promise<Harness> {
  const transport = new QueueTransport();
  const logged: string[] = [];
  const log: FuseLogger = { warn: (_f, m) => logged.push(m), error: (_f, m) => logged.push(m) };
  const session = new FuseSession(transport, fs, { log });
  session.start();
  const ask = (spec: Parameters<typeof buildRequest>[0]): Promise<Reply> => {
    transport.push(buildRequest(spec));
    return transport.replyTo(spec.unique);
  };
  if (init) {
    await ask({
      opcode: Opcode.INIT,
      unique: 2n,
      payload: Buffer.concat([u32s(7, 45, 131072, 0xffff_ffff, 0xffff), Buffer.alloc(44)]),
    });
    await session.ready;
  }
  return { transport, session, logged, ask };
}

async function stopSession(h: Harness): Promise<void> {
  h.transport.end();
  await h.session.closed;
}

describe('FuseSession', () => {
  test('INIT: answers 7.40 to a newer kernel with only the flags we want', async () => {
    const h = await startSession(tinyFs(), false);
    const reply = await h.ask({
      opcode: Opcode.INIT,
      unique: 2n,
      payload: Buffer.concat([u32s(7, 45, 131072, 0xffff_ffff, 0xffff), Buffer.alloc(44)]),
    });
    expect(reply.error).toBe(0);
    expect(reply.body).toHaveLength(64);
    expect([reply.body.readUInt32LE(0), reply.body.readUInt32LE(4)]).toEqual([7, 40]);
    const flags =
      BigInt(reply.body.readUInt32LE(12)) | (BigInt(reply.body.readUInt32LE(32)) << 32n);
    expect(flags & (1n << 16n)).toBe(0n); // no writeback cache
    expect(flags & (1n << 13n)).not.toBe(0n); // readdirplus
    expect(reply.body.readUInt16LE(28)).toBe(256); // max_pages
    expect(await h.session.ready).toMatchObject({ minor: 40, kernelMinor: 45 });
    await stopSession(h);
  });

  test('INIT: a newer major gets our major back and the session waits for the retry', async () => {
    const h = await startSession(tinyFs(), false);
    const first = await h.ask({ opcode: Opcode.INIT, unique: 2n, payload: u32s(8, 0, 65536, 0) });
    expect(first.body.readUInt32LE(0)).toBe(7);
    expect(h.session.negotiated).toBeUndefined();
    await h.ask({ opcode: Opcode.INIT, unique: 4n, payload: u32s(7, 31, 65536, 1) });
    expect(await h.session.ready).toMatchObject({ minor: 31, flags: 1n });
    await stopSession(h);
  });

  test('INIT: a kernel older than 7.31 is refused with EPROTO', async () => {
    const h = await startSession(tinyFs(), false);
    const reply = await h.ask({ opcode: Opcode.INIT, unique: 2n, payload: u32s(7, 26, 65536, 0) });
    expect(reply.error).toBe(-Errno.EPROTO);
    await stopSession(h);
    await expect(h.session.ready).rejects.toThrow(/before FUSE_INIT/);
  });

  test('unknown opcodes get ENOSYS, modifying ones EROFS, malformed ones an error, and serving goes on', async () => {
    const h = await startSession(tinyFs());
    expect((await h.ask({ opcode: 4242, unique: 11n })).error).toBe(-Errno.ENOSYS);
    expect(
      (
        await h.ask({
          opcode: Opcode.MKNOD,
          unique: 13n,
          payload: Buffer.concat([u32s(S_IFREG, 0, 0, 0), cstring('x')]),
        })
      ).error,
    ).toBe(-Errno.EROFS);
    expect(
      (await h.ask({ opcode: Opcode.LOOKUP, unique: 15n, payload: Buffer.from('nonul') })).error,
    ).toBe(-Errno.EINVAL);
    expect(
      (await h.ask({ opcode: Opcode.GETATTR, unique: 17n, len: 1234, payload: Buffer.alloc(16) }))
        .error,
    ).toBe(-Errno.EIO);
    h.transport.push(Buffer.alloc(10)); // not even a header: dropped, logged
    const ok = await h.ask({
      opcode: Opcode.GETATTR,
      unique: 19n,
      nodeid: 2,
      payload: Buffer.alloc(16),
    });
    expect(ok.error).toBe(0);
    expect(h.logged.filter((m) => m.includes('malformed'))).toHaveLength(3);
    await stopSession(h);
  });

  test('a filesystem bug becomes EIO and a log line, never a crash', async () => {
    const h = await startSession(
      tinyFs({
        getattr: () => {
          throw new TypeError('boom');
        },
        read: () => Promise.reject(new Error('async boom')),
      }),
    );
    expect(
      (await h.ask({ opcode: Opcode.GETATTR, unique: 21n, payload: Buffer.alloc(16) })).error,
    ).toBe(-Errno.EIO);
    expect(
      (await h.ask({ opcode: Opcode.READ, unique: 23n, payload: Buffer.alloc(40) })).error,
    ).toBe(-Errno.EIO);
    expect(h.logged.filter((m) => m.includes('non-FuseError'))).toHaveLength(2);
    await stopSession(h);
  });

  test('replies go out in completion order: a pending READ does not hold back a GETATTR', async () => {
    let release!: (b: Buffer) => void;
    const h = await startSession(
      tinyFs({ read: () => new Promise<Buffer>((resolve) => (release = resolve)) }),
    );
    const read = h.ask({
      opcode: Opcode.READ,
      unique: 31n,
      nodeid: 2,
      payload: Buffer.concat([u64s(0, 0), u32s(4096, 0), Buffer.alloc(16)]),
    });
    const attr = await h.ask({
      opcode: Opcode.GETATTR,
      unique: 33n,
      nodeid: 2,
      payload: Buffer.alloc(16),
    });
    expect(attr.error).toBe(0);
    expect(h.transport.replies.map((r) => r.unique)).not.toContain(31n);
    release(Buffer.from('late data'));
    expect((await read).body.toString()).toBe('late data');
    await stopSession(h);
  });

  test('INTERRUPT aborts the request signal (EINTR); for an unknown request it answers EAGAIN', async () => {
    let sawAbort = false;
    const h = await startSession(
      tinyFs({
        read: (_i, _f, _o, _s, ctx) =>
          new Promise<Buffer>((_resolve, reject) =>
            ctx.signal.addEventListener('abort', () => {
              sawAbort = true;
              reject(new DOMException('aborted', 'AbortError'));
            }),
          ),
      }),
    );
    const read = h.ask({ opcode: Opcode.READ, unique: 40n, nodeid: 2, payload: Buffer.alloc(40) });
    await new Promise((r) => setImmediate(r));
    h.transport.push(buildRequest({ opcode: Opcode.INTERRUPT, unique: 43n, payload: u64s(40) }));
    expect((await read).error).toBe(-Errno.EINTR);
    expect(sawAbort).toBe(true);
    const stray = await h.ask({ opcode: Opcode.INTERRUPT, unique: 45n, payload: u64s(999) });
    expect(stray.error).toBe(-Errno.EAGAIN);
    await stopSession(h);
  });

  test('LOOKUP: entry with per-reply timeouts; negative entries cached when asked', async () => {
    const h = await startSession(
      tinyFs({
        lookup: (_p, name) => {
          if (name === 'never') throw new FuseError(Errno.ENOENT, 'no', { negativeTimeout: 60 });
          if (name !== 'file') throw new FuseError(Errno.ENOENT);
          return {
            ino: 2,
            generation: 9,
            attr: { ino: 2, mode: S_IFREG | 0o600, size: 2 ** 33 },
            entryTimeout: 2.5,
            attrTimeout: 7,
          };
        },
      }),
    );
    const entry = await h.ask({ opcode: Opcode.LOOKUP, unique: 51n, payload: cstring('file') });
    expect(entry.body).toHaveLength(128);
    expect(entry.body.readBigUInt64LE(0)).toBe(2n);
    expect(entry.body.readBigUInt64LE(8)).toBe(9n);
    expect([entry.body.readBigUInt64LE(16), entry.body.readUInt32LE(32)]).toEqual([
      2n,
      500_000_000,
    ]);
    expect(entry.body.readBigUInt64LE(24)).toBe(7n);
    expect(entry.body.readBigUInt64LE(40 + 8)).toBe(2n ** 33n); // attr.size
    expect(entry.body.readUInt32LE(40 + 60)).toBe(S_IFREG | 0o600); // attr.mode
    const negative = await h.ask({ opcode: Opcode.LOOKUP, unique: 53n, payload: cstring('never') });
    expect([
      negative.error,
      negative.body.readBigUInt64LE(0),
      negative.body.readBigUInt64LE(16),
    ]).toEqual([0, 0n, 60n]);
    expect(
      (await h.ask({ opcode: Opcode.LOOKUP, unique: 55n, payload: cstring('other') })).error,
    ).toBe(-Errno.ENOENT);
    await stopSession(h);
  });

  test('GETXATTR/LISTXATTR: size probe, exact value, ERANGE, ENODATA', async () => {
    const h = await startSession(tinyFs());
    const get = (u: bigint, size: number, name: string) =>
      h.ask({
        opcode: Opcode.GETXATTR,
        unique: u,
        payload: Buffer.concat([u32s(size, 0), cstring(name)]),
      });
    expect((await get(61n, 0, 'user.k')).body.readUInt32LE(0)).toBe(6);
    expect((await get(63n, 100, 'user.k')).body.toString()).toBe('value!');
    expect((await get(65n, 3, 'user.k')).error).toBe(-Errno.ERANGE);
    expect((await get(67n, 100, 'user.none')).error).toBe(-Errno.ENODATA);
    const names = 'user.k\0trusted.overlay.opaque\0';
    const list = (u: bigint, size: number) =>
      h.ask({ opcode: Opcode.LISTXATTR, unique: u, payload: u32s(size, 0) });
    expect((await list(69n, 0)).body.readUInt32LE(0)).toBe(names.length);
    expect((await list(71n, 200)).body.toString()).toBe(names);
    expect((await list(73n, 5)).error).toBe(-Errno.ERANGE);
    await stopSession(h);
  });

  test('READDIR fills at most the requested size, resumes at the cookie, and reports d_type', async () => {
    const h = await startSession(tinyFs());
    const readdir = (u: bigint, offset: number, size: number, plus = false) =>
      h.ask({
        opcode: plus ? Opcode.READDIRPLUS : Opcode.READDIR,
        unique: u,
        payload: Buffer.concat([u64s(0, offset), u32s(size, 0), Buffer.alloc(16)]),
      });
    const first = await readdir(81n, 0, 70); // 32 bytes per short record: room for two
    const parsed = parseDirents(first.body, false);
    expect(parsed.map((d) => d.name)).toEqual(['.', '..']);
    const rest = parseDirents((await readdir(83n, parsed.at(-1)!.off, 4096)).body, false);
    expect(rest).toEqual([
      { ino: 2n, off: 3, type: S_IFREG >> 12, name: 'file', nodeid: undefined },
      { ino: 3n, off: 4, type: S_IFCHR >> 12, name: 'dev', nodeid: undefined },
    ]);
    expect((await readdir(85n, 4, 4096)).body).toHaveLength(0);
    const plus = parseDirents((await readdir(87n, 0, 4096, true)).body, true);
    expect(plus.map((d) => [d.name, d.nodeid])).toEqual([
      ['.', 0n],
      ['..', 0n],
      ['file', 2n],
      ['dev', 3n],
    ]);
    await stopSession(h);
  });

  test('OPEN: write access is EROFS; without open() the kernel is told ENOSYS (no-open mode)', async () => {
    const h = await startSession(tinyFs());
    expect(
      (
        await h.ask({
          opcode: Opcode.OPEN,
          unique: 91n,
          nodeid: 2,
          payload: u32s(constants.O_WRONLY, 0),
        })
      ).error,
    ).toBe(-Errno.EROFS);
    expect(
      (
        await h.ask({
          opcode: Opcode.OPEN,
          unique: 93n,
          nodeid: 2,
          payload: u32s(constants.O_RDONLY, 0),
        })
      ).error,
    ).toBe(-Errno.ENOSYS);
    expect(
      (await h.ask({ opcode: Opcode.OPENDIR, unique: 95n, nodeid: 1, payload: u32s(0, 0) })).error,
    ).toBe(-Errno.ENOSYS);
    await stopSession(h);
  });

  test('FORGET and BATCH_FORGET reach the filesystem without a reply; end of connection calls destroy', async () => {
    let destroyed = 0;
    const fs = tinyFs({ destroy: () => destroyed++ });
    const h = await startSession(fs);
    h.transport.push(
      buildRequest({ opcode: Opcode.FORGET, unique: 101n, nodeid: 2, payload: u64s(3) }),
    );
    h.transport.push(
      buildRequest({
        opcode: Opcode.BATCH_FORGET,
        unique: 103n,
        payload: Buffer.concat([u32s(2, 0), u64s(2, 1, 3, 4)]),
      }),
    );
    await h.ask({ opcode: Opcode.STATFS, unique: 105n });
    expect(fs.forgotten).toEqual([2, 3, 2, 1, 3, 4]);
    expect(h.transport.replies.map((r) => r.unique)).not.toContain(101n);
    expect(h.transport.replies.map((r) => r.unique)).not.toContain(103n);
    await stopSession(h);
    expect(destroyed).toBe(1);
  });
});

function parseDirents(body: Buffer, plus: boolean) {
  const out: {
    ino: bigint;
    off: number;
    type: number;
    name: string;
    nodeid: bigint | undefined;
  }[] = [];
  let at = 0;
  while (at < body.length) {
    const nodeid = plus ? body.readBigUInt64LE(at) : undefined;
    if (plus) at += 128;
    const namelen = body.readUInt32LE(at + 16);
    out.push({
      ino: body.readBigUInt64LE(at),
      off: Number(body.readBigUInt64LE(at + 8)),
      type: body.readUInt32LE(at + 20),
      name: body.toString('utf8', at + 24, at + 24 + namelen),
      nodeid,
    });
    at += (24 + namelen + 7) & ~7;
  }
  return out;
}
