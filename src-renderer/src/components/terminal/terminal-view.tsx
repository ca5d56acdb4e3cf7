import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
  type CSSProperties,
  type KeyboardEvent,
  type ReactNode,
} from 'react';
import { formatNumber } from '../../format.ts';
import { useLocale, useT } from '../../i18n/index.ts';
import type { Colour, Line, Span } from './ansi.ts';
import type { TerminalBuffer } from './terminal-buffer.ts';

/** Every row has this height (px, as in styles.css): the view only renders the rows in sight. */
export const LINE_HEIGHT = 18;
const OVERSCAN = 10;

function colourClass(prefix: 'fg' | 'bg', c: Colour): string {
  return typeof c === 'number' ? ` ${prefix}-${c}` : '';
}

function spanLook(span: Span): { className: string; style?: CSSProperties } {
  const s = span.style;
  if (!s) return { className: '' };
  let fg: Colour = s.fg;
  let bg: Colour = s.bg;
  if (s.inverse) [fg, bg] = [bg ?? 'var(--term-bg)', fg ?? 'var(--term-fg)'];
  let className = colourClass('fg', fg) + colourClass('bg', bg);
  if (s.bold) className += ' b';
  if (s.dim) className += ' dim';
  if (s.italic) className += ' i';
  if (s.underline) className += ' u';
  const style: CSSProperties = {};
  if (typeof fg === 'string') style.color = fg;
  if (typeof bg === 'string') style.backgroundColor = bg;
  return typeof fg === 'string' || typeof bg === 'string' ? { className, style } : { className };
}

/** A span's text with the occurrences of `q` (lower-case) marked. */
function marked(text: string, q: string): ReactNode {
  if (!q) return text;
  const lower = text.toLowerCase();
  const out: ReactNode[] = [];
  let from = 0;
  for (let at = lower.indexOf(q); at >= 0; at = lower.indexOf(q, at + q.length)) {
    if (at > from) out.push(text.slice(from, at));
    out.push(<mark key={at}>{text.slice(at, at + q.length)}</mark>);
    from = at + q.length;
  }
  if (out.length === 0) return text;
  if (from < text.length) out.push(text.slice(from));
  return out;
}

function Row({ line, top, query, current }: { line: Line; top: number; query: string; current: boolean }) {
  return (
    <div className={current ? 'term-row current' : 'term-row'} style={{ top }}>
      {line.spans.map((span, i) => {
        const look = spanLook(span);
        return look.className || look.style ? (
          <span key={i} className={look.className} style={look.style}>
            {marked(span.text, query)}
          </span>
        ) : (
          <span key={i}>{marked(span.text, query)}</span>
        );
      })}
      {'\n'}
    </div>
  );
}

/**
 * A terminal-style log: ANSI colours, follows the end unless the user scrolls up (or presses pause),
 * search with next/previous, copy, and only the rows in sight in the DOM, so a fast stream costs one
 * repaint per frame whatever its rate.
 */
