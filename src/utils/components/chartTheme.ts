// Chart colours as PatternFly tokens (never literal colours) so charts follow the dark theme.
// Chart tokens come from PatternFly's chart stylesheet, which the console loads; the global
// non-status colours are the fallback.
const token = (chart: string, global: string) => `var(${chart}, var(${global}))`;

export const CHART_COLORS = {
  lazy: token('--pf-t--chart--color--blue--300', '--pf-t--global--color--nonstatus--blue--default'),
  normal: token(
    '--pf-t--chart--color--orange--300',
    '--pf-t--global--color--nonstatus--orange--default',
  ),
  prefetch: token(
    '--pf-t--chart--color--green--300',
    '--pf-t--global--color--nonstatus--green--default',
  ),
  background: token(
    '--pf-t--chart--color--purple--300',
    '--pf-t--global--color--nonstatus--purple--default',
  ),
  p95: token('--pf-t--chart--color--teal--300', '--pf-t--global--color--nonstatus--teal--default'),
  p99: token('--pf-t--chart--color--red--300', '--pf-t--global--color--nonstatus--red--default'),
  axis: 'var(--pf-t--global--text--color--subtle)',
  grid: 'var(--pf-t--global--border--color--default)',
} as const;

export const AXIS_TICK = { fill: CHART_COLORS.axis, fontSize: 12 };
