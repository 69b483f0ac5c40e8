import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { monotonicMs } from '../../core/clock';
import type { CloseReason, KnownLabelValues } from '../../core/pool-types';
import { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PooledConnection } from '../../core/pooled-connection';
import type { ByteTotals } from '../../core/pool-stats';
import type { ProtocolMetricFamily, ProtocolMetricSample } from '../../core/protocol-metrics';
import { HttpPoolConfig } from './http-config';
import { NEWEST_RESPONSE, leaveConnectionList, requestArriving, requestQueued, type HttpSocket } from './http-socket';

/** Label values of `unipool_http_requests_total{status_class}`, by `Math.floor(status / 100)`. */
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Refusals, timeouts and errors an HTTP server counts, on top of every pool's. */
export const HTTP_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze(['max_connections', 'draining', 'overloaded']),
  timeoutKinds: Object.freeze(['connection', 'idle', 'headers', 'request', 'body_linger']),
  errorTypes: Object.freeze(['handler', 'aborted', 'client_error']),
});

/**
 * A keep-alive socket that was active this recently (ms) when a drain starts is not closed at
 * once: its client may have sent its next request already (on the wire, not yet read), which a
 * close would reset, and a client that does not retry (autocannon, most non-browser clients on a
 * non-idempotent request) would count failed. It stays open this long for that request, which is
 * answered with `Connection: close`; then (if it sent none) it is closed. The same holds for a
 * connection opened this recently that has sent nothing yet: its first request may be in its
 * socket, unread. A socket idle longer is closed at drain start: no request of a busy client is on
 * its way.
 */
export const DRAIN_KEEP_ALIVE_GRACE_MS = 500;

/** Pool of HTTP/1.1 connections (one TCP socket each). Also the base of the HTTPS pool. */
export class HttpConnectionPool<C extends HttpPoolConfig = HttpPoolConfig> extends ConnectionPoolManager<Socket, C> {
  readonly protocol: string = 'http';
  /** The URL scheme of the requests this pool serves (OpenTelemetry's `url.scheme`); a getter, so a subclass can compute it from its config. */
  get urlScheme(): string {
    return 'http';
  }
  /** Responses written completely, by status class: index 1 to 5 for 1xx to 5xx, 0 for a status outside 100-599. */
  private readonly statusClasses = new Float64Array(6);
  /** Ends the drain's grace for recently active connections (one timer per drain, none otherwise). */
  private graceTimer: NodeJS.Timeout | undefined;
  /** The connections given that grace (sockets here; HTTP/2 sessions too, see `graceEnded`). */
  private graced: PooledConnection<Socket>[] = [];

  constructor(configClass: new () => C = HttpPoolConfig as new () => C) {
    super(configClass);
  }

  /**
   * @internal Ends a request whose response was written completely: counts its status class and
   * ends the unit of work, failed if the status is 5xx and `health.countHttp5xxAsError` is on.
   */
  endRequest(conn: PooledConnection<Socket>, started: number, statusCode: number, req: IncomingMessage): void {
    const cls = (statusCode / 100) | 0;
    this.statusClasses[cls >= 1 && cls <= 5 ? cls : 0]++;
    const observer = this.observer;
    if (observer === undefined) {
      this.endWork(conn, started, this.isFailure(statusCode));
      return;
    }
    const now = performance.now();
    this.endWork(conn, started, this.isFailure(statusCode), now);
    observer.httpRequest(this, req.method, statusCode, req.httpVersion, (now - started) / 1000);
  }

  /**
   * @internal Ends a request whose response was cut before it was written completely (counted
   * `aborted` by the caller): failed if its status is a failure or the pool forced the close.
   * Telemetry gets its status code only if one was sent (the headers went out).
   */
  endAbortedRequest(conn: PooledConnection<Socket>, started: number, res: ServerResponse): void {
    this.endAbortedExchange(conn, started, res.statusCode, res.headersSent ? res.statusCode : undefined, res.req);
  }

