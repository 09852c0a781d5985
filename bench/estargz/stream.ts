// Child process of run.ts: converts a generated N-GiB layer (half pseudo-random, half text) from
// a tar stream that never exists on disk, to a sink; prints throughput and peak RSS as JSON.
import { Writable } from 'node:stream';

import { buildEstargz } from '../../backend/src/estargz/index.ts';
import { encodeHeader, newHeader, paddingFor } from '../../backend/src/tar/header.ts';
import { END_OF_ARCHIVE } from '../../backend/src/tar/writer.ts';

const MiB = 1024 * 1024;
const gib = Number(process.argv[2] ?? '1');

function* generatedTar(): Generator<Buffer> {
  const fileSize = 256 * MiB;
  let x = 1;
  for (let f = 0; f < (gib * 1024 * MiB) / fileSize; f++) {
    yield encodeHeader(newHeader({ name: `data/file${f}.bin`, type: 'file', size: fileSize }));
    for (let off = 0; off < fileSize; off += MiB) {
      const block = Buffer.allocUnsafe(MiB);
      if ((off / MiB) % 2 === 0) {
        for (let i = 0; i < MiB; i += 4) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          block.writeUInt32LE(x, i);
        }
      } else block.fill(`line ${off} of file ${f}\n`);
      yield block;
    }
    yield Buffer.alloc(paddingFor(fileSize));
  }
  yield END_OF_ARCHIVE;
}

let peak = process.memoryUsage().rss;
const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
let out = 0;
const sink = new Writable({
  write: (chunk: Buffer, _enc, done) => {
    out += chunk.length;
    done();
  },
});
const t0 = performance.now();
const result = await buildEstargz(() => Promise.resolve(generatedTar()), sink, { level: 6 });
const seconds = (performance.now() - t0) / 1000;
clearInterval(timer);
process.stdout.write(
  JSON.stringify({
    inputBytes: result.uncompressedSize,
    outputBytes: out,
    seconds,
    mibPerSecond: result.uncompressedSize / MiB / seconds,
    peakRssBytes: peak,
  }) + '\n',
);
