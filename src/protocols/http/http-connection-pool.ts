import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CloseReason, KnownLabelValues } from '../../core/pool-types';
import { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PooledConnection } from '../../core/pooled-connection';
import type { ProtocolMetricFamily, ProtocolMetricSample } from '../../core/protocol-metrics';
import { HttpPoolConfig } from './http-config';
import { NEWEST_RESPONSE, requestArriving, type HttpSocket } from './http-socket';

/** Label values of `unipool_http_requests_total{status_class}`, by `Math.floor(status / 100)`. */
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Refusals, timeouts and errors an HTTP server counts, on top of every pool's. */
export const HTTP_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze(['max_connections', 'draining']),
  timeoutKinds: Object.freeze(['connection', 'idle', 'headers', 'request', 'body_linger']),
  errorTypes: Object.freeze(['handler', 'aborted', 'client_error']),
});

/** Pool of HTTP/1.1 connections (one TCP socket each). Also the base of the HTTPS pool. */
export class HttpConnectionPool<C extends HttpPoolConfig = HttpPoolConfig> extends ConnectionPoolManager<Socket, C> {
  readonly protocol: string = 'http';
  /** The URL scheme of the requests this pool serves (OpenTelemetry's `url.scheme`); a getter, so a subclass can compute it from its config. */
  get urlScheme(): string {
    return 'http';
  }
  /** Responses written completely, by status class: index 1 to 5 for 1xx to 5xx, 0 for a status outside 100-599. */
  private readonly statusClasses = new Float64Array(6);

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
   */
  endAbortedRequest(conn: PooledConnection<Socket>, started: number, statusCode: number, req: IncomingMessage): void {
    const now = performance.now();
    this.endWork(conn, started, this.isFailure(statusCode) || conn.forced, now);
    this.observer?.httpRequest(this, req.method, statusCode, req.httpVersion, (now - started) / 1000, 'aborted');
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
    if (socket.writableLength === 0) socket.destroy();
    else socket.destroySoon();
  }

  protected destroyConnection(conn: PooledConnection<Socket>): void {
    conn.raw.destroy();
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
   *   byte): closed now.
   */
  protected override drainConnection(conn: PooledConnection<Socket>): void {
    const socket = conn.raw as HttpSocket;
    if (conn.inFlight > 0) {
      // Not if the next request's bytes are arriving already: that one gets `Connection: close` (onRequest).
      const newest = socket[NEWEST_RESPONSE];
      if (newest !== undefined && !newest.headersSent && !requestArriving(socket, false)) newest.shouldKeepAlive = false;
      return;
    }
    if (requestArriving(socket, conn.requests === 0)) return;
    conn.closeReason = 'drain';
    this.closeConnection(conn, 'drain');
  }

  protected override peerOf(socket: Socket): { address?: string; port?: number } {
    return { address: socket.remoteAddress, port: socket.remotePort };
  }

  /**
   * Whether a request is arriving on a socket with nothing in flight: its idle timer then
   * restarts, and a connection timeout hands it over to `headersTimeout` (node's own check).
   */
  protected override receivedSinceIdle(conn: PooledConnection<Socket>): boolean {
    return requestArriving(conn.raw as HttpSocket, conn.requests === 0);
  }

  protected override connectionBytes(conn: PooledConnection<Socket>): [number, number] {
    return [conn.raw.bytesRead, conn.raw.bytesWritten];
  }
}
