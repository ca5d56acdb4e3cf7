/**
 * HTTP bench: `POST /api/v1/whatsapp/send` through the real `createApiServer(engine)` against a bare
 * hello-world route on a Fastify instance of the same version and settings, driven by autocannon in
 * the same run, alternating, and reported as a ratio with p50/p99 latency. See bench/README.md.
 *
 *   npm run bench -- http
 *   bash scripts/with-node22.sh node --import tsx bench/http.ts
 *
 * Environment: BENCH_HTTP_CONNECTIONS (default 10), BENCH_HTTP_SECONDS (default 5),
 * BENCH_HTTP_WARMUP_SECONDS (default 1), BENCH_ROUNDS (default 3).
 *
 * The servers run in a child process (this file with `--serve`) so autocannon's own work does not
 * share the servers' event loop: in one thread the client's fixed cost per request would pull the
 * ratio towards 1. Always exits 0 when it ran to the end, even when a target is missed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { BODY_LIMIT, createApiServer } from '../src-engine/api/server.ts';
import { startTestEngine, type TestEngine } from '../test/support/test-engine.ts';
import { benchOrg, sendInput } from './guard.ts';
import { fmtRate, intEnv, median, table, withCleanup } from './support.ts';

const SERVE_FLAG = '--serve';
const TARGET_RATIO = 0.4;
/** More overage messages than any run here can send: the org never runs out of credit. */
const CREDIT_FOR_SENDS = 10_000_000;

/** What the server child tells the driver, one JSON line each. */
interface Ready {
  fastifyVersion: string;
  helloUrl: string;
  sendUrl: string;
  /** One org per round, so the send side never runs out of included messages mid-run. */
  orgs: { apiKey: string; body: string }[];
}
interface Final {
  messages: number;
  paid: number;
}

// ---------------------------------------------------------------------------------------------
// Server child: the engine's API and the hello-world baseline, on 127.0.0.1, until stdin closes.

const listen = async (app: FastifyInstance) => app.listen({ host: '127.0.0.1', port: 0 });

async function serve(rounds: number): Promise<void> {
  let t: TestEngine | undefined;
  const apps: FastifyInstance[] = [];
  await withCleanup(
    async () => {
      await Promise.allSettled(apps.map((a) => a.close()));
      await t?.dispose();
    },
    async () => {
      t = await startTestEngine();
      const engine = t.engine;
      const orgs: Ready['orgs'] = [];
      for (let r = 0; r < rounds; r++) {
        // Partner plan: the sends take the free path (within quota, no hold) unless a very fast
        // machine sends more than its 50,000 included messages; the credit covers that case.
        const org = await benchOrg(t, { plan: 'partner', sends: CREDIT_FOR_SENDS, exhaust: false });
        orgs.push({ apiKey: org.apiKey, body: JSON.stringify(sendInput(org, r, false)) });
      }
      const api = await createApiServer(engine);
      apps.push(api);
      const hello = Fastify({ logger: false, bodyLimit: BODY_LIMIT });
      apps.push(hello);
      hello.get('/hello', async () => ({ hello: 'world' }));
      const ready: Ready = {
        fastifyVersion: hello.version,
        sendUrl: `${await listen(api)}/api/v1/whatsapp/send`,
        helloUrl: `${await listen(hello)}/hello`,
        orgs,
      };
      console.log(`READY ${JSON.stringify(ready)}`);

      await new Promise<void>((resolve) => {
        process.stdin.on('end', resolve);
        process.stdin.resume();
      });
      const final = engine.db.sqlite
        .prepare<[], Final>(
          `SELECT count(*) AS messages, coalesce(sum(free = 0), 0) AS paid FROM sent_messages`,
        )
        .get()!;
      console.log(`FINAL ${JSON.stringify(final)}`);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Driver.

interface ServerChild {
  ready: Ready;
  /** Closes the child's stdin; its final counts once it has cleaned up and exited. */
  finish(): Promise<Final>;
  /** SIGTERM (the child cleans up on it), and wait for the exit. */
  kill(): Promise<void>;
}

function startServerChild(rounds: number): Promise<ServerChild> {
  const file = fileURLToPath(import.meta.url);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // `node --cpu-prof` on the bench profiles the servers too (Node refuses it in NODE_OPTIONS)
      ...process.execArgv.filter((arg) => arg.startsWith('--cpu-prof')),
      '--import',
      import.meta.resolve('tsx'),
      file,
      SERVE_FLAG,
      String(rounds),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  exited.catch(() => {}); // raced below; this only keeps an early failure from going unhandled
  const lines = createInterface({ input: child.stdout! });
  /** The rest of the first line starting with `prefix`; fails if the child ends first. */
  const next = (prefix: string) => {
    let onLine = (_line: string) => {};
    const line = new Promise<string>((resolve) => {
      onLine = (l) => l.startsWith(prefix) && resolve(l.slice(prefix.length));
      lines.on('line', onLine);
    });
    const died = exited.then((code) => {
      throw new Error(`server child exited with ${code} before printing ${prefix.trim()}`);
    });
    return Promise.race([line, died]).finally(() => lines.off('line', onLine));
  };
  return next('READY ').then((json) => ({
    ready: JSON.parse(json) as Ready,
    async finish() {
      const final = next('FINAL ');
      child.stdin!.end();
      const counts = JSON.parse(await final) as Final;
      // Its engine and temp dir are cleaned up by then.
      const code = await exited;
      if (code !== 0) throw new Error(`server child exited with ${code}`);
      return counts;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited.catch(() => {});
    },
  }));
}

type SideName = 'send' | 'hello';

interface Run {
  rps: number;
  p50: number;
  p99: number;
  /** 2xx responses, for the cross-check against the messages the engine stored. */
  accepted: number;
}

interface Side {
  name: SideName;
  options(round: number): autocannon.Options;
  /** The one status every response must have. */
  status: number;
}

/** The q-quantile (nearest rank) of ascending `sorted`. */
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

async function cannon(side: Side, round: number, seconds: number, connections: number): Promise<Run> {
  // autocannon's own latency histogram has 1 ms resolution; its 'response' events carry the
  // hrtime-based response time, so the percentiles come from those.
  const latencies: number[] = [];
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...side.options(round), connections, duration: seconds }, (err, res) =>
      err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === side.status) latencies.push(ms);
    });
  });
  const statuses = Object.entries(r.statusCodeStats ?? {})
    .map(([code, s]) => `${code} x${s.count ?? 0}`)
    .join(', ');
  const good = r.statusCodeStats?.[`${side.status}`]?.count ?? 0;
  if (r.non2xx !== 0 || r.errors !== 0 || r.timeouts !== 0 || good !== r['2xx'] || good === 0) {
    throw new Error(
      `${side.name}: expected only ${side.status} responses, got ${statuses || 'none'} ` +
        `(non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts})`,
    );
  }
  latencies.sort((a, b) => a - b);
  return {
    rps: r.requests.average,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    accepted: r['2xx'],
  };
}

