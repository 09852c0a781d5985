// Number, byte, duration and date formatting with Intl for the user's language. Console 4.22 removed
// its i18next formatters (number, fromNow, dateTime), so plugins format these themselves.

const number = (locale: string, options: Intl.NumberFormatOptions) =>
  new Intl.NumberFormat(locale, options);

export const formatNumber = (value: number, locale: string, maximumFractionDigits = 0): string =>
  number(locale, { maximumFractionDigits }).format(value);

export const formatPercent = (ratio: number, locale: string): string =>
  number(locale, { style: 'percent', maximumFractionDigits: 1 }).format(ratio);

const unit = (value: number, unitName: string, locale: string, digits: number) =>
  number(locale, {
    style: 'unit',
    unit: unitName,
    unitDisplay: 'short',
    maximumFractionDigits: digits,
  }).format(value);

/**
 * 0.35 → "350 ms", 12.34 → "12.3 sec", 125 → "2 min 5 sec", 7322 → "2 hr 2 min", 266400 → "3 days
 * 2 hr". Each unit is chosen after rounding, so 59.97 s is "1 min", never "60 sec", and 119.6 s is
 * "2 min".
 */
export const formatDuration = (seconds: number, locale: string): string => {
  const sign = seconds < 0 ? '-' : '';
  const s = Math.abs(seconds);
  const ms = Math.round(s * 1000);
  if (ms < 1000) return sign + unit(ms, 'millisecond', locale, 0);
  const digits = s < 10 ? 2 : 1;
  if (Number(s.toFixed(digits)) < 60) return sign + unit(s, 'second', locale, digits);
  const whole = Math.round(s);
  if (whole < 3600) {
    const parts = [unit(Math.floor(whole / 60), 'minute', locale, 0)];
    if (whole % 60 > 0) parts.push(unit(whole % 60, 'second', locale, 0));
    return sign + parts.join(' ');
  }
  const minutes = Math.round(s / 60);
  if (minutes < 24 * 60) {
    const parts = [unit(Math.floor(minutes / 60), 'hour', locale, 0)];
    if (minutes % 60 > 0) parts.push(unit(minutes % 60, 'minute', locale, 0));
    return sign + parts.join(' ');
  }
  const hours = Math.round(s / 3600);
  const parts = [unit(Math.floor(hours / 24), 'day', locale, 0)];
  if (hours % 24 > 0) parts.push(unit(hours % 24, 'hour', locale, 0));
  return sign + parts.join(' ');
};

const BYTE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte', 'petabyte'] as const;

/** Decimal (SI) units, the ones Intl can name in every language: 1 500 000 → "1.5 MB". */
export const formatBytes = (bytes: number, locale: string): string => {
  let value = Math.abs(bytes);
  let index = 0;
  while (value >= 1000 && index < BYTE_UNITS.length - 1) {
    value /= 1000;
    index += 1;
  }
  return unit(Math.sign(bytes) * value, BYTE_UNITS[index], locale, value < 10 && index > 0 ? 1 : 0);
};

const RATE_UNITS = [
  'byte-per-second',
  'kilobyte-per-second',
  'megabyte-per-second',
  'gigabyte-per-second',
] as const;

/** One unit (B/s … GB/s, decimal) and precision for a whole chart's values. */
export type RateScale = { unit: (typeof RATE_UNITS)[number]; divisor: number; digits: number };

/**
 * The unit that suits the largest value, so a series peaking at 1 234 B/s reads "1.23 kB/s" and
 * not "0 MB/s"; with enough decimals that an axis's ticks (a quarter of the peak or more apart, as
 * recharts spaces them) never print the same.
 */
export const byteRateScale = (values: readonly number[]): RateScale => {
  const peak = Math.max(0, ...values.map((v) => Math.abs(v)).filter(Number.isFinite));
  let index = 0;
  while (peak >= 1000 ** (index + 1) && index < RATE_UNITS.length - 1) index += 1;
  const divisor = 1000 ** index;
  const scaled = peak / divisor;
  const digits = index === 0 && scaled >= 10 ? 0 : scaled >= 100 ? 0 : scaled >= 10 ? 1 : 2;
  return { unit: RATE_UNITS[index], divisor, digits };
};

/** Bytes per second in the scale's unit, or in the unit that suits the value itself. */
export const formatBytesPerSecond = (
  bytesPerSecond: number,
  locale: string,
  scale: RateScale = byteRateScale([bytesPerSecond]),
): string => unit(bytesPerSecond / scale.divisor, scale.unit, locale, scale.digits);

export const formatDateTime = (iso: string, locale: string): string =>
  new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' }).format(
    new Date(iso),
  );

export const formatTime = (iso: string, locale: string): string =>
  new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));

const DAY_MS = 86_400_000;

/**
 * A time on a chart axis spanning `spanMs`: the time of day within a day, the date and time up to
 * a week, and the date alone beyond (a 30-day axis of hours would repeat each hour every day).
 */
export const formatAxisTime = (iso: string, locale: string, spanMs: number): string => {
  const options: Intl.DateTimeFormatOptions =
    spanMs <= DAY_MS
      ? { hour: '2-digit', minute: '2-digit' }
      : spanMs <= 7 * DAY_MS
        ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
        : { month: 'short', day: 'numeric' };
  return new Intl.DateTimeFormat(locale, options).format(new Date(iso));
};

/** A chart tooltip's time: with the date whenever the chart spans more than a day. */
export const formatTooltipTime = (iso: string, locale: string, spanMs: number): string =>
  spanMs <= DAY_MS
    ? formatTime(iso, locale)
    : new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(
        new Date(iso),
      );

/** "3 minutes ago" relative to `now`, in the largest unit that fits. */
export const formatRelativeTime = (iso: string, locale: string, now = Date.now()): string => {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return format.format(seconds, 'second');
  if (abs < 3600) return format.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return format.format(Math.round(seconds / 3600), 'hour');
  return format.format(Math.round(seconds / 86400), 'day');
};
