import { useEffect, useRef } from 'react';
import { create } from 'zustand';
import type { AgentRun, AgentRunStatus } from '../../../src-engine/contracts/agents.ts';
import type { CageLogStream, RunLogPage } from '../../../src-engine/contracts/cage.ts';
import type { EngineEvent } from '../../../src-engine/contracts/events.ts';
import { useClient } from '../client/context.ts';
import type { EngineClient } from '../client/engine-client.ts';
import { TerminalBuffer } from '../components/terminal/terminal-buffer.ts';
import { formatClock } from '../format.ts';
import type { Dictionary } from '../i18n/es.ts';
import { useT } from '../i18n/index.ts';
import { useEngineEvents, useOperation } from './use-operation.ts';

export const FINISHED: ReadonlySet<AgentRunStatus> = new Set(['success', 'error', 'timeout', 'cancelled']);
const ESC = '\x1b[';
const STATUS_COLOUR: Record<AgentRunStatus, string> = {
  queued: '36',
  running: '33',
  success: '32',
  error: '31',
  timeout: '31',
  cancelled: '35',
};
const STREAM_COLOUR: Record<CageLogStream, string> = {
  runner: '32',
  tool: '33',
  llm: '36',
  stderr: '31',
  engine: '90',
};
/** Log lines of runs not yet in the list (a run may log before its start answer is back), per run. */
const EARLY_LINES_MAX = 1000;
/**
 * Runs whose early lines are held. Runs started elsewhere (CLI, HTTP API) log to this window too and
 * are never added: the oldest make room, so they cannot fill the window's memory.
 */
export const EARLY_RUNS_MAX = 16;
/** Stored log lines read back per request. */
const LOG_PAGE = 1000;
/** Polling is the fallback; the run's own events drive the updates. */
const RUN_POLL_MS = 5000;

/** The log lines a change of a run's state adds to its terminal (ANSI-coloured, translated). */
export function runLogLines(t: Dictionary, prev: AgentRun | undefined, next: AgentRun): string[] {
  if (prev?.status === next.status) return [];
  const time = formatClock(next.finishedAt ?? next.startedAt ?? next.createdAt);
  const lines = [
    `${ESC}90m[${time}]${ESC}0m ${ESC}${STATUS_COLOUR[next.status]}m${t.agents.log.status(t.agents.status[next.status])}${ESC}0m`,
  ];
  if (!FINISHED.has(next.status)) return lines;
  if (next.output) lines.push(`${ESC}1m${t.agents.log.output}${ESC}0m`, ...next.output.split('\n'));
  if (next.error) lines.push(`${ESC}1;31m${t.agents.log.error}${ESC}0m ${next.error}`);
  if (next.stepsUsed !== null) lines.push(`${ESC}2m${t.agents.log.steps(next.stepsUsed)}${ESC}0m`);
  if (next.tokensIn !== null && next.tokensOut !== null) {
    lines.push(`${ESC}2m${t.agents.log.tokens(next.tokensIn, next.tokensOut)}${ESC}0m`);
  }
  return lines;
}

/** One live log line as the terminal shows it: the stream it came from, tagged in its colour. */
export function logLine(stream: CageLogStream, text: string): string {
  return `${ESC}${STREAM_COLOUR[stream]}m${stream.padEnd(6)}${ESC}0m ${text}${ESC}0m`;
}

export interface RunEntry {
  id: string;
  prompt: string;
  run?: AgentRun;
  buffer: TerminalBuffer;
  /** The last log line written (events are numbered from 1): repeats are skipped. */
  lastSeq: number;
  /** While the stored log is read back, live lines wait here so the log stays in order. */
  held?: { seq: number; line: string }[];
}

/** One page of a run's stored log (`agents:logs`), read after `afterSeq`. */
export type LogPageReader = (afterSeq: number) => Promise<RunLogPage>;

interface RunsState {
  runs: RunEntry[];
  selected?: string;
  early: Map<string, { seq: number; line: string }[]>;
  add(id: string, prompt: string, intro: string[]): void;
  /** Selects a run, adding it (a past run, or one started elsewhere) with its stored state. */
  open(run: AgentRun, intro: string[]): RunEntry;
  select(id: string): void;
  update(id: string, run: AgentRun): void;
  log(runId: string, seq: number, line: string): void;
  /**
   * Writes the run's stored log after its last line (all of it for a run just opened, what was
   * missed after a reconnect), page by page; live lines arriving meanwhile follow in order.
   */
  catchUp(runId: string, read: LogPageReader): Promise<void>;
}

