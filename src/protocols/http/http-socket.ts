import type { Socket } from 'node:net';

/** The newest response created on a socket: the one a drain puts `Connection: close` on. */
export const NEWEST_RESPONSE = Symbol('unipool.http.newestResponse');

/** Requests of a socket waiting in the admission queue now (overload protection); unset until one waits. */
export const QUEUED_HERE = Symbol('unipool.http.queuedHere');

/** What the pool reads of a response node is writing or has queued. */
export interface ResponseHead {
  readonly headersSent: boolean;
  shouldKeepAlive: boolean;
  /** When its request entered the admission queue (overload protection); -1 when it is not waiting there. */
  readonly waitingSince?: number;
}

/**
 * A server socket as node:http leaves it: `parser` is the socket's HTTP parser (set by node:http
 * while the socket serves HTTP), whose `duration()` (the clock node's own headers and request
 * timeouts read) is 0 between messages and the time since the current message's first byte
 * otherwise.
 */
export type HttpSocket = Socket & {
  [NEWEST_RESPONSE]?: ResponseHead | undefined;
  [QUEUED_HERE]?: number;
  parser?: { duration?: () => number; remove?: () => void } | null;
};

/**
 * Takes a destroyed socket off node:http's own list of connections now instead of at its 'close'
 * event (an event-loop turn later). `server.close()` and `closeAllConnections()` walk that list:
 * after a drain that destroyed a thousand idle sockets, the server's close would walk a thousand
 * dead entries twice (and destroy each again). `parser.remove()` is what node's `freeParser` calls
 * at 'close'; called again there, it finds nothing to remove.
 */
export function leaveConnectionList(socket: HttpSocket): void {
  const parser = socket.parser;
  if (parser != null && typeof parser.remove === 'function') parser.remove();
}

/**
 * Whether bytes of a request that has not reached the handler yet have arrived on `socket`:
 * headers still coming, or the body of a request already answered. On a socket that has
 * served no request, any byte read is one (`fresh`); afterwards node's parser knows whether a
 * message is in progress. A socket with neither holds no request.
 */
/**
 * Whether a request of `socket` waits in the admission queue: not in flight yet, but its
 * connection is busy (a drain or an idle timeout must not close it under the request). Counted
 * per socket: with pipelining an older request may wait while a newer one was shed.
 */
export function requestQueued(socket: HttpSocket): boolean {
  const queued = socket[QUEUED_HERE];
  return queued !== undefined && queued > 0;
}

export function requestArriving(socket: HttpSocket, fresh: boolean): boolean {
  if (fresh) return socket.bytesRead > 0;
  const parser = socket.parser;
  return typeof parser?.duration === 'function' && parser.duration() > 0;
}
