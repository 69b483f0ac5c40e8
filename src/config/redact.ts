/** What replaces a secret wherever config is shown (logs, errors, `/status`). */
export const REDACTED = '[redacted]';

/** Words that make a config key secret: `token`, `apiKey`, `privateKey`, `passphrase`, `password`, `secret`, `pfx`. */
const SECRET_WORDS = new Set(['token', 'key', 'passphrase', 'password', 'passwd', 'secret', 'pfx', 'credentials', 'authorization']);
/** Whole keys that are secret: request `headers` carry API keys (`headersTimeout` is no secret). */
const SECRET_KEYS = new Set(['headers']);

/** The `user:password@` part of a URL (`https://user:apikey@collector/`), a secret wherever it appears. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;

/** `text` with the credentials of every URL in it replaced by `[redacted]`. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
}

import { PEM_BLOCK, PEM_TEXT } from '../errors';

/** Whether a config key names a secret; `keepAliveTimeout` does not, `privateKey` and `token` do. */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return SECRET_KEYS.has(key) || words.some((w) => SECRET_WORDS.has(w));
}

/** Whether a string looks like PEM (a key or certificate), which is never shown. */
export function looksLikePem(value: string): boolean {
  return PEM_BLOCK.test(value);
}

/**
 * A deep copy of plain config data with every secret-named key, PEM-looking string and binary
 * buffer replaced by `[redacted]` (a secret-named key holding a file path, `tls.key` say, keeps
 * it: see `looksLikeFilePath`). Safe to log or serve.
 */
export function redactSecrets(value: unknown, key = ''): unknown {
  if (key && isSecretKey(key) && value !== undefined && value !== null && value !== '' && !(typeof value === 'string' && looksLikeFilePath(value))) return REDACTED;
  if (typeof value === 'string') return looksLikePem(value) ? REDACTED : redactUrlCredentials(value);
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'function') continue;
    out[k] = redactSecrets(v, k);
  }
  return out;
}

/** File extensions of key and certificate files. */
const KEY_FILE_EXTENSION = /\.(pem|key|crt|cer|der|p8|p12|pfx)$/i;
/** A last path segment with a file extension (`server.key`, `tls.json`). */
const EXTENSION_AFTER_SEPARATOR = /[/\\][^/\\]*\.[A-Za-z0-9]{1,8}$/;

/**
 * Whether a string is shaped like the path of a file rather than a secret: one line of at most
 * 1024 characters, no PEM, and either a key-file extension (`.pem`, `.key`...) or a separator
 * and an extension on its last segment. A path is not a secret, and an error about a key file
 * must say which file. Base64 and JWT secrets do not have that shape (no `.` after a `/`).
 */
export function looksLikeFilePath(value: string): boolean {
  if (value.length === 0 || value.length > 1024 || /[\r\n]/.test(value) || looksLikePem(value)) return false;
  return KEY_FILE_EXTENSION.test(value) || EXTENSION_AFTER_SEPARATOR.test(value);
}

/** Pieces of a secret long enough to give part of it away (lines of a key, segments between slashes). */
const SECRET_PIECE = /[^\s/\\]{8,}/g;

/**
 * `message` with every PEM block replaced by `[redacted]`, and, when `value` is secret (its
 * `key` names a secret, or it looks like PEM), every occurrence of `value` and of each of its
 * longer pieces too: a message that names a "file" by its path would otherwise echo a key
 * given in place of the path, whole or in parts.
 */
export function redactMessage(message: string, value?: unknown, key = ''): string {
  let out = message;
  if (typeof value === 'string' && value.length > 0 && (looksLikePem(value) || (key !== '' && isSecretKey(key) && !looksLikeFilePath(value)))) {
    out = out.split(value).join(REDACTED);
    for (const piece of value.match(SECRET_PIECE) ?? []) out = out.split(piece).join(REDACTED);
  }
  return redactUrlCredentials(out.replace(PEM_TEXT, REDACTED));
}
