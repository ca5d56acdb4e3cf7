import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src-engine/logger.ts';
import { UPDATE_INTERVAL_MS, startUpdates, updateSource, type UpdaterPort } from '../../src-main/updater.ts';

const log = createLogger('main', { level: 'silent' });

/** electron-updater's side: counts checks, lets a test finish a download; timers run by hand. */
function world(opts: { answers?: boolean[]; failChecks?: boolean } = {}) {
  let downloaded: ((version: string) => void) | undefined;
  const intervals: { fn: () => void; ms: number }[] = [];
  const state = { checks: 0, installs: 0, asked: [] as string[], pending: [] as (() => void)[] };
  const port: UpdaterPort = {
    check: () => {
      state.checks++;
      return new Promise((resolve, reject) =>
        state.pending.push(() => (opts.failChecks ? reject(new Error('offline')) : resolve(null))),
      );
    },
    onDownloaded: (fn) => void (downloaded = fn),
    install: () => void state.installs++,
  };
  const answers = [...(opts.answers ?? [])];
  const updates = startUpdates({
    port,
    ask: async (v) => {
      state.asked.push(v);
      return answers.shift() ?? false;
    },
    log,
    timers: {
      setInterval: (fn, ms) => intervals.push({ fn, ms }),
      clearInterval: () => void intervals.splice(0),
    },
  });
  const settle = async () => {
    for (const p of state.pending.splice(0)) p();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { state, updates, intervals, settle, download: (v: string) => downloaded!(v) };
}

describe('update policy', () => {
  it('checks at start and every 6 hours, one check at a time', async () => {
    const w = world();
    expect(w.state.checks).toBe(1);
    expect(w.intervals.map((i) => i.ms)).toEqual([UPDATE_INTERVAL_MS]);
    w.intervals[0]!.fn(); // the 6 h tick comes while the first check still runs
    expect(w.state.checks).toBe(1);
    await w.settle();
    w.intervals[0]!.fn();
    expect(w.state.checks).toBe(2);
    w.updates.stop();
    expect(w.intervals).toEqual([]);
  });

  it('keeps going after a failed check', async () => {
    const w = world({ failChecks: true });
    await w.settle();
    const second = w.updates.check();
    await w.settle();
    await second;
    expect(w.state.checks).toBe(2);
  });

  it('asks once per downloaded version and restarts only when the user says so', async () => {
    const w = world({ answers: [false, true] });
    w.download('1.2.0');
    w.download('1.2.0');
    await w.settle();
    expect(w.state.asked).toEqual(['1.2.0']);
    expect(w.state.installs).toBe(0);
    w.download('1.3.0');
    await w.settle();
    expect(w.state.asked).toEqual(['1.2.0', '1.3.0']);
    expect(w.state.installs).toBe(1);
  });
});

describe('update source', () => {
  it('takes an https (or loopback) generic feed from AGENCIA_UPDATE_URL', () => {
    expect(updateSource({ AGENCIA_UPDATE_URL: 'https://updates.example/desk/' }, true, '/d.yml')).toEqual({
      kind: 'feed',
      url: 'https://updates.example/desk/',
    });
    expect(updateSource({ AGENCIA_UPDATE_URL: 'http://127.0.0.1:8765/' }, false, '/d.yml').kind).toBe('feed');
    expect(updateSource({ AGENCIA_UPDATE_URL: 'http://updates.example/' }, true, '/d.yml').kind).toBe('off');
  });

  it('uses the packaged app-update.yml, or dev-app-update.yml only when asked', () => {
    expect(updateSource({}, true, '/d.yml')).toEqual({ kind: 'packaged' });
    expect(updateSource({ AGENCIA_DEV_UPDATES: '1' }, false, '/d.yml')).toEqual({
      kind: 'dev',
      configPath: '/d.yml',
    });
    expect(updateSource({}, false, '/d.yml').kind).toBe('off');
  });
});
