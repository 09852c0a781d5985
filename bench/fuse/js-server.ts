// The TypeScript FUSE server under benchmark, in its own process (as in production).
//   node bench/fuse/js-server.ts <mountpoint> <dataSize> <timeout> <epoll|threadpool> [readers]
// Prints "ready" once FUSE_INIT is done; SIGTERM unmounts and exits.

import {
  mountFilesystem,
  unmountOnSignals,
  type DeviceReader,
} from '../../backend/src/fuse/index.ts';
import { benchFs } from './bench-fs.ts';

const [mountpoint, size, timeout, reader, readers] = process.argv.slice(2);
if (!mountpoint)
  throw new Error('usage: js-server.ts <mountpoint> <dataSize> <timeout> <reader> [readers]');
const mounted = await mountFilesystem(benchFs(Number(size), Number(timeout)), {
  mountpoint,
  fsname: 'slipstream-bench',
  reader: (reader ?? 'epoll') as DeviceReader,
  threadpoolReaders: Number(readers ?? 4),
});
unmountOnSignals(mounted, { graceMs: 1000 });
process.stdout.write('ready\n');
