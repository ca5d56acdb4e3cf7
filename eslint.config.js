import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.tools/',
      'out/',
      'dist/',
      'coverage/',
      'src-engine/db/migrations/',
      'src-ledger/migrations/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The engine runs headless and in tests: it must never depend on the desktop shell or the UI.
    files: ['src-engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['electron', 'electron/*'], message: 'src-engine must not import electron.' },
            {
              group: ['react', 'react/*', 'react-dom', 'react-dom/*'],
              message: 'src-engine must not import React.',
            },
            { group: ['**/src-main/**', '**/src-main'], message: 'src-engine must not import src-main.' },
            {
              group: ['**/src-renderer/**', '**/src-renderer'],
              message: 'src-engine must not import src-renderer.',
            },
          ],
        },
      ],
    },
  },
);
