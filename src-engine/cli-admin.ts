import { parseArgs } from 'node:util';
import type { EngineConfig } from './config/index.ts';
import { decimal } from './contracts/common.ts';
import { withDatabase, type DatabaseHandle } from './db/connection.ts';
import { AppError, parseOrThrow } from './errors.ts';
import { createApiKeys } from './guard/api-keys.ts';
import { addInstanceCommand } from './guard/commands/add-instance.ts';
import { toInstance, type InstanceRow } from './guard/rows.ts';
import { createLedger } from './ledger/ledger.ts';
import { formatCredits, parseCredits } from './ledger/money.ts';
import { createOrganization } from './ledger/orgs.ts';
import { createQuotas } from './ledger/quota.ts';
import { uuidv7 } from './ids.ts';

/*
 * Operator commands on the engine's database (they work whether or not an engine is running: the
 * database is in WAL mode). Money goes in as a local ADJUSTMENT until the hosted ledger syncs top-ups.
 */

export const ADMIN_USAGE = `  seed --org NAME --plan free|starter|partner [--credits N] [--org-id ID] [--json]
                                           Create an org on a plan with an API key (and credit);
                                           --org-id: the org's id on the hosted ledger (LEDGER_TOKEN's org)
  keys create --org ID [--name NAME] [--json]   Create another API key for an org
  keys revoke --id KEY_ID                  Revoke an API key (by its id, see "keys list")
  keys list --org ID [--json]              List an org's API keys (never the keys themselves)
  topup --org ID --credits N [--json]      Add credit (a local ADJUSTMENT until the hosted ledger)
  instances add --org ID --name NAME --evolution-instance NAME [--warmup-day N] [--json]
                                           Add a WhatsApp number (an Evolution instance) to an org
  instances list [--org ID] [--json]       List WhatsApp numbers with their health`;

type Print = (line: string) => void;

const withDb = <T>(config: EngineConfig, fn: (db: DatabaseHandle) => T): T => withDatabase(config.dbFile, fn);

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '') {
    throw new AppError('VALIDATION_ERROR', `${flag} is required`);
  }
  return value;
}

function creditMicro(text: string): number {
  const micro = parseCredits(text);
  if (micro <= 0) throw new AppError('VALIDATION_ERROR', `--credits must be positive: ${text}`);
  return micro;
}

function addCredit(db: DatabaseHandle, orgId: string, micro: number, reference: string) {
  const ledger = createLedger({ sqlite: db.sqlite });
  ledger.transfer({ id: uuidv7(), orgId, kind: 'ADJUSTMENT', amountMicro: micro, reference });
  return ledger.balance(orgId);
}

/**
 * An admin command's flags: the named ones take a value, `--json` prints the result as JSON, and
 * anything else is refused (strict), so a typo never passes silently.
 */
function flags<const K extends string>(args: string[], names: readonly K[]) {
  const options = Object.fromEntries(names.map((n) => [n, { type: 'string' as const }]));
  const { values } = parseArgs({
    args,
    options: { ...options, json: { type: 'boolean', default: false } },
    strict: true,
  });
  return values as Partial<Record<K, string>> & { json: boolean };
}

function seed(args: string[], config: EngineConfig, print: Print): number {
  const values = flags(args, ['org', 'plan', 'credits', 'org-id']);
  const name = required(values.org, '--org');
  const id = values['org-id'] === undefined ? undefined : required(values['org-id'], '--org-id');
  const plan = required(values.plan, '--plan');
  if (!['free', 'starter', 'partner'].includes(plan)) {
    throw new AppError('VALIDATION_ERROR', `--plan must be free, starter or partner, not "${plan}"`);
  }
  const micro = values.credits === undefined ? 0 : creditMicro(values.credits);
  const result = withDb(config, (db) =>
    db.sqlite.transaction(() => {
      const orgId = createOrganization(db, { id, name, planId: plan });
      const { key, info } = createApiKeys({ sqlite: db.sqlite }).create(orgId, 'seed');
      const balance = micro > 0 ? addCredit(db, orgId, micro, 'seed') : undefined;
      return { orgId, apiKey: key, keyId: info.id, plan, credits: formatCredits(balance?.postedMicro ?? 0) };
    })(),
  );
  if (values.json) print(JSON.stringify(result));
  else {
    print(`Organization "${name}" (${result.orgId}) on the ${plan} plan, ${result.credits} credits`);
    print(`API key (shown once, keep it safe): ${result.apiKey}`);
  }
  return 0;
}

