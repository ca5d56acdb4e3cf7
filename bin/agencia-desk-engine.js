#!/usr/bin/env node
// The engine's command line. TypeScript sources run through tsx's loader (no build step needed).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src-engine/cli.ts');
process.exitCode = await main(process.argv.slice(2));
