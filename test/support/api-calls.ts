import { expect } from 'vitest';
import { OPERATIONS, type OperationName } from '../../src-engine/contracts/operations.ts';

export interface ApiAnswer {
  status: number;
  text: string;
  json: unknown;
}

/** One request to the engine's `/api/v1` at `base` with an org's key; the raw answer. */
export async function callApi(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  key: string,
  body?: unknown,
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as unknown) : undefined };
}

/** Expects the operation's success status and returns its output, parsed by its schema. */
export function okAnswer<N extends OperationName>(name: N, a: ApiAnswer) {
  expect(a.status, a.text).toBe(OPERATIONS[name].status);
  return OPERATIONS[name].output.parse(a.json) as ReturnType<(typeof OPERATIONS)[N]['output']['parse']>;
}
