import { useRef, useState, type FormEvent } from 'react';
import { useClient } from '../client/context.ts';
import { TerminalView } from '../components/terminal/terminal-view.tsx';
import { Card, Empty, ErrorBox, useAction } from '../components/ui.tsx';
import { useT } from '../i18n/index.ts';
import { useRuns } from '../state/agent-runs.tsx';
import { useOperation } from '../state/use-operation.ts';

const ESC = '\x1b[';

function StartForm() {
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

export function AgentsScreen() {
  const t = useT();
  const { runs, selected, select } = useRuns();
  const current = runs.find((r) => r.id === selected);
  return (
    <div className="agents-layout">
      <div className="stack">
        <StartForm />
        <Card title={t.agents.runs}>
          {runs.length === 0 ? (
            <Empty>{t.agents.noRuns}</Empty>
          ) : (
            <ul className="runs">
              {runs.map((r) => (
                <li key={r.id}>
                  <button
                    type="button"
                    className="run-button"
                    aria-current={r.id === selected}
                    onClick={() => select(r.id)}
                  >
                    <span className={`badge status-${r.run?.status ?? 'queued'}`}>
                      {t.agents.status[r.run?.status ?? 'queued']}
                    </span>
                    <span className="run-prompt">{r.prompt}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <section className="terminal-pane" aria-label={t.terminal.label}>
        {current ? (
          <TerminalView key={current.id} buffer={current.buffer} />
        ) : (
          <Empty>{t.agents.select}</Empty>
        )}
      </section>
    </div>
  );
}