const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
const ms = (x: number) => `${x.toFixed(2)} ms`;

export async function main(): Promise<void> {
  const connections = intEnv('BENCH_HTTP_CONNECTIONS', 10);
  const seconds = intEnv('BENCH_HTTP_SECONDS', 5);
  const warmup = intEnv('BENCH_HTTP_WARMUP_SECONDS', 1);
  const rounds = intEnv('BENCH_ROUNDS', 3);
  let server: ServerChild | undefined;

  await withCleanup(
    async () => server?.kill(),
    async () => {
      server = await startServerChild(rounds);
      const { ready } = server;
      const sides: Side[] = [
        {
          name: 'send',
          status: 202,
          options: (round) => ({
            url: ready.sendUrl,
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${ready.orgs[round]!.apiKey}`,
            },
            body: ready.orgs[round]!.body,
          }),
        },
        { name: 'hello', status: 200, options: () => ({ url: ready.helloUrl }) },
      ];
      console.log(
        `node ${process.version}, ${process.platform}/${process.arch}; fastify ${ready.fastifyVersion}; ` +
          `servers in a child process; autocannon ${connections} connections, ${seconds} s per measurement ` +
          `after a ${warmup} s warm-up, ${rounds} rounds`,
      );

      let accepted = 0;
      const samples: Record<SideName, Run>[] = [];
      for (let r = 0; r < rounds; r++) {
        // Alternate who goes first, so a slow patch of the machine hits both alike.
        const order = r % 2 === 0 ? sides : [...sides].reverse();
        const sample = {} as Record<SideName, Run>;
        for (const side of order) {
          const warm = await cannon(side, r, warmup, connections);
          sample[side.name] = await cannon(side, r, seconds, connections);
          if (side.name === 'send') accepted += warm.accepted + sample.send.accepted;
        }
        samples.push(sample);
        const line = (s: SideName) =>
          `${s} ${fmtRate(sample[s].rps)} req/s (p50 ${ms(sample[s].p50)}, p99 ${ms(sample[s].p99)})`;
        console.log(
          `round ${r + 1}/${rounds} (${order[0]!.name} first): ${line('send')}, ${line('hello')}, ` +
            `ratio ${pct(sample.send.rps / sample.hello.rps)}`,
        );
      }

      const final = await server.finish();
      // A request in flight when a run stops may be stored without autocannon counting its reply.
      const inFlight = connections * rounds * 2;
      if (final.messages < accepted || final.messages > accepted + inFlight) {
        throw new Error(`autocannon counted ${accepted} accepted sends, the engine stored ${final.messages}`);
      }

      const ratio = median(samples.map((s) => s.send.rps / s.hello.rps));
      const pass = ratio >= TARGET_RATIO;
      const row = (s: SideName, label: string) => [
        label,
        fmtRate(median(samples.map((x) => x[s].rps))),
        ms(median(samples.map((x) => x[s].p50))),
        ms(median(samples.map((x) => x[s].p99))),
      ];
      console.log(
        `\nHTTP throughput, median of ${rounds} rounds (ratio = median of the per-round ratios):\n`,
      );
      console.log(
        table([
          ['route', 'req/s', 'p50', 'p99'],
          row('send', 'POST /api/v1/whatsapp/send (202)'),
          row('hello', 'GET /hello, bare Fastify (200)'),
        ]),
      );
      console.log(
        `\nsend / hello: ${pct(ratio)} (target >= ${pct(TARGET_RATIO)}) ${pass ? 'PASS' : 'MISS'}; ` +
          `${accepted.toLocaleString('en-US')} sends accepted, ${final.messages.toLocaleString('en-US')} ` +
          `messages stored (${final.paid.toLocaleString('en-US')} beyond the plan's quota, paid)`,
      );
      console.log(pass ? '\nall targets met' : '\nMISSED: HTTP send throughput vs hello-world');
    },
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const run = process.argv[2] === SERVE_FLAG ? serve(Number(process.argv[3])) : main();
  run.catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
