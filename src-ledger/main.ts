// `npm run ledger`: the hosted ledger server on the settings of the environment (see config.ts).
import { createLogger } from '../src-engine/logger.ts';
import { errorMessage } from '../src-engine/errors.ts';
import { LedgerConfigError, loadLedgerConfig } from './config.ts';
import { startLedgerServer } from './server.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadLedgerConfig(process.env);
  } catch (err) {
    if (!(err instanceof LedgerConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
  const log = createLogger('ledger', { level: config.LOG_LEVEL });
  if (!config.STRIPE_WEBHOOK_SECRET) log.warn('STRIPE_WEBHOOK_SECRET is not set: the Stripe webhook is off');
  const server = await startLedgerServer({
    host: config.LEDGER_HOST,
    port: config.LEDGER_PORT,
    ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : { dataDir: config.LEDGER_DATA_DIR }),
    adminToken: config.LEDGER_ADMIN_TOKEN,
    ...(config.STRIPE_WEBHOOK_SECRET ? { stripeWebhookSecret: config.STRIPE_WEBHOOK_SECRET } : {}),
    billingIntervalMs: config.LEDGER_BILLING_INTERVAL_S * 1000,
    logger: log,
  });
  log.info(
    {
      url: server.url,
      database: server.database.kind,
      ...(config.DATABASE_URL ? {} : { dataDir: config.LEDGER_DATA_DIR }),
    },
    'ledger listening',
  );
  console.log(`Agencia Desk ledger listening on ${server.url}`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'stopping');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`ledger failed to start: ${errorMessage(err)}`);
  process.exit(1);
});
