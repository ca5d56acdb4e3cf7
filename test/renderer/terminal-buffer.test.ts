import { describe, expect, it } from 'vitest';
import { TerminalBuffer } from '../../src-renderer/src/components/terminal/terminal-buffer.ts';

const texts = (b: TerminalBuffer) => Array.from({ length: b.length }, (_, i) => b.line(i)!.text);

describe('TerminalBuffer', () => {
  it('joins chunks into lines and shows the line still being written', () => {
    const b = new TerminalBuffer(10);
    b.write('hel');
    expect(texts(b)).toEqual(['hel']);
    b.write('lo\nwor');
    b.write('ld\n');
    expect(texts(b)).toEqual(['hello', 'world']);
  });

  it('keeps the newest lines within its bound and counts the dropped ones', () => {
    const b = new TerminalBuffer(3);
    b.writeLines(['1', '2', '3', '4', '5']);
    expect(texts(b)).toEqual(['3', '4', '5']);
    expect(b.dropped).toBe(2);
    expect(b.committedEnd).toBe(5);
  });

  it('notifies subscribers once per write and bumps its version', () => {
    const b = new TerminalBuffer();
    let calls = 0;
    const off = b.subscribe(() => calls++);
    b.writeLines(['a', 'b', 'c']);
    b.write('d\ne');
    off();
    b.write('f');
    expect(calls).toBe(2);
    expect(b.version).toBe(3);
  });

  it('searches by absolute line number, case-insensitive, resuming where it stopped', () => {
    const b = new TerminalBuffer(4);
    b.writeLines(['Error one', 'ok', 'error two']);
    expect(b.search('ERROR')).toEqual([0, 2]);
    const resume = b.committedEnd;
    b.writeLines(['fine', 'another error', 'x']);
    // 'Error one' and 'ok' left the top; numbers of the others did not change.
    expect(b.dropped).toBe(2);
    expect(b.search('error')).toEqual([2, 4]);
    expect(b.search('error', resume)).toEqual([4]);
    expect(b.search('')).toEqual([]);
  });

  it('copies plain text without escape codes and clears', () => {
    const b = new TerminalBuffer();
    b.write('\x1b[32mgreen\x1b[0m\nplain');
    expect(b.text()).toBe('green\nplain');
    b.clear();
    expect(b.length).toBe(0);
    expect(b.dropped).toBe(1);
  });
});