  /**
   * @internal The same for a request whose response is not a `ServerResponse` (an HTTP/2
   * stream): `statusCode` decides failure, `sentStatus` is the status the client saw, if any.
   */
  endAbortedExchange(conn: PooledConnection<Socket>, started: number, statusCode: number, sentStatus: number | undefined, req: IncomingMessage): void {
    const now = performance.now();
    this.endWork(conn, started, this.isFailure(statusCode) || conn.forced, now);
    this.observer?.httpRequest(this, req.method, sentStatus, req.httpVersion, (now - started) / 1000, 'aborted');
  }

  /** Whether a response with this status is a failed request (5xx, unless `health.countHttp5xxAsError` is off). */
  isFailure(statusCode: number): boolean {
    // `!== false`: a health block without the key (a custom config class) keeps the default.
    return statusCode >= 500 && this.config.health.countHttp5xxAsError !== false;
  }

  /** Responses by status class; a status outside 100-599 (allowed by node up to 999) as `other`, only once seen. */
  override protocolMetrics(): readonly ProtocolMetricFamily[] {
    const samples: ProtocolMetricSample[] = STATUS_CLASSES.map((status_class, i) => ({ labels: { status_class }, value: this.statusClasses[i + 1] }));
    if (this.statusClasses[0] > 0) samples.push({ labels: { status_class: 'other' }, value: this.statusClasses[0] });
    return [{ name: 'unipool_http_requests_total', help: 'HTTP responses written completely, by status class (1xx..5xx).', type: 'counter', samples }];
  }

  override knownLabelValues(): KnownLabelValues {
    return HTTP_LABEL_VALUES;
  }

  /**
   * Closes the socket once what was written is flushed. With nothing pending (an idle
   * keep-alive socket) it is destroyed at once, as node's own `closeIdleConnections` does:
   * `destroySoon` would first wait for a write shutdown round trip, which with a thousand idle
   * sockets in a drain costs tens of milliseconds.
   */
  protected closeConnection(conn: PooledConnection<Socket>, reason: CloseReason): void {
    const socket = conn.raw;
    // A drained socket whose next request is arriving (pipelined bytes received before its last
    // response ended) stays open to answer it, with `Connection: close`; `headersTimeout` bounds it.
    if (reason === 'drain' && requestArriving(socket as HttpSocket, conn.requests === 0)) return;
    // Just answered (its last response, `Connection: close`): FIN first, as node's own close
    // does, so a client that sends on regardless sees the end of the connection, not a reset.
    if (socket.writableLength === 0 && !(reason === 'drain' && conn.requests > 0 && monotonicMs() - conn.lastActivityMono < DRAIN_KEEP_ALIVE_GRACE_MS)) this.destroyIdle(conn, reason);
    else socket.destroySoon();
  }

  /**
   * Destroys a socket with nothing in flight and nothing left to write. Drained, it is also
   * removed now (counted graceful): its file descriptor is closed here (the client gets FIN),
   * and waiting for its 'close' event (one event-loop turn, then one event and one listener
   * call per socket) would only hold the drain back; that listener then finds it removed.
   */
  private destroyIdle(conn: PooledConnection<Socket>, reason: CloseReason): void {
    const socket = conn.raw;
    socket.destroy();
    if (reason === 'drain' && conn.inFlight === 0) {
      leaveConnectionList(socket as HttpSocket);
      this.remove(conn);
    }
  }

  /** Destroys a socket at once (drain deadline, forced stop); the pool removes it right after. */
  protected destroyConnection(conn: PooledConnection<Socket>): void {
    const socket = conn.raw;
    socket.destroy();
    leaveConnectionList(socket as HttpSocket);
  }

