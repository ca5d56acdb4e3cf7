#!/usr/bin/env node
// The engine's command line. TypeScript sources run through tsx's loader (no build step needed).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src-engine/cli.ts');
// Exit explicitly: a job handler that ignored its abort signal must not keep a stopped engine alive.
process.exit(await main(process.argv.slice(2)));
