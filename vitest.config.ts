import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'src-engine/**/*.test.ts',
      'src-ledger/**/*.test.ts',
      'src-main/**/*.test.ts',
      'src-renderer/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
