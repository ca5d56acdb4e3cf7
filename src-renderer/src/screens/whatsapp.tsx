import { useRef, useState, type FormEvent } from 'react';
import type { EngineEvent } from '../../../src-engine/contracts/events.ts';
import type { Instance, SendAccepted } from '../../../src-engine/contracts/whatsapp.ts';
import { useClient } from '../client/context.ts';
import { Async, Card, Empty, ErrorBox, Light, useAction, type LightColour } from '../components/ui.tsx';
import { formatDateTime, formatNumber, type Locale } from '../format.ts';
import type { Dictionary } from '../i18n/es.ts';
import { healthReasonText } from '../i18n/health-reason.ts';
import { useLocale, useT } from '../i18n/index.ts';
import { useOperation } from '../state/use-operation.ts';

/** The traffic light: green ACTIVE, yellow WARMUP/THROTTLED (or still connecting), red BANNED or disconnected. */
export function trafficLight(i: Pick<Instance, 'health' | 'connectionState'>): Exclude<LightColour, 'grey'> {
  if (i.health === 'BANNED') return 'red';
  if (i.connectionState === 'close') return 'red';
  if (i.health === 'ACTIVE' && (i.connectionState === null || i.connectionState === 'open')) return 'green';
  return 'yellow';
}

/** When the number may send next: now, at a time, or never (null: BANNED). */
function nextSend(t: Dictionary, locale: Locale, at: number | null, now: number): string {
  if (at === null) return t.whatsapp.nextSend.never;
  if (at <= now + 1000) return t.whatsapp.nextSend.now;
  return t.whatsapp.nextSend.at(formatDateTime(at, locale));
}

/** A number's health changed, or a message of ours moved (its job). */
const aboutInstances = (e: EngineEvent) =>
  e.type === 'instance.health' || ('queue' in e && e.queue === 'whatsapp.send');

function InstanceCard({ instance, now }: { instance: Instance; now: number }) {
  const t = useT();
  const locale = useLocale();
  const colour = trafficLight(instance);
  const state =
    instance.connectionState === 'close' && instance.health !== 'BANNED'
      ? t.whatsapp.disconnected
      : t.whatsapp.health[instance.health];
  return (
    <li className={`instance instance-${colour}`} data-instance={instance.id} data-light={colour}>
      <div className="instance-head">
        <Light colour={colour} label={t.whatsapp.light[colour]} />
        <strong>{instance.name}</strong>
        <span className="badge">{state}</span>
      </div>
      <dl className="instance-facts">
        <dt>{t.whatsapp.evolutionInstance}</dt>
        <dd>{instance.evolutionInstance}</dd>
        {instance.healthReason && (
          <>
            <dt className="visually-hidden">{state}</dt>
            <dd className="instance-reason" title={instance.healthReason}>
              {healthReasonText(t, locale, instance.healthReason)}
            </dd>
          </>
        )}
      </dl>
      <ul className="instance-meta">
        {instance.health === 'WARMUP' && instance.warmupDay !== null && (
          <li>{t.whatsapp.warmupDay(instance.warmupDay)}</li>
        )}
        {instance.sentToday !== null && instance.capToday !== null ? (
          <>
            <li data-sent-today={instance.sentToday} data-cap-today={instance.capToday}>
              {t.whatsapp.sentToday(
                formatNumber(instance.sentToday, locale),
                formatNumber(instance.capToday, locale),
              )}
            </li>
            <li data-next-send={instance.nextSendAt ?? 'never'}>
              {nextSend(t, locale, instance.nextSendAt, now)}
            </li>
          </>
        ) : (
          <li>
            {instance.dailyCap === null
              ? t.whatsapp.noCap
              : t.whatsapp.dailyCap(formatNumber(instance.dailyCap, locale))}
          </li>
        )}
        {instance.connectionState && (
          <li>
            {t.whatsapp.connection(
              t.whatsapp.connectionStates[instance.connectionState] ?? instance.connectionState,
            )}
          </li>
        )}
        {instance.healthChangedAt !== null && (
          <li>{t.whatsapp.since(formatDateTime(instance.healthChangedAt, locale))}</li>
        )}
      </ul>
    </li>
  );
}