/** The runs started in this session, each with its terminal buffer (kept across screen changes). */
export const useRuns = create<RunsState>()((set, get) => ({
  runs: [],
  early: new Map(),
  add(id, prompt, intro) {
    const buffer = new TerminalBuffer();
    buffer.writeLines(intro);
    const entry: RunEntry = { id, prompt, buffer, lastSeq: 0 };
    for (const { seq, line } of get().early.get(id) ?? []) {
      buffer.writeLines([line]);
      entry.lastSeq = seq;
    }
    get().early.delete(id);
    set((s) => ({ runs: [entry, ...s.runs], selected: id }));
  },
  open(run, intro) {
    const known = get().runs.find((r) => r.id === run.id);
    if (known) {
      set({ selected: run.id });
      return known;
    }
    const buffer = new TerminalBuffer();
    buffer.writeLines(intro);
    const entry: RunEntry = { id: run.id, prompt: run.prompt, run, buffer, lastSeq: 0 };
    get().early.delete(run.id); // its stored log is read in full (catchUp)
    set((s) => ({ runs: [...s.runs, entry], selected: run.id }));
    return entry;
  },
  select: (selected) => set({ selected }),
  update: (id, run) => set((s) => ({ runs: s.runs.map((r) => (r.id === id ? { ...r, run } : r)) })),
  log(runId, seq, line) {
    const entry = get().runs.find((r) => r.id === runId);
    if (entry?.held) {
      if (entry.held.length < EARLY_LINES_MAX) entry.held.push({ seq, line });
      return;
    }
    if (entry) {
      if (seq <= entry.lastSeq) return;
      entry.lastSeq = seq;
      entry.buffer.writeLines([line]);
      return;
    }
    const { early } = get();
    const held = early.get(runId);
    if (held) {
      if (held.length < EARLY_LINES_MAX) held.push({ seq, line });
      return;
    }
    if (early.size >= EARLY_RUNS_MAX) early.delete(early.keys().next().value!);
    early.set(runId, [{ seq, line }]);
  },
  async catchUp(runId, read) {
    const entry = get().runs.find((r) => r.id === runId);
    if (!entry || entry.held) return;
    entry.held = [];
    try {
      for (let after = entry.lastSeq; ;) {
        const page = await read(after);
        const fresh = page.items.filter((l) => l.seq > entry.lastSeq);
        entry.buffer.writeLines(fresh.map((l) => logLine(l.stream, l.text)));
        entry.lastSeq = fresh.at(-1)?.seq ?? entry.lastSeq;
        // A page with nothing new ends it too: an engine that ignored `afterSeq` cannot loop us.
        if (page.nextSeq === null || fresh.length === 0) break;
        after = page.nextSeq;
      }
    } finally {
      const held = entry.held.sort((a, b) => a.seq - b.seq);
      entry.held = undefined;
      for (const { seq, line } of held) get().log(runId, seq, line);
    }
  },
}));

/** Reads a run's stored log through the engine, a page at a time. */
export function logReader(client: EngineClient, runId: string): LogPageReader {
  return (afterSeq) => client.call('agents:logs', { id: runId, afterSeq, limit: LOG_PAGE });
}

/** Follows one run until it finishes and writes each change of state into its log. */
function RunTracker({ entry }: { entry: RunEntry }) {
  const t = useT();
  const update = useRuns((s) => s.update);
  const finished = entry.run !== undefined && FINISHED.has(entry.run.status);
  const run = useOperation(
    'agents:get',
    { id: entry.id },
    {
      enabled: !finished,
      pollMs: RUN_POLL_MS,
      refreshOn: (e) => e.type === 'agent.status' && e.runId === entry.id,
    },
  );
  const previous = useRef(entry.run);
  const latest = useRef({ entry, t });
  latest.current = { entry, t };
  // Only a new answer writes to the log (the entry itself changes with every update).
  useEffect(() => {
    if (!run.data || run.data === previous.current) return;
    const { entry: e, t: text } = latest.current;
    e.buffer.writeLines(runLogLines(text, previous.current, run.data));
    previous.current = run.data;
    update(e.id, run.data);
  }, [run.data, update]);
  return null;
}

/**
 * Mounted once for the whole app: live agent logs go into their run's terminal and runs are
 * followed to the end, whichever screen is open.
 */
export function AgentRunsTracker() {
  const client = useClient();
  const runs = useRuns((s) => s.runs);
  const log = useRuns((s) => s.log);
  const catchUp = useRuns((s) => s.catchUp);
  useEngineEvents(
    (e: EngineEvent) => {
      if (e.type === 'agent.log') log(e.runId, e.seq, logLine(e.stream, e.text));
    },
    // Lines emitted while the stream was down are read back from the stored log.
    () => {
      for (const r of useRuns.getState().runs) {
        if (r.run && FINISHED.has(r.run.status)) continue;
        catchUp(r.id, logReader(client, r.id)).catch(() => {});
      }
    },
  );
  return (
    <>
      {runs.map((r) => (
        <RunTracker key={r.id} entry={r} />
      ))}
    </>
  );
}
