// The startup benchmark's generated outputs: the docs section is replaced between its markers (the
// rest of docs/benchmarks.md untouched) and the chart stacks pull, create and run.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  renderChart,
  updateBenchmarksDoc,
  type CaseResult,
} from '../../../bench/startup/report.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('bench-report');
});
afterEach(async () => {
  await removeDir(dir);
});

test('the generated section replaces only itself on reruns', async () => {
  const doc = join(dir, 'benchmarks.md');
  await writeFile(doc, '# Benchmarks\n\n## Other\n\nkept\n');
  await updateBenchmarksDoc(doc, 'first run', 'small');
  await updateBenchmarksDoc(doc, 'second run', 'small');
  const text = await readFile(doc, 'utf8');
  expect(text).toContain('## Other\n\nkept');
  expect(text).toContain('second run');
  expect(text).not.toContain('first run');
  expect(text.match(/## Startup benchmark/g)).toHaveLength(1);
});

test('small and full-scale runs keep separate sections', async () => {
  const doc = join(dir, 'benchmarks.md');
  await writeFile(doc, '# Benchmarks\n');
  await updateBenchmarksDoc(doc, 'full numbers', 'full');
  await updateBenchmarksDoc(doc, 'small numbers', 'small');
  await updateBenchmarksDoc(doc, 'small again', 'small');
  const text = await readFile(doc, 'utf8');
  expect(text).toContain('full numbers');
  expect(text).toContain('small again');
  expect(text).not.toContain('small numbers');
  expect(text.match(/## Startup benchmark, full-scale images/g)).toHaveLength(1);
});

test('the chart has one stacked bar per completed case, sized by the medians', () => {
  const summary = (v: number) => ({ median: v, min: v, max: v });
  const done: CaseResult = {
    image: 'python',
    link: 'l',
    mode: 'full',
    ref: 'r',
    status: 'ok',
    runs: [],
    summary: {
      pullSeconds: summary(6),
      createSeconds: summary(1),
      runSeconds: summary(3),
      totalSeconds: summary(10),
    },
  };
  const skipped: CaseResult = { ...done, mode: 'lazy', status: 'not run: x', summary: {} };
  const svg = renderChart('t', [done, skipped]);
  const widths = [...svg.matchAll(/<rect x="[\d.]+" y="\d+" width="([\d.]+)" height="18"/g)].map(
    (m) => Number(m[1]),
  );
  expect(widths).toHaveLength(3);
  expect(widths[0] / widths[2]).toBeCloseTo(2, 5);
  expect(svg).toContain('10.00 s');
  expect(svg).not.toContain('lazy (');
});
