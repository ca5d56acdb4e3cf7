/**
 * SmartSend scheduling overhead: how many messages per second the planner can place (rotation,
 * pacing, caps, quiet hours, warm-up, the reservation written to the in-memory state port, then
 * released as after the send), in simulated time: the clock is fixed, nothing sleeps. See
 * bench/README.md.
 */
import { pathToFileURL } from 'node:url';
import { SmartSendSettingsSchema } from '../src-engine/contracts/smartsend.ts';
import {
  createMemoryState,
  createSmartSend,
  initialInstanceState,
  seededRandom,
  timeZone,
} from '../src-engine/smartsend/index.ts';

const N = Number(process.env.BENCH_N ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const INSTANCES = 20;
const TARGET = 20_000;
const T0 = Date.parse('2026-10-23T06:00:00Z');
const TZ = 'America/Mexico_City';
const settings = SmartSendSettingsSchema.parse({ quietHours: { start: '21:00', end: '08:00' } });

/** Plans `n` messages (30 % to known contacts) on a fresh org; returns the elapsed ms and the span. */
function round(n: number, seed: number): { ms: number; spanMs: number } {
  const state = createMemoryState({ org: TZ });
  for (let i = 0; i < INSTANCES; i++) {
    // Mixed ages: days 1..10 of warm-up, and warmed-up numbers.
    const warmupDay = i < 10 ? i + 1 : 30;
    state.putInstance(
      initialInstanceState({ instanceId: `i${i}`, orgId: 'org', warmupDay }, T0, timeZone(TZ), settings),
    );
  }
  const smartSend = createSmartSend({ state, settings, random: seededRandom(seed), now: () => T0 });
  const workload = seededRandom(seed + 1);
  const requests = Array.from({ length: n }, (_, i) => ({
    messageId: `m${i}`,
    orgId: 'org',
    instanceId: 'auto',
    recipient: String(5_215_500_000_000 + (workload() < 0.3 && i > 0 ? Math.floor(workload() * i) : i)),
    textLength: 10 + Math.floor(workload() * 300),
  }));
  let last = T0;
  const started = performance.now();
  for (const r of requests) {
    const plan = smartSend.plan(r);
    if (!plan) throw new Error(`no slot for ${r.messageId}`);
    smartSend.release(r.messageId);
    last = Math.max(last, plan.sendAt);
  }
  return { ms: performance.now() - started, spanMs: last - T0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(): Promise<void> {
  console.log(
    `planning ${N} messages over ${INSTANCES} instances (tz ${TZ}, quiet hours 21:00-08:00), ${ROUNDS} rounds`,
  );
  round(5_000, 1); // warm-up: JIT, tz offset cache
  const rates: number[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const { ms, spanMs } = round(N, r);
    const rate = N / (ms / 1000);
    rates.push(rate);
    console.log(
      `round ${r}: ${ms.toFixed(0)} ms, ${Math.round(rate).toLocaleString('en-US')} messages/s, ${((ms * 1000) / N).toFixed(1)} µs/message; schedule spans ${(spanMs / 86_400_000).toFixed(2)} simulated days`,
    );
  }
  const m = median(rates);
  console.log(
    `\nmedian: ${Math.round(m).toLocaleString('en-US')} messages/s planned (target >= ${TARGET.toLocaleString('en-US')}/s): ${m >= TARGET ? 'PASS' : 'MISS'}`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
