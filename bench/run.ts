// Runs the benchmark entries: every bench/<name>/run.ts (convention: one folder per benchmark, its
// run.ts writes bench/results/<name>.json and its own section of docs/benchmarks.md). Entries run
// one after another (they measure time: never in parallel), the startup benchmark last (longest).
// A failing entry is reported and the others still run; the exit code says whether all passed.
//
//   node bench/run.ts                       # all entries with their defaults
//   node bench/run.ts startup registry      # only these
//   node bench/run.ts startup -- --scale small --reps 1   # arguments for a single entry
import { spawn } from 'node:child_process';
import { access, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));

async function entries(): Promise<string[]> {
  const names: string[] = [];
  for (const dirent of await readdir(BENCH, { withFileTypes: true })) {
    if (!dirent.isDirectory() || dirent.name.startsWith('.')) continue;
    const found = await access(join(BENCH, dirent.name, 'run.ts')).then(
      () => true,
      () => false,
    );
    if (found) names.push(dirent.name);
  }
  return names.sort(
    (a, b) => Number(a === 'startup') - Number(b === 'startup') || a.localeCompare(b),
  );
}

function runEntry(name: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    // --expose-gc: entries that measure retained memory call gc(); harmless for the others.
    const child = spawn(process.execPath, ['--expose-gc', join(BENCH, name, 'run.ts'), ...args], {
      stdio: 'inherit',
    });
    // Ctrl-C reaches the child through the terminal's process group; wait for its cleanup.
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.once('error', () => resolve(127));
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dash = argv.indexOf('--');
  const wanted = dash >= 0 ? argv.slice(0, dash) : argv;
  const passArgs = dash >= 0 ? argv.slice(dash + 1) : [];
  const all = await entries();
  const unknown = wanted.filter((w) => !all.includes(w));
  if (unknown.length)
    throw new Error(`unknown benchmark(s) ${unknown.join(', ')} (known: ${all.join(', ')})`);
  const selected = wanted.length ? wanted : all;
  if (passArgs.length && selected.length !== 1) {
    throw new Error('arguments after -- need exactly one benchmark named before them');
  }
  process.on('SIGINT', () => undefined); // let the running entry clean up and exit first
  const failed: string[] = [];
  for (const name of selected) {
    console.log(`\n==> bench/${name}`);
    const code = await runEntry(name, passArgs);
    if (code !== 0) failed.push(`${name} (exit ${code})`);
  }
  console.log(
    `\nbenchmarks: ${selected.length - failed.length} ok${failed.length ? `, failed: ${failed.join(', ')}` : ''}`,
  );
  process.exitCode = failed.length ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 2;
});
