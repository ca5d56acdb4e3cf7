import { defineConfig } from 'drizzle-kit';

// The hosted ledger's own migrations (PostgreSQL), separate from the engine's SQLite ones:
//   bash scripts/with-node22.sh npx drizzle-kit generate --config src-ledger/drizzle.config.ts
export default defineConfig({
  dialect: 'postgresql',
  schema: './src-ledger/db/schema.ts',
  out: './src-ledger/migrations',
});
