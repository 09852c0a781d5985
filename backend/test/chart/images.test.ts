// The image build files agree with what the chart runs and with package.json: UBI bases, the
// Node.js major that `engines` names, non-root users, the `slipstream` entrypoint the chart's
// commands call, mount/umount for the agent, and nginx configured where the chart mounts TLS.
// Building the images needs registry.access.redhat.com, which these machines cannot reach, so the
// backend image's file steps (WORKDIR, COPY, `npm ci`, the entrypoint link) are replayed into a
// temp dir, and the CLI the chart runs is started from there, away from the repository's
// node_modules: that shows the image has every file and production dependency the CLI needs.
import { execFile } from 'node:child_process';
import { access, cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { promisify } from 'node:util';

import { makeTempDir, removeDir } from '../support/tmp.ts';
import { createRenderer, find, repoRoot } from './render.ts';
import type { K8sObject } from './render.ts';

const run = promisify(execFile);

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

/** FROM lines with ARG defaults substituted, and each stage's instructions (continuations joined). */
function parseContainerfile(text: string): Stage[] {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const arg = /^ARG (\w+)=(\S+)$/.exec(line);
    if (arg && stages.length === 0) args.set(arg[1], arg[2]);
    const from = /^FROM (\S+)(?: AS (\S+))?$/i.exec(line);
    if (from) {
      const image = from[1].replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
      stages.push({ from: image, ...(from[2] ? { name: from[2] } : {}), lines: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.lines.push(line);
    }
  }
  return stages;
}

const lastUser = (stage: Stage): string | undefined =>
  stage.lines
    .filter((l) => l.startsWith('USER '))
    .at(-1)
    ?.slice(5);

async function nodeMajorFromEngines(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'backend/package.json'), 'utf8')) as {
    engines: { node: string };
  };
  const major = /(\d+)/.exec(pkg.engines.node)?.[1];
  if (!major) throw new Error(`no Node.js major in engines: ${pkg.engines.node}`);
  return major;
}

