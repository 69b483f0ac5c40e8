import WebSocket from 'ws';

/** Close code of a close frame sent without a code (RFC 6455 7.1.5). */
const NO_STATUS = 1005;

/**
 * The `WebSocket` class the server's `ws` instance builds (its `WebSocket` option). It remembers
 * the code of the first close frame this side sent, whoever asked for it: the pool (1000 idle,
 * 1001 drain, 1008 slow consumer), `ws` itself on a protocol error (1002, 1007, 1009), a handler,
 * or the echo of a client's close. `ws` reports only the code it *received*, and 1006 when the
 * peer never answered, which for a server-initiated close says nothing of why it closed.
 */
export class PoolWebSocket extends WebSocket {
  /** Code of the close frame this side sent first; 0 while none was sent. */
  sentCloseCode = 0;

  override close(code?: number, data?: string | Buffer): void {
    const first = this.readyState === WebSocket.OPEN && this.sentCloseCode === 0;
    super.close(code, data); // throws on an invalid code: then nothing was sent
    if (first) this.sentCloseCode = code ?? NO_STATUS;
  }
}

/** The close code the server sent on `ws`, if it sent one (0 otherwise, or for a socket not built as a `PoolWebSocket`). */
export function sentCloseCode(ws: WebSocket): number {
  return (ws as Partial<PoolWebSocket>).sentCloseCode ?? 0;
}
