import { describe, expect, it } from 'vitest';
import type { AgentRun } from '../../src-engine/contracts/agents.ts';
import { es } from '../../src-renderer/src/i18n/es.ts';
import { logLine, runLogLines, useRuns } from '../../src-renderer/src/state/agent-runs.tsx';

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

  it('writes a line per change of state, and the outcome once the run ends', () => {
    expect(runLogLines(es, run({ status: 'queued' }), run({ status: 'queued' }))).toEqual([]);
    const running = runLogLines(
      es,
      run({}),
      run({ status: 'running', startedAt: Date.UTC(2026, 10, 20, 12, 0, 5) }),
    );
    expect(running).toHaveLength(1);
    expect(running[0]).toContain('[12:00:05]');
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
