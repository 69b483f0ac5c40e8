/** Where a JSON text first breaks the grammar: 0-based offset, 1-based line and column. */
export interface JsonSyntaxPosition {
  offset: number;
  line: number;
  column: number;
}

const WS = new Set([' ', '\t', '\n', '\r']);

/**
 * Finds the first syntax error of a JSON text (RFC 8259), or `undefined` if it has none. Used
 * instead of `JSON.parse`'s message, which quotes the text around the error: a config file's
 * secrets must not reach a log because a comma is missing next to them.
 */
export function jsonSyntaxError(text: string): JsonSyntaxPosition | undefined {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && WS.has(text[i])) i++;
  };
  const digits = (): boolean => {
    const start = i;
    while (i < text.length && text[i] >= '0' && text[i] <= '9') i++;
    return i > start;
  };
  const literal = (word: string): boolean => {
    for (const ch of word) {
      if (text[i] !== ch) return false;
      i++;
    }
    return true;
  };
  const string = (): boolean => {
    i++; // opening quote
    while (i < text.length) {
      const ch = text[i];
      if (ch === '"') {
        i++;
        return true;
      }
      if (ch < ' ') return false;
      if (ch === '\\') {
        i++;
        const esc = text[i];
        if (esc === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) return (i += k), false;
          i += 5;
        } else if (esc !== undefined && '"\\/bfnrt'.includes(esc)) i++;
        else return false;
      } else i++;
    }
    return false;
  };
  const number = (): boolean => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (!digits()) return false;
    if (text[i] === '.') {
      i++;
      if (!digits()) return false;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!digits()) return false;
    }
    return true;
  };
  const value = (): boolean => {
    ws();
    const ch = text[i];
    if (ch === '{') return members('}', true);
    if (ch === '[') return members(']', false);
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    if (ch === '-' || (ch >= '0' && ch <= '9')) return number();
    return false;
  };
  const members = (close: string, isObject: boolean): boolean => {
    i++; // opening bracket
    ws();
    if (text[i] === close) return i++, true;
    for (;;) {
      if (isObject) {
        ws();
        if (text[i] !== '"' || !string()) return false;
        ws();
        if (text[i] !== ':') return false;
        i++;
      }
      if (!value()) return false;
      ws();
      if (text[i] === close) return i++, true;
      if (text[i] !== ',') return false;
      i++;
    }
  };
  let ok: boolean;
  try {
    ok = value();
    ws();
    ok = ok && i === text.length;
  } catch {
    return undefined; // nesting too deep for the stack: no position to give
  }
  if (ok) return undefined;
  const before = text.slice(0, i);
  const line = before.split('\n').length;
  return { offset: i, line, column: i - (before.lastIndexOf('\n') + 1) + 1 };
}
