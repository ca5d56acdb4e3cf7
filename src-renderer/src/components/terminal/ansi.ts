// A small ANSI parser for agent logs: SGR colours and attributes become styled spans; cursor
// movement, OSC titles and other control sequences are dropped (a log is a list of lines).

/** A colour: 0–15 is the themed palette (a CSS class), a string is an exact CSS colour. */
export type Colour = number | string | null;

export interface Style {
  readonly fg: Colour;
  readonly bg: Colour;
  readonly bold: boolean;
  readonly dim: boolean;
  readonly italic: boolean;
  readonly underline: boolean;
  readonly inverse: boolean;
}

export interface Span {
  readonly text: string;
  /** null = the default style (the common case, kept cheap). */
  readonly style: Style | null;
}

export interface Line {
  /** The plain text, for search and copy. */
  readonly text: string;
  readonly spans: readonly Span[];
}

const PLAIN: Style = {
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
  inverse: false,
};

// Styles are interned: thousands of spans share a handful of objects.
const interned = new Map<string, Style>();
function intern(s: Style): Style | null {
  const key = `${s.fg}|${s.bg}|${+s.bold}${+s.dim}${+s.italic}${+s.underline}${+s.inverse}`;
  if (key === 'null|null|00000') return null;
  let found = interned.get(key);
  if (!found) {
    found = Object.freeze({ ...s });
    if (interned.size < 4096) interned.set(key, found);
  }
  return found;
}

const CUBE = [0, 95, 135, 175, 215, 255];

/** xterm's 256-colour table beyond the 16 themed ones: a 6×6×6 cube, then 24 greys. */
export function xterm256(n: number): Colour {
  if (n < 16) return n;
  if (n < 232) {
    const i = n - 16;
    return `rgb(${CUBE[Math.floor(i / 36)]},${CUBE[Math.floor(i / 6) % 6]},${CUBE[i % 6]})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

const byte = (v: number | undefined) => Math.max(0, Math.min(255, v ?? 0));

/** Applies one SGR sequence's parameters to a style. */
function applySgr(style: Style, params: number[]): Style {
  const s = { ...style };
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) Object.assign(s, PLAIN);
    else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 22) s.bold = s.dim = false;
    else if (p === 23) s.italic = false;
    else if (p === 24) s.underline = false;
    else if (p === 27) s.inverse = false;
    else if (p >= 30 && p <= 37) s.fg = p - 30;
    else if (p === 39) s.fg = null;
    else if (p >= 40 && p <= 47) s.bg = p - 40;
    else if (p === 49) s.bg = null;
    else if (p >= 90 && p <= 97) s.fg = p - 90 + 8;
    else if (p >= 100 && p <= 107) s.bg = p - 100 + 8;
    else if (p === 38 || p === 48) {
      let colour: Colour = null;
      if (params[i + 1] === 5) {
        colour = xterm256(byte(params[i + 2]));
        i += 2;
      } else if (params[i + 1] === 2) {
        colour = `rgb(${byte(params[i + 2])},${byte(params[i + 3])},${byte(params[i + 4])})`;
        i += 4;
      }
      if (p === 38) s.fg = colour;
      else s.bg = colour;
    }
  }
  return s;
}

// CSI sequences, OSC strings (ended by BEL or ST), two-byte escapes, and stray C0 controls but tab.
const CONTROL =
  // eslint-disable-next-line no-control-regex
  /\x1b\[([0-9;:?]*)([ -/]*[@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]?|[\x00-\x08\x0b-\x1f\x7f]/g;
// eslint-disable-next-line no-control-regex
const HAS_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

/** Parses lines one after the other: the style carries over from one line to the next, as in a terminal. */
export class AnsiParser {
  private style: Style = PLAIN;

  /** Parses one line (no `\n`); `commit` false parses a still-growing line without moving the state. */
  parse(raw: string, commit = true): Line {
    // A carriage return rewrites the line from its start (progress bars): keep what was written last.
    const cr = raw.lastIndexOf('\r', raw.length - 2);
    const input = (cr >= 0 ? raw.slice(cr + 1) : raw).replace(/\r$/, '');
    let style = this.style;
    const spans: Span[] = [];
    let text = '';
    let last = 0;
    const push = (chunk: string) => {
      if (!chunk) return;
      text += chunk;
      const st = style === PLAIN ? null : intern(style);
      const prev = spans[spans.length - 1];
      if (prev && prev.style === st) spans[spans.length - 1] = { text: prev.text + chunk, style: st };
      else spans.push({ text: chunk, style: st });
    };
    if (!HAS_CONTROL.test(input)) {
      push(input);
    } else {
      CONTROL.lastIndex = 0;
      for (let m = CONTROL.exec(input); m; m = CONTROL.exec(input)) {
        push(input.slice(last, m.index));
        last = m.index + m[0].length;
        if (m[2] === 'm') {
          const params = (m[1] ?? '')
            .split(/[;:]/)
            .filter((x) => x !== '')
            .map(Number);
          style = applySgr(style, params);
        }
      }
      push(input.slice(last));
    }
    if (commit) this.style = style;
    return { text, spans };
  }
}
