import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes a new migration after a schema change; migrations are never hand-edited.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src-engine/db/schema.ts',
  out: './src-engine/db/migrations',
});
