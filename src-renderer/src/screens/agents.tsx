import { useRef, useState, type FormEvent } from 'react';
import type { AgentRun, AgentRunStatus } from '../../../src-engine/contracts/agents.ts';
import { useClient } from '../client/context.ts';
import { PagedView } from '../components/paged-view.tsx';
import { TerminalView } from '../components/terminal/terminal-view.tsx';
import { Card, Empty, ErrorBox, Loading, useAction } from '../components/ui.tsx';
import { formatDateTime } from '../format.ts';
import { useLocale, useT } from '../i18n/index.ts';
import { FINISHED, logReader, runLogLines, useRuns, type RunEntry } from '../state/agent-runs.tsx';
import { useOperation } from '../state/use-operation.ts';
import { usePaged } from '../state/use-paged.ts';

const ESC = '\x1b[';

function StartForm({ onStarted }: { onStarted: () => void }) {
  const t = useT();
  const client = useClient();
  const add = useRuns((s) => s.add);
  const [prompt, setPrompt] = useState('');
  const [model, setModel] = useState('');
  const models = useOperation('ai:models', {});
  const [maxSteps, setMaxSteps] = useState(10);
  const [timeoutS, setTimeoutS] = useState(600);
  const key = useRef(crypto.randomUUID());
  const start = useAction(() =>
    client.call('agents:run', {
      prompt,
      ...(model ? { model } : {}),
      maxSteps,
      timeoutS,
      idempotencyKey: key.current,
    }),
  );
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const accepted = await start.run();
    if (!accepted) return;
    key.current = crypto.randomUUID();
    add(accepted.runId, prompt, [
      `${ESC}36m${t.agents.log.queued(accepted.runId)}${ESC}0m`,
      `${ESC}2m> ${prompt}${ESC}0m`,
    ]);
    setPrompt('');
    onStarted();
  };
  return (
    <Card title={t.agents.start}>
      <form className="form" onSubmit={submit} aria-label={t.agents.start}>
        <label>
          {t.agents.prompt}
          <textarea
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            required
            maxLength={16_000}
            rows={3}
            placeholder={t.agents.promptHint}
          />
        </label>
        <label>
          {t.agents.model}
          <select
            value={model}
            onChange={(e) => setModel(e.target.value)}
            disabled={models.status === 'loading'}
          >
            <option value="">{t.agents.modelDefault}</option>
            {models.data?.models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
                {m.parameterSize ? ` · ${m.parameterSize}` : ''}
                {m.loaded ? ` · ${t.agents.loaded}` : ''}
              </option>
            ))}
          </select>
          {models.status === 'error' && <small className="hint">{t.agents.modelsUnavailable}</small>}
        </label>
        <div className="form-row">
          <label>
            {t.agents.maxSteps}
            <input
              type="number"
              min={1}
              max={100}
              value={maxSteps}
              onChange={(e) => setMaxSteps(Number(e.target.value))}
            />
          </label>
          <label>
            {t.agents.timeout}
            <input
              type="number"
              min={5}
              max={3600}
              value={timeoutS}
              onChange={(e) => setTimeoutS(Number(e.target.value))}
            />
          </label>
        </div>
        <button type="submit" disabled={start.pending}>
          {t.agents.submit}
        </button>
        {start.error && <ErrorBox error={start.error} />}
      </form>
    </Card>
  );
}

/** The run list's entry: its status, its task and when it was queued. */
function RunItem({ run, selected, onOpen }: { run: AgentRun; selected: boolean; onOpen: () => void }) {
  const t = useT();
  const locale = useLocale();
  return (
    <li>
      <button
        type="button"
        className="run-button"
        aria-current={selected}
        data-run={run.id}
        data-status={run.status}
        onClick={onOpen}
      >
        <span className={`badge status-${run.status}`}>{t.agents.status[run.status]}</span>
        <span className="run-prompt">{run.prompt}</span>
        <time className="run-time">{formatDateTime(run.createdAt, locale)}</time>
      </button>
    </li>
  );
}

/** The selected run's header: its status, and a cancel button while it is queued or running. */
function RunHead({ entry, status }: { entry: RunEntry; status: AgentRunStatus }) {
  const t = useT();
  const client = useClient();
  const cancel = useAction(() => client.call('agents:cancel', { id: entry.id }));
  const live = !FINISHED.has(status);
  return (
    <div className="run-head">
      <span className={`badge status-${status}`}>{t.agents.status[status]}</span>
      <span className="run-prompt">{entry.prompt}</span>
      {live && (
        <button type="button" onClick={() => void cancel.run()} disabled={cancel.pending || !!cancel.result}>
          {t.agents.cancel}
        </button>
      )}
      {live && cancel.result && (
        <span className="ok" role="status">
          {t.agents.cancelRequested}
        </span>
      )}
      {cancel.error && <ErrorBox error={cancel.error} />}
    </div>
  );
}

export function AgentsScreen() {
  const t = useT();
  const client = useClient();
  const { runs, selected, open, catchUp } = useRuns();
  const list = usePaged('agents:list', { limit: 20 }, { refreshOn: (e) => e.type === 'agent.status' });
  const [replay, setReplay] = useState<{ id: string; error?: unknown; done: boolean }>();
  const current = runs.find((r) => r.id === selected);
  const listed = list.items.find((r) => r.id === selected);

  // A run from the list: its stored log is read back, then (for a finished one) how it ended.
  const openRun = (run: AgentRun) => {
    const known = runs.some((r) => r.id === run.id);
    const entry = open(run, [`${ESC}2m> ${run.prompt}${ESC}0m`]);
    if (known) return;
    setReplay({ id: run.id, done: false });
    catchUp(run.id, logReader(client, run.id)).then(
      () => {
        if (FINISHED.has(run.status)) entry.buffer.writeLines(runLogLines(t, undefined, run));
        setReplay({ id: run.id, done: true });
      },
      (error: unknown) => setReplay({ id: run.id, error, done: true }),
    );
  };

  return (
    <div className="agents-layout">
      <div className="stack">
        <StartForm onStarted={list.reload} />
        <Card title={t.agents.runs}>
          <PagedView page={list} empty={t.agents.noRuns}>
            {(items) => (
              <ul className="runs" aria-label={t.agents.runs}>
                {items.map((r) => (
                  <RunItem key={r.id} run={r} selected={r.id === selected} onOpen={() => openRun(r)} />
                ))}
              </ul>
            )}
          </PagedView>
        </Card>
      </div>
      <section className="terminal-pane" aria-label={t.terminal.label}>
        {current ? (
          <div className="run-pane">
            <RunHead
              key={current.id}
              entry={current}
              status={current.run?.status ?? listed?.status ?? 'queued'}
            />
            {replay?.id === current.id && !replay.done && <Loading />}
            {replay?.id === current.id && replay.error !== undefined && <ErrorBox error={replay.error} />}
            <TerminalView key={current.id} buffer={current.buffer} />
          </div>
        ) : (
          <Empty>{t.agents.select}</Empty>
        )}
      </section>
    </div>
  );
}
