import type { Socket } from 'node:net';

/** The newest response created on a socket: the one a drain puts `Connection: close` on. */
export const NEWEST_RESPONSE = Symbol('unipool.http.newestResponse');

/** What the pool reads of a response node is writing or has queued. */
export interface ResponseHead {
  readonly headersSent: boolean;
  shouldKeepAlive: boolean;
}

/**
 * A server socket as node:http leaves it: `parser` is the socket's HTTP parser (set by node:http
 * while the socket serves HTTP), whose `duration()` (the clock node's own headers and request
 * timeouts read) is 0 between messages and the time since the current message's first byte
 * otherwise.
 */
export type HttpSocket = Socket & {
  [NEWEST_RESPONSE]?: ResponseHead | undefined;
  parser?: { duration?: () => number } | null;
};

/**
 * Whether bytes of a request that has not reached the handler yet have arrived on `socket`:
 * headers still coming, or the body of a request already answered. On a socket that has
 * served no request, any byte read is one (`fresh`); afterwards node's parser knows whether a
 * message is in progress. A socket with neither holds no request.
 */
export function requestArriving(socket: HttpSocket, fresh: boolean): boolean {
  if (fresh) return socket.bytesRead > 0;
  const parser = socket.parser;
  return typeof parser?.duration === 'function' && parser.duration() > 0;
}
