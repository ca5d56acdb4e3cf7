import { describe, expect, it } from 'vitest';
import { AnsiParser, xterm256 } from '../../src-renderer/src/components/terminal/ansi.ts';

const parse = (...lines: string[]) => {
  const p = new AnsiParser();
  return lines.map((l) => p.parse(l));
};

describe('ANSI parser', () => {
  it('keeps plain text as one unstyled span', () => {
    const [line] = parse('hola mundo\tfin');
    expect(line).toEqual({ text: 'hola mundo\tfin', spans: [{ text: 'hola mundo\tfin', style: null }] });
  });

  it('turns SGR colours and attributes into styled spans', () => {
    const [line] = parse('\x1b[31mred\x1b[0m plain \x1b[1;92mbold bright green\x1b[22m normal');
    expect(line!.text).toBe('red plain bold bright green normal');
    expect(line!.spans.map((s) => [s.text, s.style?.fg ?? null, s.style?.bold ?? false])).toEqual([
      ['red', 1, false],
      [' plain ', null, false],
      ['bold bright green', 10, true],
      [' normal', 10, false],
    ]);
  });

  it('supports 256-colour and true-colour foregrounds and backgrounds', () => {
    const [line] = parse('\x1b[38;5;196ma\x1b[48;2;1;2;3mb\x1b[39;49mc');
    expect(line!.spans[0]!.style?.fg).toBe('rgb(255,0,0)');
    expect(line!.spans[1]!.style).toMatchObject({ fg: 'rgb(255,0,0)', bg: 'rgb(1,2,3)' });
    expect(line!.spans[2]!.style).toBeNull();
    expect(xterm256(244)).toBe('rgb(128,128,128)');
    expect(xterm256(7)).toBe(7);
  });

  it('carries the style from one line to the next, as a terminal does', () => {
    const [a, b, c] = parse('\x1b[33mstart', 'still yellow', '\x1b[mreset');
    expect(a!.spans[0]!.style?.fg).toBe(3);
    expect(b!.spans[0]!.style?.fg).toBe(3);
    expect(c!.spans[0]!.style).toBeNull();
  });

  it('drops cursor movement, OSC titles and stray controls', () => {
    const [line] = parse('\x1b]0;title\x07\x1b[2K\x1b[1Gdone\x1b[?25l\x07\x00!');
    expect(line!.text).toBe('done!');
  });

  it('keeps only what was written after the last carriage return (progress bars)', () => {
    const [line] = parse('10%\r50%\r100% done\r');
    expect(line!.text).toBe('100% done');
  });

  it('parses a growing line without moving the carried style', () => {
    const p = new AnsiParser();
    p.parse('\x1b[34m', false);
    expect(p.parse('x').spans[0]!.style).toBeNull();
  });

  it('shares style objects between spans of the same look', () => {
    const [a, b] = parse('\x1b[35mone', '\x1b[35mtwo');
    expect(a!.spans[0]!.style).toBe(b!.spans[0]!.style);
  });
});
