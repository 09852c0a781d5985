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
 * 0.35 → "350 ms", 12.34 → "12.3 sec", 125 → "2 min 5 sec", 7322 → "2 hr 2 min". Each unit is
 * chosen after rounding, so 59.97 s is "1 min", never "60 sec", and 119.6 s is "2 min".
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
  const parts = [unit(Math.floor(minutes / 60), 'hour', locale, 0)];
  if (minutes % 60 > 0) parts.push(unit(minutes % 60, 'minute', locale, 0));
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

export const formatBytesPerSecond = (bytes: number, locale: string): string => {
  const [amount, unitName] = [bytes / 1e6, 'megabyte-per-second'];
  return unit(amount, unitName, locale, amount < 10 ? 2 : 1);
};

export const formatDateTime = (iso: string, locale: string): string =>
  new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium' }).format(
    new Date(iso),
  );

export const formatTime = (iso: string, locale: string): string =>
  new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));

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
