import { z } from 'zod';
import {
  READ_FILE_MAX_BYTES,
  TOOL_OUTPUT_MAX_BYTES,
  type CageToolName,
  type CageToolSchema,
} from '../../src-engine/contracts/cage.ts';
import { ToolError, type Workspace } from './files.ts';
import { runShell, type ToolOutcome } from './shell.ts';

const ARGS = {
  shell: z.object({ command: z.string().min(1).max(65_536) }),
  read_file: z.object({ path: z.string().min(1).max(4096) }),
  write_file: z.object({ path: z.string().min(1).max(4096), content: z.string() }),
  finish: z.object({ output: z.string().optional() }),
} satisfies Record<CageToolName, z.ZodType>;

const DESCRIPTIONS: Record<CageToolName, { description: string; properties: Record<string, unknown> }> = {
  shell: {
    description:
      'Run a command with /bin/sh in the workspace (no network). Returns the exit status and the first 16 KiB of output.',
    properties: { command: { type: 'string', description: 'The shell command.' } },
  },
  read_file: {
    description: 'Read a text file in the workspace (first 64 KiB).',
    properties: { path: { type: 'string', description: 'Path relative to /workspace.' } },
  },
  write_file: {
    description: 'Create or replace a text file in the workspace.',
    properties: {
      path: { type: 'string', description: 'Path relative to /workspace.' },
      content: { type: 'string', description: 'The whole new content.' },
    },
  },
  finish: {
    description: 'End the task with the final answer.',
    properties: { output: { type: 'string', description: 'The final answer for the user.' } },
  },
};

const REQUIRED: Record<CageToolName, string[]> = {
  shell: ['command'],
  read_file: ['path'],
  write_file: ['path', 'content'],
  finish: ['output'],
};

/** The JSON schemas offered to the model; `finish` is always among them. */
export function toolSchemas(names: readonly CageToolName[]): CageToolSchema[] {
  const offered = new Set<CageToolName>([...names, 'finish']);
  return [...offered].map((name) => ({
    type: 'function',
    function: {
      name,
      description: DESCRIPTIONS[name].description,
      parameters: { type: 'object', properties: DESCRIPTIONS[name].properties, required: REQUIRED[name] },
    },
  }));
}

export interface ToolContext {
  workspace: Workspace;
  cwd: string;
  timeoutMs: number;
  signal: AbortSignal;
}

type WorkTool = Exclude<CageToolName, 'finish'>;

const RUN: { [K in WorkTool]: (args: z.output<(typeof ARGS)[K]>, ctx: ToolContext) => Promise<ToolOutcome> } =
  {
    shell: (a, ctx) =>
      runShell(a.command, {
        cwd: ctx.cwd,
        timeoutMs: ctx.timeoutMs,
        maxOutputBytes: TOOL_OUTPUT_MAX_BYTES,
        signal: ctx.signal,
      }),
    read_file: (a, ctx) => ctx.workspace.read(a.path, READ_FILE_MAX_BYTES),
    write_file: (a, ctx) => ctx.workspace.write(a.path, a.content),
  };

/** Runs one tool call (not `finish`); every failure becomes an outcome the model can read. */
export async function runTool(name: WorkTool, args: unknown, ctx: ToolContext): Promise<ToolOutcome> {
  const parsed = ARGS[name].safeParse(args);
  if (!parsed.success)
    return { ok: false, output: `invalid arguments for ${name}: ${z.prettifyError(parsed.error)}` };
  const run = RUN[name] as (a: unknown, c: ToolContext) => Promise<ToolOutcome>;
  try {
    return await run(parsed.data, ctx);
  } catch (err) {
    // Refusals and system errors (ENOENT, ENOSPC, ELOOP…) are for the model to read and act on.
    const e = err as NodeJS.ErrnoException;
    return {
      ok: false,
      output: err instanceof ToolError || e.code ? e.message : `${name} failed: ${String(err)}`,
    };
  }
}

/** The final answer a `finish` call carries, if it is well-formed. */
export function finishOutput(args: unknown): string | undefined {
  const parsed = ARGS.finish.safeParse(args);
  return parsed.success ? parsed.data.output : undefined;
}
