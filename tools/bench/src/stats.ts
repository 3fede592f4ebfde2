/** The q-quantile (0..1) of `values` by nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export const median = (values: readonly number[]) => quantile(values, 0.5);

/** Rounds for the table and the JSON: 3 significant decimals at most. */
export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
