// The benchmark's images, built locally from the cached Debian base (no internet). Each has a
// start command that reads what a real application of its kind reads at start, then prints
// "ready" and exits: the benchmark measures the time until that line.
//  - python: stdlib modules imported by a start script (many small .py/.pyc files and .so libs);
//  - node:   Node.js 24 + a node_modules tree (packages of this repository), of which start
//            requires a few packages and reads a slice of a big icon package (thousands of files);
//  - ml:     a large "model" file (incompressible random data) of which start reads a header and
//            a few slices, like a server that mmaps weights and touches the first tensors.
import { copyFile, cp, mkdir, open, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');

export const READY_LINE = 'ready';

/** How big the images are: `small` while developing, `full` for published numbers. */
export type Scale = 'small' | 'full';

export interface BenchImage {
  name: string;
  description: string;
  /** A large file of the image that the "full read" modes read end to end. */
  bigFile?: string;
  /** Writes a podman build context (Containerfile + files); FROM is `baseImage`. */
  writeContext(dir: string, baseImage: string, scale: Scale): Promise<void>;
}

const PYTHON_MODULES = [
  'json',
  'asyncio',
  'email.parser',
  'http.client',
  'http.server',
  'xml.etree.ElementTree',
  'sqlite3',
  'decimal',
  'argparse',
  'logging.handlers',
  'urllib.request',
  'csv',
  'zipfile',
  'tarfile',
  'concurrent.futures',
  'difflib',
  'unittest',
  'pydoc',
  'statistics',
  'dataclasses',
  'typing',
  'uuid',
  'ssl',
];

const python: BenchImage = {
  name: 'python',
  description: 'Debian minbase + python3; start imports 23 stdlib modules',
  writeContext: async (dir, baseImage) => {
    await mkdir(join(dir, 'app'), { recursive: true });
    await writeFile(
      join(dir, 'app/start.py'),
      `import ${PYTHON_MODULES.join(', ')}\nprint(${JSON.stringify(READY_LINE)}, flush=True)\n`,
    );
    await writeFile(
      join(dir, 'Containerfile'),
      `FROM ${baseImage}\nCOPY app /app\nCMD ["python3", "/app/start.py"]\n`,
    );
  },
};

/** Packages the node app requires at start (self-contained: no dependencies outside this list). */
const NODE_REQUIRED = [
  'typescript',
  'react',
  'react-dom',
  'scheduler',
  'loose-envify',
  'js-tokens',
  'yaml',
  'zod',
  'commander',
  'undici',
  'semver',
  'lodash',
];
/** The package of which start reads a slice of files (8,000+ small files). */
const NODE_SLICE_PACKAGE = '@patternfly/react-icons';
/** Extra node_modules content (the tree a real app ships but does not read at start). */
const NODE_FILLER = {
  small: ['@kubernetes', 'es-toolkit', 'prettier'],
  full: [
    '@patternfly',
    '@kubernetes',
    'es-toolkit',
    'webpack',
    'playwright-core',
    '@babel',
    'prettier',
    '@swc',
    'recharts',
    'eslint',
    'jsdom',
    'caniuse-lite',
  ],
} as const;

const NODE_START = `
const fs = require('node:fs');
const path = require('node:path');
for (const name of ${JSON.stringify(NODE_REQUIRED.filter((p) => !['loose-envify', 'js-tokens', 'scheduler'].includes(p)))}) require(name);
// Read every 4th file of the icon package's CommonJS build: a slice, scattered over the tree.
const base = path.join(__dirname, 'node_modules', ${JSON.stringify(NODE_SLICE_PACKAGE)}, 'dist/js/icons');
let bytes = 0;
fs.readdirSync(base).sort().forEach((file, i) => {
  if (i % 4 === 0) bytes += fs.readFileSync(path.join(base, file)).length;
});
console.log(${JSON.stringify(READY_LINE)}, bytes);
`;

const node: BenchImage = {
  name: 'node',
  description: `Node.js 24 + node_modules; start requires ${NODE_REQUIRED.length} packages and reads a slice of ${NODE_SLICE_PACKAGE}`,
  writeContext: async (dir, baseImage, scale) => {
    const modules = join(dir, 'app/node_modules');
    await mkdir(modules, { recursive: true });
    const packages = new Set<string>([...NODE_REQUIRED, NODE_SLICE_PACKAGE, ...NODE_FILLER[scale]]);
    for (const pkg of packages) {
      await cp(join(REPO, 'node_modules', pkg), join(modules, pkg), {
        recursive: true,
        verbatimSymlinks: true,
      });
    }
    await writeFile(join(dir, 'app/start.js'), NODE_START);
    await mkdir(join(dir, 'bin'));
    await copyFile(process.execPath, join(dir, 'bin/node'));
    await writeFile(
      join(dir, 'Containerfile'),
      `FROM ${baseImage}\nCOPY bin/node /usr/local/bin/node\nCOPY app /app\n` +
        `WORKDIR /app\nCMD ["node", "/app/start.js"]\n`,
    );
  },
};

const MODEL_BYTES: Record<Scale, number> = { small: 256 * 2 ** 20, full: 3 * 2 ** 30 };
const MODEL_SLICES = 8;
const SLICE_BYTES = 2 * 2 ** 20;

const ML_START = `
import json, struct
with open("/models/model.bin", "rb") as f:
    (header_len,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(header_len))
    total = 0
    for t in header["tensors"][:${MODEL_SLICES}]:
        f.seek(t["offset"])
        total += len(f.read(t["length"]))
print(${JSON.stringify(READY_LINE)}, total, flush=True)
`;

const ml: BenchImage = {
  name: 'ml',
  bigFile: '/models/model.bin',
  description:
    'python3 + a large model file (random data); start reads its header and 8 slices of 2 MiB',
  writeContext: async (dir, baseImage, scale) => {
    await mkdir(join(dir, 'models'), { recursive: true });
    await mkdir(join(dir, 'app'), { recursive: true });
    await writeModel(join(dir, 'models/model.bin'), MODEL_BYTES[scale]);
    await writeFile(join(dir, 'app/serve.py'), ML_START);
    // The model in its own layer, the app on top: the usual layering of model-serving images.
    await writeFile(
      join(dir, 'Containerfile'),
      `FROM ${baseImage}\nCOPY models /models\nCOPY app /app\nCMD ["python3", "/app/serve.py"]\n`,
    );
  },
};

/**
 * A model file: an 8-byte little-endian header length, a JSON header listing tensors spread
 * evenly over the file, then random (incompressible, like trained weights) bytes up to `size`.
 */
async function writeModel(path: string, size: number): Promise<void> {
  const headerRoom = 64 * 1024;
  const stride = Math.floor((size - headerRoom) / MODEL_SLICES);
  const tensors = Array.from({ length: MODEL_SLICES }, (_, i) => ({
    name: `layer${i}.weight`,
    offset: headerRoom + i * stride,
    length: Math.min(SLICE_BYTES, stride),
  }));
  const header = Buffer.from(JSON.stringify({ tensors }));
  const file = await open(path, 'w');
  try {
    const lead = Buffer.alloc(headerRoom);
    lead.writeBigUInt64LE(BigInt(header.length));
    header.copy(lead, 8);
    await file.write(lead);
    const { randomFillSync } = await import('node:crypto');
    const chunk = Buffer.alloc(4 * 2 ** 20);
    for (let written = headerRoom; written < size; written += chunk.length) {
      randomFillSync(chunk);
      await file.write(chunk, 0, Math.min(chunk.length, size - written));
    }
  } finally {
    await file.close();
  }
}

export const IMAGES: readonly BenchImage[] = [python, node, ml];

export function findImage(name: string): BenchImage {
  const image = IMAGES.find((i) => i.name === name);
  if (!image)
    throw new Error(
      `unknown benchmark image "${name}" (known: ${IMAGES.map((i) => i.name).join(', ')})`,
    );
  return image;
}
