// Distributions of many rows without holding the rows. SQLite groups the values of each group
// into runs (value, how many), sorted; the hub walks those runs as they stream out of the
// statement and keeps one group's runs at a time. Startup and timeline durations are whole
// seconds (Kubernetes timestamps), so a group has a few hundred runs however many pods it counts;
// SQLite's sorter does the grouping in bounded memory (it spills to temporary files).
//
// Quantiles are nearest rank, as the API has always answered: for n sorted values v[1..n], q is
// v[clamp(ceil(q·n), 1, n)]; p50 of an even count is the lower middle value.
import type { StatementSync } from 'node:sqlite';

import type { DistT } from './api-schemas.ts';

/** One run of a group: `c` rows whose value is `v` (NULL: rows without a value). */
export interface RunRow {
  v: number | null;
  c: number;
}

/**
 * SQL for the runs of `source` (a SELECT with the columns `keys` and a numeric `v`): rows of
 * `keys..., v, c` sorted by the keys then v (NULL first). `extra` aggregates (e.g.
 * `max(basis) AS basis`) are computed per run.
 */
export function runsSql(
  source: string,
  keys: readonly string[],
  extra: readonly string[] = [],
): string {
  const groups = [...keys, 'v'].join(', ');
  return `SELECT ${[...keys, 'v', 'count(*) AS c', ...extra].join(', ')}
    FROM (${source}) GROUP BY ${groups} ORDER BY ${groups}`;
}

export interface GroupDistribution<E> {
  /** Rows of the group, those without a value included. */
  rows: number;
  /** Distribution of the values; null when no row has one. */
  dist: DistT | null;
  /** Sum of the values (run by run, value × count). */
  sum: number;
  /** What `summarise` made of the group's runs. */
  extra: E;
}

/**
 * Runs a runsSql statement and returns each group's distribution by `keyOf(row)`. Only one
 * group's runs are held at a time; `summarise` may fold them (e.g. the extra columns) before they
 * are dropped.
 */
export function distributions<R extends RunRow, E = undefined>(
  statement: StatementSync,
  params: readonly (number | string)[],
  keyOf: (row: R) => string,
  summarise?: (runs: readonly R[]) => E,
): Map<string, GroupDistribution<E>> {
  const out = new Map<string, GroupDistribution<E>>();
  let key: string | undefined;
  let runs: R[] = [];
  const flush = () => {
    if (key !== undefined) {
      out.set(key, { ...fromRuns(runs), extra: summarise?.(runs) as E });
    }
    runs = [];
  };
  for (const row of statement.iterate(...params) as Iterable<R>) {
    const k = keyOf(row);
    if (k !== key) {
      flush();
      key = k;
    }
    runs.push(row);
  }
  flush();
  return out;
}

function fromRuns(all: readonly RunRow[]): { rows: number; dist: DistT | null; sum: number } {
  const runs = all.filter((r): r is { v: number; c: number } => r.v !== null);
  let rows = 0;
  let n = 0;
  let sum = 0;
  for (const run of all) rows += run.c;
  for (const run of runs) {
    n += run.c;
    sum += run.v * run.c;
  }
  if (n === 0) return { rows, dist: null, sum };
  const at = (q: number): number => {
    const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
    let seen = 0;
    for (const run of runs) {
      seen += run.c;
      if (seen >= rank) return run.v;
    }
    return runs[runs.length - 1].v;
  };
  return {
    rows,
    dist: {
      count: n,
      min: runs[0].v,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: runs[runs.length - 1].v,
    },
    sum,
  };
}
