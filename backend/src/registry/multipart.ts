// `multipart/byteranges` (RFC 9110 §14.6) parsing and Content-Range handling. Part payloads are
// binary, so a part is delimited by its own Content-Range length, never by searching for the
// boundary inside the data.

export interface ByteRange {
  start: number;
  /** Exclusive. */
  end: number;
}

export interface ContentRange extends ByteRange {
  /** Full size, or undefined for `*`. */
  total: number | undefined;
}

export interface RangePart extends ContentRange {
  data: Buffer;
}

/** Parses `bytes a-b/total` (b inclusive on the wire, exclusive here). */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]) + 1;
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (end <= start || (total !== undefined && end > total)) return undefined;
  return { start, end, total };
}

/** The boundary parameter of a `multipart/byteranges` content type, or undefined. */
export function byterangesBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/byteranges\s*;/i.test(contentType)) return undefined;
  const m = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/** Renders ranges for a Range header: `bytes=0-9,100-109`. */
export function rangeHeader(ranges: ByteRange[]): string {
  return `bytes=${ranges.map((r) => `${r.start}-${r.end - 1}`).join(',')}`;
}

export class MultipartError extends Error {}

/** Splits a multipart/byteranges body into its parts. Throws MultipartError when malformed. */
export function parseByteranges(body: Buffer, boundary: string): RangePart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: RangePart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new MultipartError('no boundary in multipart body');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return parts;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new MultipartError('truncated part headers');
    const headers = body.subarray(pos, headerEnd).toString('latin1').split('\r\n');
    const rangeLine = headers.find((h) => /^content-range\s*:/i.test(h));
    const range = parseContentRange(rangeLine?.slice(rangeLine.indexOf(':') + 1));
    if (!range) throw new MultipartError('part without a valid Content-Range');
    const dataStart = headerEnd + 4;
    const dataEnd = dataStart + (range.end - range.start);
    if (dataEnd > body.length) throw new MultipartError('truncated part data');
    parts.push({ ...range, data: body.subarray(dataStart, dataEnd) });
    const next = body.indexOf(delimiter, dataEnd);
    // Only CRLF may sit between a part's data and the next delimiter.
    if (next < 0 || body.subarray(dataEnd, next).toString('latin1').trim() !== '') {
      throw new MultipartError('part data longer than its Content-Range');
    }
    pos = next;
  }
}

/** Cuts each wanted range out of the parts that cover it; undefined if some range is missing. */
export function sliceRanges(
  parts: (ByteRange & { data: Buffer })[],
  wanted: ByteRange[],
): Buffer[] | undefined {
  const out: Buffer[] = [];
  for (const r of wanted) {
    const part = parts.find((p) => p.start <= r.start && p.end >= r.end);
    if (!part) return undefined;
    out.push(part.data.subarray(r.start - part.start, r.end - part.start));
  }
  return out;
}