function keys(args: string[], config: EngineConfig, print: Print): number {
  const [sub, ...rest] = args;
  const values = flags(rest, ['org', 'name', 'id']);
  return withDb(config, (db) => {
    const apiKeys = createApiKeys({ sqlite: db.sqlite });
    switch (sub) {
      case 'create': {
        const { key, info } = apiKeys.create(required(values.org, '--org'), values.name ?? 'cli');
        print(values.json ? JSON.stringify({ keyId: info.id, apiKey: key, orgId: info.orgId }) : key);
        return 0;
      }
      case 'revoke': {
        const info = apiKeys.revoke(required(values.id, '--id'));
        print(values.json ? JSON.stringify(info) : `Revoked key ${info.id} (${info.prefix})`);
        return 0;
      }
      case 'list': {
        const list = apiKeys.list(required(values.org, '--org'));
        if (values.json) print(JSON.stringify(list));
        else
          for (const k of list) {
            print(`${k.id}  ad_${k.prefix}_…  ${k.name}${k.revokedAt ? '  (revoked)' : ''}`);
          }
        return 0;
      }
      default:
        throw new AppError('VALIDATION_ERROR', `keys: expected create, revoke or list, not "${sub ?? ''}"`);
    }
  });
}

function topup(args: string[], config: EngineConfig, print: Print): number {
  const values = flags(args, ['org', 'credits']);
  const orgId = required(values.org, '--org');
  const micro = creditMicro(required(values.credits, '--credits'));
  const balance = withDb(config, (db) => addCredit(db, orgId, micro, 'cli topup'));
  if (values.json) print(JSON.stringify(balance));
  else print(`Added ${formatCredits(micro)} credits; available ${formatCredits(balance.availableMicro)}`);
  return 0;
}

function instances(args: string[], config: EngineConfig, print: Print): number {
  const [sub, ...rest] = args;
  const values = flags(rest, ['org', 'name', 'evolution-instance', 'warmup-day']);
  return withDb(config, (db) => {
    switch (sub) {
      case 'add': {
        // The same command the API runs (plan limit, unique name), applied by the operator.
        const cmd = addInstanceCommand({
          sqlite: db.sqlite,
          quotas: createQuotas({ sqlite: db.sqlite }),
          smartsend: config.smartsend,
        });
        const principal = { orgId: required(values.org, '--org'), via: 'session' } as const;
        const input = parseOrThrow(
          cmd.schema,
          {
            name: required(values.name, '--name'),
            evolutionInstance: required(values['evolution-instance'], '--evolution-instance'),
            ...(values['warmup-day'] === undefined
              ? {}
              : { warmupDay: decimal(values['warmup-day']) ?? values['warmup-day'] }),
          },
          'instance',
        );
        const instance = db.sqlite.transaction(() => {
          cmd.check?.(principal, input);
          return cmd.execute(principal, input).output;
        })();
        print(
          values.json
            ? JSON.stringify(instance)
            : `Added "${instance.name}" (${instance.id}) -> Evolution instance "${instance.evolutionInstance}", ${instance.health}`,
        );
        return 0;
      }
      case 'list': {
        const rows = db.sqlite
          .prepare<{ org: string | null }, InstanceRow>(
            `SELECT * FROM whatsapp_instances WHERE @org IS NULL OR org_id = @org ORDER BY org_id, created_at, id`,
          )
          .all({ org: values.org ?? null })
          .map(toInstance);
        if (values.json) print(JSON.stringify(rows));
        else
          for (const i of rows) {
            print(`${i.id}  ${i.name}  evolution:${i.evolutionInstance}  ${i.health}  org:${i.orgId}`);
          }
        return 0;
      }
      default:
        throw new AppError('VALIDATION_ERROR', `instances: expected add or list, not "${sub ?? ''}"`);
    }
  });
}

/** The operator commands, by name; undefined when `command` is not one of them. */
const ADMIN: Record<string, (args: string[], config: EngineConfig, print: Print) => number> = {
  seed,
  keys,
  topup,
  instances,
};
export function adminCommand(command: string) {
  return Object.hasOwn(ADMIN, command) ? ADMIN[command] : undefined;
}
