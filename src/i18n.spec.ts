/**
 * @jest-environment node
 */
// Extraction check: i18next-parser (same config as `npm run i18n`) extracts every string the code
// uses into a temp dir; each committed locale must hold exactly those keys, with a non-empty
// translation that keeps every {{placeholder}}.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '..');
const LOCALES = ['en', 'ja', 'zh-cn', 'ko', 'fr', 'es'];
const FILE = 'plugin__slipstream.json';

type Catalog = Record<string, string>;
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Catalog;

let extracted: Record<string, Catalog>;

beforeAll(() => {
  const out = mkdtempSync(join(tmpdir(), 'slipstream-i18n-'));
  try {
    const result = spawnSync(
      process.execPath,
      [
        join(REPO, 'node_modules/i18next-parser/bin/cli.js'),
        '--config',
        'i18next-parser.config.js',
      ],
      {
        cwd: REPO,
        env: { ...process.env, I18N_OUTPUT: join(out, '$LOCALE', '$NAMESPACE.json') },
        encoding: 'utf8',
      },
    );
    if (result.status !== 0) throw new Error(`${result.stdout}\n${result.stderr}`);
    extracted = Object.fromEntries(LOCALES.map((l) => [l, read(join(out, l, FILE))]));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 60_000);

const placeholders = (text: string) => (text.match(/{{\s*\w+\s*}}/g) ?? []).sort();

describe.each(LOCALES)('locale %s', (locale) => {
  const committed = () => read(join(REPO, 'locales', locale, FILE));

  it('has exactly the keys the code uses', () => {
    expect(Object.keys(committed()).sort()).toEqual(Object.keys(extracted[locale]).sort());
  });

  it('translates every key and keeps its placeholders', () => {
    const catalog = committed();
    Object.entries(catalog).forEach(([key, value]) => {
      expect([key, value.trim()]).not.toEqual([key, '']);
      expect([key, placeholders(value)]).toEqual([
        key,
        placeholders(key.replace(/_(one|many|other)$/, '')),
      ]);
    });
  });
});

it('extracts the console-extensions.json labels', () => {
  expect(extracted.en).toHaveProperty(['Lazy image pulling']);
  expect(extracted.en).toHaveProperty(['Startup time']);
  expect(extracted.en).toHaveProperty(['Lazy pulling']);
  expect(extracted.en).toHaveProperty(['Startup']);
});
