import * as http from 'node:http';
import type { Duplex } from 'node:stream';

/** How long a refused upgrade may take to flush its answer before the socket is destroyed. */
const REJECTED_UPGRADE_TIMEOUT_MS = 5000;

function ignoreError(): void {}

/** Headers a refused upgrade always carries, which the `headers` given cannot replace. */
const FIXED_HEADERS: ReadonlySet<string> = new Set(['connection', 'content-length', 'content-type', 'transfer-encoding']);

/**
 * Writes a complete HTTP response on a socket whose upgrade was refused (it will never be
 * upgraded), then closes it. Node handed the socket over with its request parsed: no
 * `ServerResponse` exists, so the response is written as raw HTTP/1.1.
 */
export function rejectUpgrade(socket: Duplex, status: number, headers: Readonly<Record<string, string>>, body: string): void {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Refused'}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`];
  for (const [name, value] of Object.entries(headers)) if (!FIXED_HEADERS.has(name.toLowerCase())) lines.push(`${name}: ${value}`);
  // node dropped its own 'error' and timeout handling when it handed over the upgrade: a peer
  // that resets now must not become an unhandled 'error' (a process crash), nor hang here.
  socket.on('error', ignoreError);
  setTimeout(() => socket.destroy(), REJECTED_UPGRADE_TIMEOUT_MS).unref();
  socket.once('finish', socket.destroy);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** The path of a request target, without query or fragment. */
export function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const cut = raw.search(/[?#]/);
  return cut === -1 ? raw : raw.slice(0, cut);
}
