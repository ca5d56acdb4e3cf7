/**
 * Renderer bench, in headless Debian Chromium:
 *
 * 1. The agent terminal (TerminalBuffer + TerminalView, the real components) fed 10,000 ANSI-coloured
 *    lines/s for 10 s: main-thread long tasks (target: none over 100 ms), JS heap (target < 150 MB),
 *    frames painted, and whether every line within the scrollback bound is present and in order.
 * 2. First paint of the panel served by a real engine (`static-ui`): first contentful paint and the
 *    time until the panel shows the org's credit (target < 1 s), median of BENCH_PAINT_RUNS loads.
 *
 *   npm run bench -- renderer
 *   bash scripts/with-node22.sh node --import tsx bench/renderer.ts
 *
 * Environment: BENCH_TERMINAL_RATE (lines/s, default 10000), BENCH_TERMINAL_SECONDS (default 10),
 * BENCH_PAINT_RUNS (default 5). A report: exits 0 when it ran to the end, even if a target is missed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';
import { asProduction, buildRenderer, launchChromium, startUiEngine } from '../test/e2e/ui-world.ts';
import { intEnv } from './support.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MB = 1024 * 1024;
const HARNESS_ORIGIN = 'http://terminal-bench.localhost';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');

/** A page with only the terminal, built from the real components; it exposes `window.bench`. */
function harnessSource(): { html: string; main: string } {
  const src = (p: string) => JSON.stringify(join(ROOT, 'src-renderer/src', p));
  return {
    html: `<!doctype html><html><head><meta charset="UTF-8" />
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'self'" />
</head><body><div id="root"></div><script type="module" src="./main.tsx"></script></body></html>`,
    main: `
import { createRoot } from 'react-dom/client';
import { TerminalBuffer } from ${src('components/terminal/terminal-buffer.ts')};
import { TerminalView } from ${src('components/terminal/terminal-view.tsx')};
import ${src('styles.css')};

const buffer = new TerminalBuffer();
const longTasks: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) longTasks.push(e.duration);
}).observe({ type: 'longtask', buffered: true });

const line = (n: number) =>
  '\\x1b[90m[' + new Date().toISOString().slice(11, 23) + ']\\x1b[0m \\x1b[36mstep ' + (n % 100) +
  '\\x1b[0m \\x1b[' + (31 + (n % 7)) + 'mtool_call\\x1b[0m read_file result line #' + n +
  ' lorem ipsum dolor sit amet, consectetur adipiscing elit';

Object.assign(window, {
  bench: {
    capacity: buffer.capacity,
    run(rate: number, seconds: number) {
      return new Promise((resolve) => {
        const total = rate * seconds;
        const start = performance.now();
        let written = 0;
        let frames = 0;
        let done = false;
        const frame = () => { frames++; if (!done) requestAnimationFrame(frame); };
        requestAnimationFrame(frame);
        // Each tick writes what is due by now: the rate holds even when timers drift.
        const id = setInterval(() => {
          const due = Math.min(total, Math.floor((rate * (performance.now() - start)) / 1000));
          const lines: string[] = [];
          for (; written < due; written++) lines.push(line(written));
          buffer.writeLines(lines);
          if (written < total) return;
          clearInterval(id);
          const elapsedMs = performance.now() - start;
          setTimeout(() => { done = true; resolve({ written, elapsedMs, frames, longTasks }); }, 300);
        }, 5);
      });
    },
    check() {
      let missing = 0;
      for (let i = 0; i < buffer.length; i++) {
        const m = /#(\\d+) /.exec(buffer.line(i)!.text);
        if (!m || Number(m[1]) !== buffer.dropped + i) missing++;
      }
      const rows = document.querySelectorAll('.term-row');
      return {
        length: buffer.length,
        dropped: buffer.dropped,
        missing,
        domRows: rows.length,
        lastDomRow: rows[rows.length - 1]?.textContent ?? '',
      };
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <div className="terminal-pane" style={{ height: 640 }}>
    <TerminalView buffer={buffer} />
  </div>,
);
`,
  };
}

async function buildHarness(dir: string): Promise<void> {
  const { html, main } = harnessSource();
  writeFileSync(join(dir, 'index.html'), html);
  writeFileSync(join(dir, 'main.tsx'), main);
  await asProduction(() =>
    build({
      configFile: false,
      root: dir,
      base: './',
      logLevel: 'warn',
      build: { outDir: join(dir, 'dist'), emptyOutDir: true, reportCompressedSize: false },
    }),
  );
}

interface RunResult {
  written: number;
  elapsedMs: number;
  frames: number;
  longTasks: number[];
}
interface CheckResult {
  length: number;
  dropped: number;
  missing: number;
  domRows: number;
  lastDomRow: string;
}