describe('backend image', () => {
  let stages: Stage[];
  beforeAll(async () => {
    stages = parseContainerfile(
      await readFile(join(repoRoot, 'images/backend/Containerfile'), 'utf8'),
    );
  });

  it('builds on UBI with the Node.js major that engines names, minimal at run time', async () => {
    const major = await nodeMajorFromEngines();
    expect(stages.length).toBe(2);
    for (const stage of stages)
      expect(stage.from).toMatch(/^registry\.access\.redhat\.com\/ubi\d+\//);
    expect(stages[0].from).toContain(`/nodejs-${major}:`);
    expect(stages[1].from).toContain(`/nodejs-${major}-minimal:`);
  });

  it('runs as a non-root user with the slipstream entrypoint the chart calls', () => {
    const runtime = stages[1];
    expect(lastUser(runtime)).toBe('1001');
    expect(runtime.lines).toContain('ENTRYPOINT ["slipstream"]');
    expect(runtime.lines.join('\n')).toContain(
      'ln -s /opt/slipstream/backend/bin/slipstream.js /usr/local/bin/slipstream',
    );
  });

  it('installs mount/umount (util-linux-core) for the agent and its hooks', () => {
    expect(stages[1].lines.join('\n')).toMatch(/microdnf install .*util-linux-core/);
  });

  it('copies sources that exist, and only production dependencies', async () => {
    for (const path of ['backend/bin/slipstream.js', 'backend/src', 'package-lock.json']) {
      await expect(access(join(repoRoot, path))).resolves.toBeUndefined();
    }
    expect(stages[0].lines.join('\n')).toMatch(/npm ci --omit=dev/);
  });
});

/**
 * Replays one stage's file steps into `root` (the stage's "/"): WORKDIR, COPY (from the build
 * context or an earlier stage's root), and of RUN only what shapes files: `npm ci` (run for real,
 * from npm's cache when it has the packages) and `ln -s`. Package installs and permission changes
 * need the base image; they are returned, not run.
 */
async function replayStage(
  stage: Stage,
  root: string,
  earlier: Map<string, string>,
  { runCommands = true }: { runCommands?: boolean } = {},
): Promise<{ skipped: string[]; entrypoint?: string[] }> {
  const inRoot = (path: string): string => join(root, path);
  let workdir = '/';
  const skipped: string[] = [];
  let entrypoint: string[] | undefined;
  for (const line of stage.lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const argsText = line.slice(instruction.length).trim();
    if (instruction === 'WORKDIR') {
      workdir = posix.resolve(workdir, argsText);
      await mkdir(inRoot(workdir), { recursive: true });
    } else if (instruction === 'COPY') {
      const fromFlag = rest[0]?.startsWith('--from=') ? rest.shift()!.slice(7) : undefined;
      const dst = rest.pop()!;
      const sourceRoot = fromFlag === undefined ? repoRoot : earlier.get(fromFlag);
      if (!sourceRoot) throw new Error(`COPY --from=${fromFlag}: no such earlier stage`);
      const target = posix.resolve(workdir, dst);
      for (const src of rest) {
        const from = join(sourceRoot, src);
        await access(from); // a COPY of a missing path fails the build
        const to = dst.endsWith('/') ? join(inRoot(target), posix.basename(src)) : inRoot(target);
        await mkdir(dirname(to), { recursive: true });
        await cp(from, to, { recursive: true, verbatimSymlinks: true });
      }
    } else if (instruction === 'RUN' && !runCommands) {
      skipped.push(argsText);
    } else if (instruction === 'RUN') {
      for (const command of argsText.split('&&').map((c) => c.trim())) {
        const words = command.split(/\s+/);
        if (words[0] === 'npm' && words[1] === 'ci') {
          await run('npm', [...words.slice(1), '--prefer-offline'], {
            cwd: inRoot(workdir),
            maxBuffer: 16 * 1024 * 1024,
          });
        } else if (words[0] === 'ln' && words[1] === '-s' && words.length === 4) {
          const [target, link] = [words[2], words[3]];
          if (!isAbsolute(target) || !isAbsolute(link))
            throw new Error(`relative link: ${command}`);
          await mkdir(dirname(inRoot(link)), { recursive: true });
          await symlink(inRoot(target), inRoot(link));
        } else {
          skipped.push(command);
        }
      }
    } else if (instruction === 'ENTRYPOINT') {
      entrypoint = JSON.parse(argsText) as string[];
    }
  }
  return { skipped, ...(entrypoint ? { entrypoint } : {}) };
}

describe('backend image, its file steps replayed', () => {
  let dir: string;
  let cli: string;
  let skipped: string[];

  beforeAll(async () => {
    dir = await makeTempDir('image-replay');
    const stages = parseContainerfile(
      await readFile(join(repoRoot, 'images/backend/Containerfile'), 'utf8'),
    );
    const roots = new Map<string, string>();
    skipped = [];
    let entrypoint: string[] | undefined;
    for (const [i, stage] of stages.entries()) {
      const root = join(dir, `stage-${i}`);
      await mkdir(root);
      const result = await replayStage(stage, root, roots);
      if (stage.name) roots.set(stage.name, root);
      skipped.push(...result.skipped);
      entrypoint = result.entrypoint ?? entrypoint;
    }
    // ENTRYPOINT ["slipstream"] is found on the image's PATH.
    expect(entrypoint).toEqual(['slipstream']);
    cli = join(dir, `stage-${stages.length - 1}`, 'usr/local/bin', entrypoint![0]);
  }, 300_000);

  afterAll(async () => {
    if (dir) await removeDir(dir);
  });

  const slipstream = async (...args: string[]): Promise<string> =>
    (await run(process.execPath, [cli, ...args], { cwd: dir, env: { PATH: process.env.PATH } }))
      .stdout;

  it('leaves out only package installs, cache cleaning and permission changes', () => {
    for (const command of skipped) expect(command).toMatch(/^(microdnf|rm|chmod|chgrp|npm cache) /);
  });

  it('starts the CLI with production dependencies only, outside the repository', async () => {
    expect(dir.startsWith(repoRoot)).toBe(false);
    const help = await slipstream('--help');
    for (const command of ['agent', 'hub', 'convert', 'inspect', 'check-registry', 'auth-helper'])
      expect(help).toMatch(new RegExp(`^  ${command} `, 'm'));
    const pkg = JSON.parse(await readFile(join(repoRoot, 'backend/package.json'), 'utf8')) as {
      version: string;
    };
    expect((await slipstream('--version')).trim()).toBe(pkg.version);
  });

  it('accepts the commands and flags the chart runs the agent and the hub with', async () => {
    const renderer = await createRenderer();
    let objects: K8sObject[];
    try {
      ({ objects } = await renderer.render());
    } finally {
      await renderer.cleanup();
    }
    const podCommands = [
      find(objects, 'DaemonSet', 'slipstream-agent'),
      find(objects, 'Deployment', 'slipstream-hub'),
    ].map((o) => {
      const spec = o.spec as {
        template: { spec: { containers: { command: string[]; args: string[] }[] } };
      };
      const c = spec.template.spec.containers[0];
      return [...c.command, ...c.args];
    });
    expect(podCommands.map((c) => c.slice(0, 2))).toEqual([
      ['slipstream', 'agent'],
      ['slipstream', 'hub'],
    ]);
    for (const [, subcommand, ...args] of podCommands) {
      const help = await slipstream(subcommand, '--help');
      const flags = args.filter((a) => a.startsWith('--'));
      expect(flags.length).toBeGreaterThan(0);
      for (const flag of flags) expect(help).toContain(`${flag} <`);
    }
  }, 120_000);
});

describe('plugin image', () => {
  let stages: Stage[];
  beforeAll(async () => {
    stages = parseContainerfile(
      await readFile(join(repoRoot, 'images/plugin/Containerfile'), 'utf8'),
    );
  });

  it('builds with Node.js from engines and serves with nginx from UBI as a non-root user', async () => {
    const major = await nodeMajorFromEngines();
    expect(stages[0].from).toMatch(
      new RegExp(`^registry\\.access\\.redhat\\.com/ubi\\d+/nodejs-${major}:`),
    );
    expect(stages[1].from).toMatch(/^registry\.access\.redhat\.com\/ubi\d+\/nginx-\d+:/);
    expect(lastUser(stages[1])).toBe('1001');
    expect(stages[1].lines).toContain('COPY images/plugin/nginx.conf /etc/nginx/nginx.conf');
    expect(stages[1].lines).toContain(
      'COPY --from=build /opt/app-root/src/dist /usr/share/nginx/html',
    );
  });

  it('copies into the build stage only paths that exist, and not the whole context', async () => {
    const dir = await makeTempDir('plugin-copies');
    try {
      // COPY steps only: the build stage's `npm ci` (all dev tools) and webpack build are what
      // `npm run build` does in every ./scripts/test.sh run.
      const { skipped } = await replayStage(stages[0], dir, new Map(), { runCommands: false });
      expect(skipped).toEqual([expect.stringMatching(/^npm ci /), 'npm run build']);
    } finally {
      await removeDir(dir);
    }
    const copies = stages[0].lines.filter((l) => l.startsWith('COPY '));
    expect(copies).not.toContain('COPY . .');
    for (const needed of ['webpack.config.ts', 'console-extensions.json', 'src', 'locales'])
      expect(copies.join('\n')).toMatch(new RegExp(`COPY (\\S+ )*${needed}( |$)`, 'm'));
  });

  it('nginx serves that directory and writes only under /tmp', async () => {
    const conf = await readFile(join(repoRoot, 'images/plugin/nginx.conf'), 'utf8');
    expect(conf).toContain('root /usr/share/nginx/html;');
    const writable = [...conf.matchAll(/^\s*(pid|\w+_temp_path)\s+(\S+);/gm)].map((m) => m[2]);
    expect(writable.length).toBeGreaterThanOrEqual(5);
    for (const path of writable) expect(path).toMatch(/^\/tmp\//);
  });
});

describe('build context', () => {
  it('leaves node_modules and .git out', async () => {
    const ignore = await readFile(join(repoRoot, '.containerignore'), 'utf8');
    expect(ignore.split('\n')).toEqual(expect.arrayContaining(['.git', '**/node_modules']));
  });
});
