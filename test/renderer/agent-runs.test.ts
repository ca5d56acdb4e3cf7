import { describe, expect, it } from 'vitest';
import type { AgentRun } from '../../src-engine/contracts/agents.ts';
import { formatClock } from '../../src-renderer/src/format.ts';
import { es } from '../../src-renderer/src/i18n/es.ts';
import { EARLY_RUNS_MAX, logLine, runLogLines, useRuns } from '../../src-renderer/src/state/agent-runs.tsx';

const text = (id: string) => {
  const entry = useRuns.getState().runs.find((r) => r.id === id)!;
  return entry.buffer.text();
};

const run = (over: Partial<AgentRun>): AgentRun => ({
  id: 'r1',
  orgId: 'o',
  status: 'queued',
  prompt: 'p',
  model: null,
  maxSteps: 10,
  timeoutS: 600,
  reservationId: null,
  jobId: 'r1',
  output: null,
  error: null,
  stepsUsed: null,
  tokensIn: null,
  tokensOut: null,
  createdAt: Date.UTC(2026, 10, 20, 12, 0, 0),
  startedAt: null,
  finishedAt: null,
  ...over,
});

describe('agent runs in the UI', () => {
  it('keeps log lines that arrive before the run is listed, and skips repeats', () => {
    const { log, add } = useRuns.getState();
    log('early', 1, logLine('llm', 'first'));
    log('early', 2, logLine('tool', 'second'));
    add('early', 'task', ['intro']);
    log('early', 2, logLine('tool', 'second'));
    log('early', 3, logLine('runner', 'third'));
    expect(text('early')).toBe('intro\nllm    first\ntool   second\nrunner third');
    expect(useRuns.getState().selected).toBe('early');
    expect(useRuns.getState().early.size).toBe(0);
  });

  it('holds early lines of a bounded number of runs: runs started elsewhere never fill the memory', () => {
    const { log, open, early } = useRuns.getState();
    for (let r = 0; r < EARLY_RUNS_MAX + 50; r++) {
      for (let seq = 1; seq <= 3; seq++) log(`api-run-${r}`, seq, logLine('llm', `line ${seq}`));
    }
    expect(early.size).toBe(EARLY_RUNS_MAX);
    // The newest are kept (a run just started here is among them).
    expect(early.get(`api-run-${EARLY_RUNS_MAX + 49}`)).toHaveLength(3);
    expect(early.has('api-run-0')).toBe(false);
    // Opening a run from the list reads its stored log: its held lines are let go.
    open(run({ id: `api-run-${EARLY_RUNS_MAX + 49}` }), ['intro']);
    expect(early.has(`api-run-${EARLY_RUNS_MAX + 49}`)).toBe(false);
    early.clear();
  });

  it('writes a line per change of state, and the outcome once the run ends', () => {
    expect(runLogLines(es, run({ status: 'queued' }), run({ status: 'queued' }))).toEqual([]);
    const running = runLogLines(
      es,
      run({}),
      run({ status: 'running', startedAt: Date.UTC(2026, 10, 20, 12, 0, 5) }),
    );
    expect(running).toHaveLength(1);
    // The user's clock, not UTC (formatClock's own test pins the zone).
    expect(running[0]).toContain(`[${formatClock(Date.UTC(2026, 10, 20, 12, 0, 5))}]`);
    expect(running[0]).toContain('Estado: en marcha');
    const done = runLogLines(
      es,
      run({ status: 'running' }),
      run({ status: 'error', error: 'timeout talking to Ollama', stepsUsed: 3, tokensIn: 10, tokensOut: 20 }),
    );
    expect(done.join('\n')).toContain('Error:');
    expect(done.join('\n')).toContain('Pasos usados: 3');
    expect(done.join('\n')).toContain('Tokens: 10 de entrada, 20 de salida');
  });
});

describe('reading a run back from its stored log', () => {
  /** The engine's paging (`agents:logs`): `size` lines after `afterSeq`, and where to go on. */
  const storedLog = (count: number, size: number) => {
    const lines = Array.from({ length: count }, (_, i) => ({
      runId: 'past',
      seq: i + 1,
      stream: 'runner' as const,
      text: `stored ${i + 1}`,
      ts: 0,
    }));
    const asked: number[] = [];
    const read = async (afterSeq: number) => {
      asked.push(afterSeq);
      const items = lines.filter((l) => l.seq > afterSeq).slice(0, size);
      const more = lines.some((l) => l.seq > (items.at(-1)?.seq ?? Infinity));
      return { items, nextSeq: more ? items.at(-1)!.seq : null };
    };
    return { read, asked };
  };

  it('pages through it in order, and live lines arriving meanwhile follow it, once each', async () => {
    const { open, catchUp, log } = useRuns.getState();
    open(run({ id: 'past', status: 'running' }), ['> task']);
    const { read, asked } = storedLog(5, 2);
    const slowRead = async (after: number) => {
      // Live lines while the replay is under way: one already stored, one new.
      if (after === 2) {
        log('past', 5, logLine('runner', 'stored 5'));
        log('past', 6, logLine('llm', 'live 6'));
      }
      return read(after);
    };
    await catchUp('past', slowRead);
    expect(asked).toEqual([0, 2, 4]);
    expect(text('past').split('\n')).toEqual([
      '> task',
      'runner stored 1',
      'runner stored 2',
      'runner stored 3',
      'runner stored 4',
      'runner stored 5',
      'llm    live 6',
    ]);
    log('past', 7, logLine('llm', 'live 7'));
    expect(text('past').split('\n').at(-1)).toBe('llm    live 7');
  });

  it('reads only what came after its last line, and stops on a page with nothing new', async () => {
    const { read, asked } = storedLog(7, 100);
    await useRuns.getState().catchUp('past', read);
    expect(asked).toEqual([7]);
    // An engine that ignored afterSeq would answer the first page again: no loop, no repeats.
    const stuck = async () => ({ items: (await read(0)).items.slice(0, 3), nextSeq: 3 });
    await useRuns.getState().catchUp('past', stuck);
    expect(text('past').match(/stored 1\n/g)).toHaveLength(1);
  });
});