  /**
   * Drains one socket, deciding from the pool (not from node's `closeIdleConnections()`, which
   * counts a response as done once `end()` ran although its body may still be buffered):
   * - requests in flight: `Connection: close` goes on the newest one's response if its head is
   *   not out yet, so pipelined requests before it are all answered; the socket closes when its
   *   last response has been written (`endWork` -> `closeConnection`, after the flush); if the
   *   bytes of a next request have partly arrived, that one is answered too, and closes it;
   * - a request arriving (headers, or the unread body of one already answered): left to finish
   *   (it is answered with `Connection: close`) or to time out (`headersTimeout`, body linger);
   * - otherwise it holds no request (an idle keep-alive socket, a preconnect that never sent a
   *   byte): closed now, unless it was opened or served a request within
   *   `DRAIN_KEEP_ALIVE_GRACE_MS`: then it is closed at the end of that grace if its client sent
   *   nothing in it (a request sent in it is answered with `Connection: close`, which closes it).
   */
  protected override drainConnection(conn: PooledConnection<Socket>): void {
    const socket = conn.raw as HttpSocket;
    if (conn.inFlight > 0) {
      // Not if the next request's bytes are arriving already: that one gets `Connection: close` (onRequest).
      const newest = socket[NEWEST_RESPONSE];
      if (newest !== undefined && !newest.headersSent && !requestArriving(socket, false)) newest.shouldKeepAlive = false;
      return;
    }
    // Only admission (overload protection) queues requests: without it, one field read.
    if (this.admitsWork && requestQueued(socket)) {
      // Waiting for admission: served, then closed like one in flight.
      socket[NEWEST_RESPONSE]!.shouldKeepAlive = false;
      return;
    }
    if (requestArriving(socket, conn.requests === 0)) return;
    // Active within the grace before the drain started (the walk's one clock read; a pool's own read outside it).
    const now = this.drainWalkMono >= 0 ? this.drainWalkMono : monotonicMs();
    // A connection opened in the grace counts as active too: its request may be in its socket,
    // not read yet (accepted this turn; in a cluster worker, handed over by the primary just before).
    if (now - conn.lastActivityMono < DRAIN_KEEP_ALIVE_GRACE_MS) {
      this.grace(conn);
      return;
    }
    conn.closeReason = 'drain';
    // What closeConnection would check again (a request arriving, the grace) was just read: only
    // the write buffer is left. destroyIdle's drain path, inline: a call less per socket.
    if (socket.writableLength === 0) {
      socket.destroy();
      leaveConnectionList(socket);
      this.remove(conn);
    } else {
      socket.destroySoon();
    }
  }

  /** Keeps a drained connection open until the grace ends (`DRAIN_KEEP_ALIVE_GRACE_MS` from now), then `graceEnded` decides. */
  protected grace(conn: PooledConnection<Socket>): void {
    this.graced.push(conn);
    this.graceTimer ??= setTimeout(this.endDrainGrace, DRAIN_KEEP_ALIVE_GRACE_MS).unref();
  }

  /** The grace of `conn` is over: closes it if still idle (one whose request is arriving is left to finish, as at drain start). */
  protected graceEnded(conn: PooledConnection<Socket>): void {
    if (conn.inFlight > 0 || requestArriving(conn.raw as HttpSocket, conn.requests === 0)) return;
    conn.closeReason = 'drain';
    this.closeConnection(conn, 'drain');
  }

  private readonly endDrainGrace = (): void => {
    this.graceTimer = undefined;
    const graced = this.graced;
    this.graced = [];
    for (const conn of graced) if (!conn.removed) this.graceEnded(conn);
  };

  protected override peerOf(socket: Socket): { address?: string; port?: number } {
    return { address: socket.remoteAddress, port: socket.remotePort };
  }

  /**
   * Whether a request is arriving on a socket with nothing in flight: its idle timer then
   * restarts, and a connection timeout hands it over to `headersTimeout` (node's own check).
   */
  protected override receivedSinceIdle(conn: PooledConnection<Socket>): boolean {
    return requestArriving(conn.raw as HttpSocket, conn.requests === 0) || requestQueued(conn.raw as HttpSocket);
  }

  protected override addConnectionBytes(conn: PooledConnection<Socket>, totals: ByteTotals): void {
    const socket = conn.raw;
    totals.bytesIn += socket.bytesRead;
    totals.bytesOut += bytesWritten(socket);
  }
}

/**
 * `socket.bytesWritten`, without its cost when nothing is queued: node's getter copies the write
 * queue into a new array and walks it, which a drain would do once per socket; with an empty
 * queue the figure is `_bytesDispatched` (node:net's own term of that sum, a getter since v0.x).
 */
function bytesWritten(socket: Socket): number {
  const dispatched = (socket as Socket & { _bytesDispatched?: unknown })._bytesDispatched;
  return typeof dispatched === 'number' && socket.writableLength === 0 ? dispatched : socket.bytesWritten;
}