function AddInstanceForm({ onAdded }: { onAdded: () => void }) {
  const t = useT();
  const client = useClient();
  const [name, setName] = useState('');
  const [evolutionInstance, setEvolutionInstance] = useState('');
  const [day, setDay] = useState(1);
  const key = useRef(crypto.randomUUID());
  const add = useAction(() =>
    client.call('whatsapp:addInstance', {
      name,
      evolutionInstance,
      warmupDay: day,
      idempotencyKey: key.current,
    }),
  );
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await add.run()) {
      key.current = crypto.randomUUID();
      setName('');
      setEvolutionInstance('');
      onAdded();
    }
  };
  return (
    <Card title={t.whatsapp.add.title}>
      <form className="form" onSubmit={submit} aria-label={t.whatsapp.add.title}>
        <label>
          {t.whatsapp.add.name}
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <label>
          {t.whatsapp.add.evolutionInstance}
          <input
            value={evolutionInstance}
            onChange={(e) => setEvolutionInstance(e.target.value)}
            required
            maxLength={100}
          />
        </label>
        <label>
          {t.whatsapp.add.warmupDay}
          <input
            type="number"
            min={1}
            max={365}
            value={day}
            onChange={(e) => setDay(Number(e.target.value))}
            aria-describedby="warmup-hint"
          />
          <small id="warmup-hint">{t.whatsapp.add.warmupHint}</small>
        </label>
        <button type="submit" disabled={add.pending}>
          {t.whatsapp.add.submit}
        </button>
        {add.error && <ErrorBox error={add.error} />}
        {add.result && (
          <p className="ok" role="status">
            {t.whatsapp.add.added(add.result.name)}
          </p>
        )}
      </form>
    </Card>
  );
}

function MessageStatus({ accepted }: { accepted: SendAccepted }) {
  const t = useT();
  const message = useOperation(
    'whatsapp:message',
    { id: accepted.messageId },
    {
      refreshOn: (e) =>
        (e.type === 'message.status' && e.messageId === accepted.messageId) ||
        ('jobId' in e && e.jobId === accepted.jobId),
      pollMs: 15_000,
    },
  );
  const status = message.data?.status ?? accepted.status;
  return (
    <p className="ok" role="status">
      {t.whatsapp.send.queued(accepted.messageId)}{' '}
      {t.whatsapp.send.statusLine(t.whatsapp.send.status[status])}
    </p>
  );
}

function SendForm({ instances }: { instances: Instance[] }) {
  const t = useT();
  const client = useClient();
  const [instanceId, setInstanceId] = useState('auto');
  const [to, setTo] = useState('');
  const [text, setText] = useState('');
  // One key per message the user means to send: a double click or a retry cannot send it twice.
  const key = useRef(crypto.randomUUID());
  const send = useAction(() =>
    client.call('whatsapp:send', { instanceId, to, text, idempotencyKey: key.current }),
  );
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await send.run()) {
      key.current = crypto.randomUUID();
      setText('');
    }
  };
  return (
    <Card title={t.whatsapp.send.title}>
      <form className="form" onSubmit={submit} aria-label={t.whatsapp.send.title}>
        <label>
          {t.whatsapp.send.instance}
          <select value={instanceId} onChange={(e) => setInstanceId(e.target.value)}>
            <option value="auto">{t.whatsapp.send.auto}</option>
            {instances.map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t.whatsapp.send.to}
          <input
            value={to}
            onChange={(e) => setTo(e.target.value.replace(/\D/g, ''))}
            inputMode="numeric"
            required
            pattern="\d{10,15}"
            aria-describedby="to-hint"
          />
          <small id="to-hint">{t.whatsapp.send.toHint}</small>
        </label>
        <label>
          {t.whatsapp.send.text}
          <textarea
            value={text}
            onChange={(e) => setText(e.target.value)}
            required
            maxLength={4096}
            rows={3}
          />
        </label>
        <button type="submit" disabled={send.pending}>
          {t.whatsapp.send.submit}
        </button>
        {send.error && <ErrorBox error={send.error} />}
        {send.result && !send.error && <MessageStatus accepted={send.result} />}
      </form>
    </Card>
  );
}

export function WhatsAppScreen() {
  const t = useT();
  const instances = useOperation('whatsapp:instances', {}, { refreshOn: aboutInstances, pollMs: 15_000 });
  const now = Date.now();
  return (
    <div className="screen-grid two">
      <Card title={t.whatsapp.instances}>
        <Async resource={instances}>
          {({ items }) =>
            items.length === 0 ? (
              <Empty>{t.whatsapp.empty}</Empty>
            ) : (
              <ul className="instances" aria-label={t.whatsapp.instances}>
                {items.map((i) => (
                  <InstanceCard key={i.id} instance={i} now={now} />
                ))}
              </ul>
            )
          }
        </Async>
      </Card>
      <div className="stack">
        <SendForm instances={instances.data?.items ?? []} />
        <AddInstanceForm onAdded={instances.reload} />
      </div>
    </div>
  );
}
