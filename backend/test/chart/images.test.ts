// The image build files agree with what the chart runs and with package.json: UBI bases, the
// Node.js major that `engines` names, non-root users, the `slipstream` entrypoint the chart's
// commands call, mount/umount for the agent, and nginx configured where the chart mounts TLS.
// (Building the images needs registry.access.redhat.com, which these machines cannot reach.)
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { repoRoot } from './render.ts';

interface Stage {
  from: string;
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
    const from = /^FROM (\S+)/.exec(line);
    if (from) {
      const image = from[1].replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
      stages.push({ from: image, lines: [] });
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