async function terminalBench(work: string): Promise<void> {
  const rate = intEnv('BENCH_TERMINAL_RATE', 10_000);
  const seconds = intEnv('BENCH_TERMINAL_SECONDS', 10);
  const dir = join(work, 'terminal');
  mkdirSync(dir);
  await buildHarness(dir);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    // Module scripts do not load from file:// in a browser: serve the build from a made-up origin.
    await page.route(`${HARNESS_ORIGIN}/**`, (route) =>
      route.fulfill({ path: join(dir, 'dist', new URL(route.request().url()).pathname) }),
    );
    await page.goto(`${HARNESS_ORIGIN}/index.html`);
    await page.waitForFunction(() => 'bench' in window);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const heapUsed = async () => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? NaN;
    };
    const baseline = await heapUsed();
    let peak = baseline;
    const sampler = setInterval(() => {
      heapUsed().then(
        (h) => (peak = Math.max(peak, h)),
        () => {},
      );
    }, 250);
    const run = (await page.evaluate(
      ([r, s]) =>
        (window as unknown as { bench: { run(r: number, s: number): Promise<unknown> } }).bench.run(r!, s!),
      [rate, seconds],
    )) as RunResult;
    clearInterval(sampler);
    peak = Math.max(peak, await heapUsed());
    await cdp.send('HeapProfiler.collectGarbage');
    const afterGc = await heapUsed();
    const check = (await page.evaluate(() =>
      (window as unknown as { bench: { check(): unknown } }).bench.check(),
    )) as CheckResult;
    const capacity = (await page.evaluate(
      () => (window as unknown as { bench: { capacity: number } }).bench.capacity,
    )) as number;

    const over100 = run.longTasks.filter((d) => d > 100);
    const maxTask = run.longTasks.length ? Math.max(...run.longTasks) : 0;
    const expectedLength = Math.min(run.written, capacity);
    const linesOk =
      check.length === expectedLength &&
      check.missing === 0 &&
      check.dropped === run.written - expectedLength;
    const lastOk = check.lastDomRow.includes(`#${run.written - 1} `);
    const actualRate = Math.round(run.written / (run.elapsedMs / 1000));
    console.log(
      `terminal: ${run.written.toLocaleString('en')} lines in ${(run.elapsedMs / 1000).toFixed(1)} s (${actualRate.toLocaleString('en')} lines/s, target ${rate.toLocaleString('en')})`,
    );
    console.log('| figure                           | measured          | target          | verdict |');
    console.log('| -------------------------------- | ----------------- | --------------- | ------- |');
    const row = (a: string, b: string, c: string, ok: boolean) =>
      console.log(`| ${a.padEnd(32)} | ${b.padEnd(17)} | ${c.padEnd(15)} | ${verdict(ok).padEnd(7)} |`);
    row('long tasks > 100 ms', `${over100.length} (max ${maxTask.toFixed(0)} ms)`, '0', over100.length === 0);
    row('long tasks > 50 ms (all)', String(run.longTasks.length), '(info)', true);
    row('JS heap peak', `${(peak / MB).toFixed(1)} MB`, '< 150 MB', peak < 150 * MB);
    row('JS heap after GC', `${(afterGc / MB).toFixed(1)} MB`, '(info)', true);
    row('JS heap before the run', `${(baseline / MB).toFixed(1)} MB`, '(info)', true);
    row(
      'frames painted',
      `${run.frames} (${(run.frames / (run.elapsedMs / 1000)).toFixed(0)}/s)`,
      '(info)',
      true,
    );
    row(
      'lines kept (scrollback bound)',
      `${check.length.toLocaleString('en')} / ${capacity.toLocaleString('en')}`,
      'all, in order',
      linesOk,
    );
    row('lines missing or out of order', String(check.missing), '0', check.missing === 0);
    row('rows in the DOM', String(check.domRows), '(virtualised)', check.domRows < 200);
    row('last line on screen (follow)', lastOk ? 'yes' : 'no', 'yes', lastOk);
  } finally {
    await browser.close();
  }
}

async function paintBench(): Promise<void> {
  const runs = intEnv('BENCH_PAINT_RUNS', 5);
  const rendererDir = await buildRenderer();
  const ui = await startUiEngine(rendererDir);
  const browser = await launchChromium();
  try {
    const fcp: number[] = [];
    const panel: number[] = [];
    for (let i = 0; i < runs; i++) {
      // A fresh context each time: nothing cached, like the first load of the printed address.
      const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
      const page = await context.newPage();
      await page.addInitScript(() => {
        // When the credit (the panel's first data) is on screen, relative to navigation start.
        new MutationObserver((_m, observer) => {
          if (document.querySelector('[data-kpi="available"] .kpi-value')) {
            (window as unknown as { panelAt: number }).panelAt = performance.now();
            observer.disconnect();
          }
        }).observe(document, { childList: true, subtree: true });
      });
      await page.goto(`${ui.base}/?token=${ui.token}`);
      await page.waitForFunction(() => 'panelAt' in window, undefined, { timeout: 10_000 });
      const t = await page.evaluate(() => ({
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
        panel: (window as unknown as { panelAt: number }).panelAt,
      }));
      fcp.push(t.fcp);
      panel.push(t.panel);
      await context.close();
    }
    console.log(`\npanel first paint against a running engine (median of ${runs} cold loads):`);
    console.log(
      `  first contentful paint: ${median(fcp).toFixed(0)} ms (runs: ${fcp.map((x) => x.toFixed(0)).join(', ')})`,
    );
    console.log(
      `  panel with the credit:  ${median(panel).toFixed(0)} ms (runs: ${panel.map((x) => x.toFixed(0)).join(', ')})  target < 1000 ms: ${verdict(median(panel) < 1000)}`,
    );
  } finally {
    await browser.close();
    await ui.close();
    rmSync(rendererDir, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  // Inside the repository, so the generated harness resolves react and friends from node_modules.
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const work = mkdtempSync(join(ROOT, 'bench/results/renderer-'));
  try {
    await terminalBench(work);
    await paintBench();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
