// Every benchmark writes its own section of docs/benchmarks.md between two HTML-comment markers,
// so a rerun replaces that section and leaves the others alone.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface DocSection {
  begin: string;
  end: string;
  /** Written before the section when the file does not have it yet (heading, intro). */
  preamble: string;
}

/** Replaces the section in `docPath` (creating the file or the section if absent). */
export async function writeDocSection(
  docPath: string,
  marks: DocSection,
  body: string,
): Promise<void> {
  const existing = await readFile(docPath, 'utf8').catch(() => '# Benchmarks\n');
  const section = `${marks.begin}\n${body}\n${marks.end}`;
  const begin = existing.indexOf(marks.begin);
  const end = existing.indexOf(marks.end);
  const next =
    begin >= 0 && end > begin
      ? existing.slice(0, begin) + section + existing.slice(end + marks.end.length)
      : `${existing.trimEnd()}\n\n${marks.preamble}${section}\n`;
  await mkdir(dirname(docPath), { recursive: true });
  await writeFile(docPath, next);
}
