// Chart colours as PatternFly tokens (never literal colours) so charts follow the dark theme.
// Chart tokens come from PatternFly's chart stylesheet, which the console loads; the saturated
// global brand/status colours are the fallback.
const token = (chart: string, global: string) => `var(${chart}, var(${global}))`;

export const CHART_COLORS = {
  lazy: token('--pf-t--chart--color--blue--300', '--pf-t--global--color--brand--default'),
  normal: token(
    '--pf-t--chart--color--orange--300',
    '--pf-t--global--color--status--warning--default',
  ),
  prefetch: token(
    '--pf-t--chart--color--green--300',
    '--pf-t--global--color--status--success--default',
  ),
  background: token(
    '--pf-t--chart--color--purple--300',
    '--pf-t--global--color--status--info--default',
  ),
  p95: token('--pf-t--chart--color--teal--300', '--pf-t--global--color--status--custom--default'),
  p99: token('--pf-t--chart--color--red--300', '--pf-t--global--color--status--danger--default'),
  axis: 'var(--pf-t--global--text--color--subtle)',
  grid: 'var(--pf-t--global--border--color--default)',
} as const;

export const AXIS_TICK = { fill: CHART_COLORS.axis, fontSize: 12 };

// recharts draws its tooltip white with a grey border and its bar hover cursor light grey; these
// props give them the theme's floating surface, border, text and hover colours instead.
export const TOOLTIP_PROPS = {
  contentStyle: {
    backgroundColor: 'var(--pf-t--global--background--color--floating--default)',
    borderColor: 'var(--pf-t--global--border--color--default)',
    color: 'var(--pf-t--global--text--color--regular)',
  },
  labelStyle: { color: 'var(--pf-t--global--text--color--regular)' },
} as const;

export const BAR_CURSOR = { fill: 'var(--pf-t--global--background--color--action--plain--hover)' };
