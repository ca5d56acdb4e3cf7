// Small helpers every bench shares: settings from the environment, medians, tables, clean exits.

export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export const fmtRate = (x: number) => Math.round(x).toLocaleString('en-US');
export const fmtRatio = (x: number) => `${x.toFixed(2)}x`;

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r, i) => {
      const cells = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)));
      const text = cells.join('   ');
      return i === 0 ? `${text}\n${'-'.repeat(text.length)}` : text;
    })
    .join('\n');
}

/** Runs `body`, then `cleanup` once: at the end, on error, or on Ctrl-C / SIGTERM (exit 130). */
export async function withCleanup(cleanup: () => Promise<void>, body: () => Promise<void>): Promise<void> {
  let cleaned: Promise<void> | undefined;
  const once = () => (cleaned ??= cleanup());
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: cleaning up`);
    void once().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await body();
  } finally {
    // Handlers stay on until cleanup is done: a signal meanwhile waits for it instead of cutting it short.
    await once();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
