/**
 * Entry point of `npm run bench -- <name...>`: runs the named benches in order, or lists them.
 * Benches print ratios measured side by side in one run; they are reports, not timed tests, so
 * a missed target does not fail the exit code (only a crash does).
 */

interface Bench {
  description: string;
  run(): Promise<void>;
}

const BENCHES: Record<string, Bench> = {
  queue: {
    description:
      'embedded SQLite queue vs BullMQ on a local redis-server: add and process (concurrency 1 and 8) ratios; RSS of 100,000 waiting jobs',
    run: async () => (await import('./queue.ts')).main(),
  },
  guard: {
    description:
      'guarded whatsapp:send (validate -> ... -> enqueue, embedded SQLite; free and paid paths) vs a BullMQ add loop on a local redis-server, concurrency 1 and 8',
    run: async () => (await import('./guard.ts')).main(),
  },
  http: {
    description:
      'POST /api/v1/whatsapp/send through createApiServer vs a bare Fastify hello-world route, autocannon: req/s, p50/p99',
    run: async () => (await import('./http.ts')).main(),
  },
  smartsend: {
    description:
      'SmartSend planner: messages/s it can schedule over 20 instances (rotation, pacing, caps, quiet hours, warm-up), simulated time',
    run: async () => (await import('./smartsend.ts')).main(),
  },
  cage: {
    description:
      "real Docker: cage start to the runner's first line vs a bare create+start+wait+remove (p50/p95, 20 runs); 100,000 log lines through the agent.run worker (lines/s, order, RSS growth)",
    run: async () => (await import('./cage.ts')).main(),
  },
  ledger: {
    description:
      'hosted ledger: 100,000 entries pushed over loopback HTTP in batches of 1,000 vs a bare INSERT loop into the same database (ratio); the monthly billing run for 10,000 orgs (time); PGlite and PostgreSQL',
    run: async () => (await import('./ledger.ts')).main(),
  },
  renderer: {
    description:
      'headless Chromium: the agent terminal under 10,000 lines/s for 10 s (long tasks, JS heap, lines kept); first paint of the panel from a running engine',
    run: async () => (await import('./renderer.ts')).main(),
  },
};

function usage(): void {
  console.log('usage: npm run bench -- <name> [<name> ...] | all\n\navailable benches:');
  const width = Math.max(...Object.keys(BENCHES).map((k) => k.length));
  for (const [name, b] of Object.entries(BENCHES)) console.log(`  ${name.padEnd(width)}  ${b.description}`);
  console.log('\nsee bench/README.md for what each figure means and the environment knobs (BENCH_N, ...).');
}

async function run(argv: string[]): Promise<number> {
  const names = argv.filter((a) => a !== '--');
  if (names.length === 0 || names.includes('-h') || names.includes('--help') || names.includes('list')) {
    usage();
    return 0;
  }
  const selected = names.includes('all') ? Object.keys(BENCHES) : names;
  const unknown = selected.filter((n) => !(n in BENCHES));
  if (unknown.length) {
    console.error(`unknown bench: ${unknown.join(', ')}\n`);
    usage();
    return 2;
  }
  for (const name of selected) {
    console.log(`\n=== bench: ${name} ===`);
    await BENCHES[name]!.run();
  }
  return 0;
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
