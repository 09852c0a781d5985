// How long a presigned redirect URL (S3, GCS, Azure, CloudFront) stays usable. Reusing it saves
// a registry round trip per read; using it past its expiry costs a failed request, so we stop a
// little early.

/** Reuse window for a redirect whose URL carries no expiry we understand (stargz uses 60 s). */
export const DEFAULT_REDIRECT_TTL_MS = 60_000;

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return Date.UTC(y, mo - 1, d, h, mi, se);
}

/** Absolute expiry time (ms since epoch) of a redirect URL fetched at `now`. */
export function redirectExpiry(url: URL, now = Date.now()): number {
  const q = new Map([...url.searchParams].map(([k, v]) => [k.toLowerCase(), v]));
  let expiry: number | undefined;
  const signedAt = parseAmzDate(q.get('x-amz-date') ?? q.get('x-goog-date') ?? '');
  const ttl = Number(q.get('x-amz-expires') ?? q.get('x-goog-expires'));
  if (signedAt !== undefined && Number.isFinite(ttl) && ttl > 0) expiry = signedAt + ttl * 1000;
  else if (q.has('expires') && /^\d+$/.test(q.get('expires')!))
    expiry = Number(q.get('expires')) * 1000;
  else if (q.has('se') && !Number.isNaN(Date.parse(q.get('se')!)))
    expiry = Date.parse(q.get('se')!);
  if (expiry === undefined) return now + DEFAULT_REDIRECT_TTL_MS;
  const margin = Math.min(30_000, (expiry - now) / 10);
  return expiry - Math.max(0, margin);
}
