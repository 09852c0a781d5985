// Tar writing helpers: a header (with PAX records when needed), the body, zero padding, and the
// end-of-archive marker. `buildTar` assembles a whole archive in memory (tests, small archives).
import { BLOCK, encodeHeader, newHeader, paddingFor, type TarHeader } from './header.ts';

/** Two zero blocks terminate a tar archive. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

export function padding(size: number): Buffer {
  return Buffer.alloc(paddingFor(size));
}

export interface TarInput extends Partial<TarHeader> {
  name: string;
  type: TarHeader['type'];
  data?: Buffer;
}

/** A complete tar archive from a list of entries; `size` follows `data` for regular files. */
export function buildTar(entries: TarInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const { data, ...fields } of entries) {
    const header = newHeader({ ...fields, size: data?.length ?? 0 });
    parts.push(encodeHeader(header));
    if (data && data.length > 0) parts.push(data, padding(data.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

export { encodeHeader };
