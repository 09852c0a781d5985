// The demo's sample image: a busybox rootfs, an app script and a large incompressible "model"
// file, of which the app reads only a header and one slice at start (like a model server that
// memory-maps its weights). Pushed as plain gzip by podman, converted to eStargz by
// `slipstream convert`, described by `slipstream inspect`.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { importBusyboxImage, pushImage } from '../test/support/images.ts';
import type { PodmanFixture } from '../test/support/podman.ts';
import { run } from '../test/support/process.ts';
import { MiB } from './steps.ts';

const bin = fileURLToPath(new URL('../bin/slipstream.js', import.meta.url));

export const MODEL_BYTES = 256 * MiB;
const SLICE_SKIP_MIB = 128;
const SLICE_MIB = 8;

/** What the app reads at start: the model's first 4 KiB and an 8 MiB slice in its middle. */
export const APP_SCRIPT = [
  '#!/bin/sh',
  'set -e',
  // Hundredths of a second since boot: how long the app's own reads take, apart from podman's work.
  'now() { read up _ < /proc/uptime; echo "${up%.*}${up#*.}"; }',
  't0=$(now)',
  'header=$(head -c 4096 /models/model.bin | wc -c)',
  `slice=$(busybox dd if=/models/model.bin bs=1048576 skip=${SLICE_SKIP_MIB} count=${SLICE_MIB} 2>/dev/null | wc -c)`,
  't1=$(now)',
  'echo "app ready: read ${header} header bytes and ${slice} slice bytes of the model in $(( (t1 - t0) * 10 )) ms"',
  '',
].join('\n');

/** The files the app touches first: placed at the front of the layer and prefetched. */
const PRIORITIZED = ['/bin/busybox', '/etc/passwd', '/app/start.sh'];

/** Builds the image with `builder` and pushes it to `ref` as plain gzip. */
export async function pushSampleImage(builder: PodmanFixture, ref: string): Promise<void> {
  const local = await importBusyboxImage(builder, 'localhost/demo-app:latest', {
    'app/start.sh': APP_SCRIPT,
    'models/model.bin': randomBytes(MODEL_BYTES),
  });
  await pushImage(builder, local, ref);
}

/** `slipstream convert --insecure --prioritize <list> src dst`; returns the CLI's last line. */
export async function convertToEstargz(workDir: string, src: string, dst: string): Promise<string> {
  const list = join(workDir, 'prioritize.txt');
  await writeFile(list, PRIORITIZED.join('\n') + '\n');
  const { stdout, stderr } = await run(process.execPath, [
    bin,
    'convert',
    '--insecure',
    '--prioritize',
    list,
    src,
    dst,
  ]);
  const lines = `${stdout}\n${stderr}`.split('\n').filter((l) => l.trim() !== '');
  return lines.find((l) => /converted/.test(l)) ?? lines.at(-1) ?? '';
}

/** `slipstream inspect <ref>` as a person reads it. */
export async function inspectImage(ref: string): Promise<string> {
  const { stdout } = await run(process.execPath, [bin, 'inspect', '--insecure', ref]);
  return stdout.trimEnd();
}
