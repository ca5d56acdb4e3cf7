import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The engine runs headless and in tests: the lint rule that keeps it free of the desktop is itself tested.
describe('src-engine import boundary', () => {
  const eslint = new ESLint({ cwd: process.cwd() });
  const lint = async (code: string, filePath: string) => {
    const [result] = await eslint.lintText(code, { filePath });
    return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  };

  it.each([
    ["import { app } from 'electron';", 'electron'],
    ["import { useState } from 'react';", 'React'],
    ["import { createRoot } from 'react-dom/client';", 'React'],
    ["import { x } from '../src-main/window.ts';", 'src-main'],
    ["import { y } from '../../src-renderer/app.tsx';", 'src-renderer'],
  ])('rejects %s in src-engine', async (code, what) => {
    const messages = await lint(code, 'src-engine/queue/example.ts');
    expect(messages.join(' ')).toContain(what);
  });

  it('allows the same imports outside src-engine, and plain imports inside it', async () => {
    expect(await lint("import { app } from 'electron';", 'src-main/example.ts')).toEqual([]);
    expect(await lint("import { z } from 'zod';", 'src-engine/queue/example.ts')).toEqual([]);
  });

  it('holds for the whole of src-engine today', async () => {
    const results = await eslint.lintFiles(['src-engine/**/*.ts']);
    const hits = results.flatMap((r) =>
      r.messages
        .filter((m) => m.ruleId === 'no-restricted-imports')
        .map((m) => `${r.filePath}: ${m.message}`),
    );
    expect(hits).toEqual([]);
  });
});
