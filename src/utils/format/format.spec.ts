import {
  formatBytes,
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
