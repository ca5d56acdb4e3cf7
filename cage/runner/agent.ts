import {
  TOOL_END_OUTPUT_MAX_CHARS,
  type CageChatMessage,
  type CageResultStatus,
  type CageTask,
  type CageToolName,
} from '../../src-engine/contracts/cage.ts';
import { CancelledError, type Channel } from './channel.ts';
import type { Workspace } from './files.ts';
import { finishOutput, runTool, toolSchemas } from './tools.ts';

export interface Outcome {
  status: CageResultStatus;
  output: string;
  stepsUsed: number;
}

export interface AgentDeps {
  channel: Channel;
  workspace: Workspace;
  /** The shell tool's working directory: the workspace. */
  cwd: string;
}

const SYSTEM_PROMPT = [
  'You are an agent working inside an isolated Linux sandbox with no network access.',
  'Your working directory is /workspace; it is empty at the start and discarded at the end.',
  'Use the tools to do the task. When you are done, call `finish` with the final answer.',
].join(' ');

// Arguments longer than this (as JSON) are cut in the tool_start line (the log), not in the call.
const ARG_PREVIEW = 2000;

/**
 * The agent loop: ask the model, run the tools it calls, feed the results back, until it calls
 * `finish`, answers without a tool call, or runs out of steps. One step is one model request.
 */
export async function runAgent(task: CageTask, deps: AgentDeps): Promise<Outcome> {
  const { channel } = deps;
  const allowed = new Set<CageToolName>([...task.tools, 'finish']);
  const tools = toolSchemas(task.tools);
  const messages: CageChatMessage[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: task.prompt },
  ];
  let steps = 0;
  try {
    while (steps < task.maxSteps) {
      steps += 1;
      const answer = await channel.request(messages, tools);
      if (answer.error !== undefined || !answer.message) {
        return { status: 'error', output: answer.error ?? 'no answer', stepsUsed: steps };
      }
      const message = answer.message;
      messages.push(message);
      const calls = message.tool_calls ?? [];
      if (calls.length === 0) return { status: 'success', output: message.content, stepsUsed: steps };

      for (const [i, call] of calls.entries()) {
        const name = call.function.name;
        if (name === 'finish') {
          return {
            status: 'success',
            output: finishOutput(call.function.arguments) ?? message.content,
            stepsUsed: steps,
          };
        }
        const callId = call.id ?? `s${steps}c${i + 1}`;
        channel.send({ type: 'tool_start', callId, tool: name, args: previewArgs(call.function.arguments) });
        const started = Date.now();
        const outcome = allowed.has(name as CageToolName)
          ? await runTool(name as Exclude<CageToolName, 'finish'>, call.function.arguments, {
              workspace: deps.workspace,
              cwd: deps.cwd,
              timeoutMs: task.toolTimeoutS * 1000,
              signal: channel.stop.signal,
            })
          : { ok: false, output: `unknown tool "${name}"; available: ${[...allowed].join(', ')}` };
        channel.send({
          type: 'tool_end',
          callId,
          tool: name,
          ok: outcome.ok,
          output: previewOutput(outcome.output),
          durationMs: Date.now() - started,
        });
        channel.stop.signal.throwIfAborted();
        messages.push({ role: 'tool', tool_name: name, content: outcome.output });
      }
    }
    return {
      status: 'error',
      output: `stopped after ${task.maxSteps} steps without finishing`,
      stepsUsed: steps,
    };
  } catch (err) {
    if (err instanceof CancelledError)
      return { status: 'error', output: `cancelled: ${err.message}`, stepsUsed: steps };
    if (err instanceof RangeError) {
      return {
        status: 'error',
        output: `the conversation no longer fits the protocol: ${err.message}`,
        stepsUsed: steps,
      };
    }
    throw err;
  }
}

function previewArgs(args: Record<string, unknown>): Record<string, unknown> {
  const json = JSON.stringify(args);
  return json.length <= ARG_PREVIEW
    ? args
    : { preview: `${json.slice(0, ARG_PREVIEW)}… (${json.length} chars)` };
}

function previewOutput(output: string): string {
  return output.length <= TOOL_END_OUTPUT_MAX_CHARS
    ? output
    : `${output.slice(0, TOOL_END_OUTPUT_MAX_CHARS - 1)}…`;
}