export function TerminalView({ buffer, label }: { buffer: TerminalBuffer; label?: string }) {
  const t = useT();
  const locale = useLocale();
  const viewport = useRef<HTMLDivElement>(null);
  const searchBox = useRef<HTMLInputElement>(null);
  const [, setVersion] = useState(buffer.version);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const [matches, setMatches] = useState<number[]>([]);
  const [matchAt, setMatchAt] = useState(-1);
  const [copyState, setCopyState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const searchedTo = useRef(0);
  const lastDropped = useRef(buffer.dropped);
  const programmaticTop = useRef(-1);
  const q = query.toLowerCase();

  // Repaint at most once per frame, whatever the write rate.
  useEffect(() => {
    let frame = 0;
    const off = buffer.subscribe(() => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion(buffer.version);
      });
    });
    return () => {
      off();
      cancelAnimationFrame(frame);
    };
  }, [buffer]);

  // Search incrementally: only lines written since the last pass are scanned.
  useEffect(() => {
    if (!q) return;
    const kept = matches.filter((n) => n >= buffer.dropped && n < searchedTo.current);
    const fresh = buffer.search(q, Math.max(searchedTo.current, buffer.dropped));
    if (fresh.length || kept.length !== matches.length) setMatches([...kept, ...fresh]);
    searchedTo.current = buffer.committedEnd;
  });

  useEffect(() => {
    if (!viewport.current) return;
    const el = viewport.current;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    setHeight(el.clientHeight);
    return () => observer.disconnect();
  }, []);

  const scrollTo = useCallback((top: number) => {
    const el = viewport.current;
    if (!el) return;
    el.scrollTop = top;
    programmaticTop.current = el.scrollTop;
    setScrollTop(el.scrollTop);
  }, []);

  useLayoutEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const dropped = buffer.dropped - lastDropped.current;
    lastDropped.current = buffer.dropped;
    if (follow) {
      if (el.scrollTop + el.clientHeight < el.scrollHeight) scrollTo(el.scrollHeight);
    } else if (dropped > 0) {
      // Keep the lines the user reads in place while old ones leave the top.
      scrollTo(Math.max(0, el.scrollTop - dropped * LINE_HEIGHT));
    }
  });

  const onScroll = () => {
    const el = viewport.current!;
    setScrollTop(el.scrollTop);
    if (Math.abs(el.scrollTop - programmaticTop.current) < 1) return;
    programmaticTop.current = -1;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - LINE_HEIGHT;
    setFollow(atBottom);
  };

  const goToMatch = (index: number) => {
    if (matches.length === 0) return;
    const i = (index + matches.length) % matches.length;
    setMatchAt(i);
    setFollow(false);
    scrollTo((matches[i]! - buffer.dropped) * LINE_HEIGHT - height / 2);
  };

  const onSearchKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      goToMatch(e.shiftKey ? matchAt - 1 : matchAt + 1);
    } else if (e.key === 'Escape') {
      setQuery('');
      viewport.current?.focus();
    }
  };

  const onViewportKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'f') {
      e.preventDefault();
      searchBox.current?.focus();
    } else if (e.key === 'End') {
      setFollow(true);
    } else if (e.key === 'Home') {
      setFollow(false);
    }
  };

  const copy = () => {
    navigator.clipboard.writeText(buffer.text()).then(
      () => setCopyState('copied'),
      () => setCopyState('failed'),
    );
  };
  useEffect(() => {
    if (copyState === 'idle') return;
    const id = setTimeout(() => setCopyState('idle'), 2000);
    return () => clearTimeout(id);
  }, [copyState]);

  const total = buffer.length;
  const first = Math.max(0, Math.floor(scrollTop / LINE_HEIGHT) - OVERSCAN);
  const last = Math.min(total, Math.ceil((scrollTop + height) / LINE_HEIGHT) + OVERSCAN);
  const currentLine = matchAt >= 0 ? matches[matchAt] : undefined;
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    const abs = buffer.dropped + i;
    rows.push(
      <Row key={abs} line={buffer.line(i)!} top={i * LINE_HEIGHT} query={q} current={abs === currentLine} />,
    );
  }

  return (
    <div className="terminal">
      <div className="term-toolbar">
        <button type="button" onClick={() => setFollow((f) => !f)}>
          {follow ? t.terminal.pause : t.terminal.follow}
        </button>
        <span className="term-state" aria-live="polite">
          {follow ? t.terminal.following : t.terminal.paused}
        </span>
        <input
          ref={searchBox}
          type="search"
          aria-label={t.terminal.search}
          placeholder={t.terminal.search}
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setMatches([]);
            setMatchAt(-1);
            searchedTo.current = 0;
          }}
          onKeyDown={onSearchKey}
        />
        <button type="button" onClick={() => goToMatch(matchAt - 1)} disabled={!matches.length}>
          {t.terminal.previous}
        </button>
        <button type="button" onClick={() => goToMatch(matchAt + 1)} disabled={!matches.length}>
          {t.terminal.next}
        </button>
        {q && (
          <span className="term-matches" aria-live="polite">
            {t.terminal.matches(matchAt + 1, matches.length)}
          </span>
        )}
        <button type="button" onClick={copy} disabled={total === 0}>
          {copyState === 'copied'
            ? t.terminal.copied
            : copyState === 'failed'
              ? t.terminal.copyFailed
              : t.terminal.copy}
        </button>
        <span className="term-count">{t.terminal.lines(formatNumber(total, locale))}</span>
      </div>
      <div
        ref={viewport}
        className="term-viewport"
        tabIndex={0}
        role="log"
        aria-label={label ?? t.terminal.label}
        onScroll={onScroll}
        onKeyDown={onViewportKey}
      >
        {total === 0 && <p className="term-empty">{t.terminal.empty}</p>}
        <div className="term-spacer" style={{ height: total * LINE_HEIGHT }}>
          {rows}
        </div>
      </div>
    </div>
  );
}
