import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createTurnBatch } from './turn-batch.ts';

describe('the turn batch of the HTTP API', () => {
  it("starts the work of one turn's requests together after that turn, in arrival order, each with its own outcome", async () => {
    const turn = createTurnBatch();
    const started: string[] = [];
    const work =
      (name: string, fail = false) =>
      async () => {
        started.push(name);
        if (fail) throw new Error(`${name} refused`);
        return name;
      };
    const a = turn.run(work('a'));
    const b = turn.run(work('b', true));
    const c = turn.run(() => {
      started.push('c');
      throw new Error('c threw before its promise');
    });
    const d = turn.run(work('d'));
    expect(started).toEqual([]); // nothing runs in the turn that read the requests
    await expect(a).resolves.toBe('a');
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    await expect(b).rejects.toThrow('b refused');
    await expect(c).rejects.toThrow('c threw');
    await expect(d).resolves.toBe('d');

    // A later turn is a batch of its own.
    await nextTurn();
    const e = turn.run(work('e'));
    expect(started).toHaveLength(4);
    await expect(e).resolves.toBe('e');
  });
});
