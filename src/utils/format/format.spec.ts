import {
  byteRateScale,
  formatAxisTime,
  formatBytes,
  formatBytesPerSecond,
  formatDateTime,
  formatDuration,
  formatNumber,
  formatPercent,
  formatRelativeTime,
} from './format';

// Intl output contains narrow no-break spaces in some locales; compare with plain spaces.
const plain = (s: string) => s.replace(/[\u00a0\u202f]/g, ' ');

describe('formatDuration', () => {
  it.each([
    [0.35, '350 ms'],
    [1.234, '1.23 sec'],
    [12.34, '12.3 sec'],
    [125, '2 min 5 sec'],
    [120, '2 min'],
    [7322, '2 hr 2 min'],
    [-3.5, '-3.5 sec'],
    // Rounding never shows 60 of a unit: it carries into the next one.
    [0.9996, '1 sec'],
    [59.97, '1 min'],
    [119.6, '2 min'],
    [3599.7, '1 hr'],
    [7199.9, '2 hr'],
    // Beyond a day: days and hours, not "72 hr".
    [86400 * 3, '3 days'],
    [86400 * 3 + 7200, '3 days 2 hr'],
    [86400 - 1, '1 day'],
  ])('formats %d s in English as %s', (seconds, expected) => {
    expect(plain(formatDuration(seconds, 'en'))).toBe(expected);
  });

  it('uses the language of the user', () => {
    expect(plain(formatDuration(12.34, 'fr'))).toBe('12,3 s');
    expect(formatDuration(12.34, 'ja')).toBe('12.3 秒');
  });
});

describe('formatBytes', () => {
  it.each([
    [512, '512 byte'],
    [1_500_000, '1.5 MB'],
    [23_400_000_000, '23 GB'],
  ])('formats %d as %s', (bytes, expected) => {
    expect(plain(formatBytes(bytes, 'en'))).toBe(expected);
  });

  it('uses the decimal separator of the language', () => {
    expect(plain(formatBytes(1_500_000, 'de'))).toBe('1,5 MB');
  });
});

describe('formatBytesPerSecond', () => {
  it('chooses the unit from the data, so small rates do not read "0 MB/s"', () => {
    expect(plain(formatBytesPerSecond(1234, 'en'))).toBe('1.23 kB/s');
    expect(plain(formatBytesPerSecond(512, 'en'))).toBe('512 byte/s');
    expect(plain(formatBytesPerSecond(2_500_000_000, 'en'))).toBe('2.5 GB/s');
  });

  it('gives an axis distinct ticks in one unit', () => {
    // recharts' ticks for a series peaking at 1 234 B/s.
    const ticks = [0, 300, 600, 900, 1200];
    const scale = byteRateScale([0, 1234, 800]);
    expect(scale.unit).toBe('kilobyte-per-second');
    const labels = ticks.map((v) => plain(formatBytesPerSecond(v, 'en', scale)));
    expect(labels).toEqual(['0 kB/s', '0.3 kB/s', '0.6 kB/s', '0.9 kB/s', '1.2 kB/s']);
    expect(new Set(labels).size).toBe(ticks.length);
    const mb = byteRateScale([0, 45_000_000]);
    const mbLabels = [0, 12.5e6, 25e6, 37.5e6, 50e6].map((v) => formatBytesPerSecond(v, 'en', mb));
    expect(new Set(mbLabels).size).toBe(5);
  });
});

describe('formatAxisTime', () => {
  const iso = '2026-11-22T08:20:00Z';
  const DAY = 86_400_000;

  it('shows the time within a day, and the date beyond', () => {
    expect(formatAxisTime(iso, 'en', DAY)).not.toMatch(/Nov/);
    expect(formatAxisTime(iso, 'en', 7 * DAY)).toMatch(/Nov 22/);
    expect(formatAxisTime(iso, 'en', 7 * DAY)).toMatch(/\d{2}:\d{2}/);
    expect(formatAxisTime(iso, 'en', 30 * DAY)).toBe('Nov 22');
  });

  it('keeps the days of a 30-day axis apart', () => {
    const days = [0, 1, 2].map((d) => new Date(Date.parse(iso) + d * DAY).toISOString());
    expect(new Set(days.map((d) => formatAxisTime(d, 'en', 30 * DAY))).size).toBe(3);
  });
});

describe('numbers, percentages and dates', () => {
  it('formats with the locale', () => {
    expect(formatNumber(1234567, 'en')).toBe('1,234,567');
    expect(plain(formatNumber(1234567, 'fr'))).toBe('1 234 567');
    expect(formatPercent(0.873, 'en')).toBe('87.3%');
    expect(plain(formatDateTime('2026-11-22T07:31:09Z', 'en'))).toMatch(/Nov 22, 2026/);
    expect(formatDateTime('2026-11-22T07:31:09Z', 'ja')).toMatch(/2026\/11\/22/);
  });

  it('formats relative times', () => {
    const now = Date.parse('2026-11-22T08:00:00Z');
    expect(formatRelativeTime('2026-11-22T07:57:00Z', 'en', now)).toBe('3 minutes ago');
    expect(formatRelativeTime('2026-11-22T07:59:50Z', 'en', now)).toBe('10 seconds ago');
    expect(formatRelativeTime('2026-11-20T08:00:00Z', 'es', now)).toBe('anteayer');
  });
});
