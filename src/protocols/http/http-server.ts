import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { ManagedServer } from '../../core/managed-server';
import { ConnectionPoolEvent } from '../../core/pool-events';
import type { PooledConnection } from '../../core/pooled-connection';
import type { RejectReason } from '../../core/pool-types';
import { HttpPoolConfig } from './http-config';
import { HttpConnectionPool } from './http-connection-pool';
import { NodeHttpServer, answerClientError, connectionsCheckingInterval } from './node-server';

const CONN = Symbol('unipool.http.connection');
const REFUSED = Symbol('unipool.http.refused');
const STARTED = Symbol('unipool.http.started');

const POOL = Symbol('unipool.http.pool');

/** `_httpMessage` is the response being written on a socket (node:http, stable since v0.x). */
type TrackedSocket = Socket & { [CONN]?: PooledConnection<Socket>; [REFUSED]?: RejectReason; [POOL]?: HttpConnectionPool<HttpPoolConfig>; _httpMessage?: TrackedResponse | null };

/** How long a refused socket may take to send the request its 503 answers. */
const REFUSED_SOCKET_TIMEOUT_MS = 5000;
/** Refused sockets kept waiting for their request at once; past this a refusal is a plain close, so a flood cannot pin file descriptors. */
const MAX_PENDING_REFUSALS = 1024;

/**
 * The responses of an unipool HTTP(S) server (node's `ServerResponse` option). The request's
 * start stamp is a field set at construction, so every response has the same shape from the
 * start, and the request ends where node detaches a finished response from its socket: no
 * listener, closure or property is added per request.
 */
class TrackedResponse extends (http.ServerResponse as unknown as new (req: http.IncomingMessage, options?: object) => http.ServerResponse) {
  /** `beginWork`'s stamp while the request is tracked; -1 before and after (refusals are never tracked). */
  declare [STARTED]: number;

  // Explicit, not the default derived constructor: node passes (req, options), and forwarding them
  // by name instead of `...args` keeps constructing a response as cheap as node's own (measured).
  constructor(req: http.IncomingMessage, options?: object) {
    super(req, options);
    this[STARTED] = -1;
  }

  /** Node calls it once a response has been written completely ('finish'), before the socket serves the next one. */
  override detachSocket(socket: Socket): void {
    super.detachSocket(socket);
    const started = this[STARTED];
    if (started < 0) return;
    this[STARTED] = -1;
    const tracked = socket as TrackedSocket;
    const conn = tracked[CONN];
    if (conn !== undefined) tracked[POOL]?.endRequest(conn, started, this.statusCode);
  }
}

/**
 * Shared 'close' listener of admitted sockets ('close' fires once): no closure or once() wrapper
 * per connection. Requests not ended when their socket closes were aborted (the peer reset, or
 * the handler destroyed the response): each is counted as such. The one being written is timed
 * too; pipelined ones queued behind it never reach node's socket again, so only their count is
 * known.
 */
function onSocketClose(this: TrackedSocket): void {
  const conn = this[CONN];
  const pool = this[POOL];
  if (conn === undefined || pool === undefined) return;
  let unfinished = conn.inFlight;
  pool.remove(conn);
  const res = this._httpMessage;
  if (res instanceof TrackedResponse && res[STARTED] >= 0) {
    const started = res[STARTED];
    res[STARTED] = -1;
    unfinished--;
    pool.recordError('aborted', undefined, conn);
    pool.endWork(conn, started, pool.isFailure(res.statusCode));
  }
  for (; unfinished > 0; unfinished--) pool.recordError('aborted', undefined, conn);
}

/**
 * An HTTP/1.1 server on `node:http` whose connections `HttpConnectionPool` admits and tracks.
 * Subclass it, decorate the subclass with `@UsePool(HttpConnectionPool)`, take the config with
 * `@PoolConfig(HttpPoolConfig, 'http')`, and implement `handle`.
 */
export abstract class HttpServer<C extends HttpPoolConfig = HttpPoolConfig> extends NodeHttpServer<HttpConnectionPool<C>, C> {
  static override readonly poolType: typeof ManagedServer.poolType = HttpConnectionPool;

  /** Refused sockets waiting for their 503; the pool does not track them, so the server does. */
  private readonly refused = new Set<Socket>();

  /** Handles one admitted request. A throw or rejection becomes a 500 (if nothing was sent yet). */
  abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void | Promise<void>;

  /** Creates the node server; HTTPS overrides it. */
  protected createNodeServer(options: http.ServerOptions): http.Server {
    return http.createServer(options);
  }

  /** The event that hands over a new connection (`secureConnection` for HTTPS). */
  protected get connectionEvent(): string {
    return 'connection';
  }

  /** Timeouts mapped onto the node server; `connectionsCheckingInterval` is fine enough to enforce them promptly. */
  protected serverOptions(): http.ServerOptions {
    const c = this.config;
    const shortest = Math.min(c.headersTimeout, c.requestTimeout || c.headersTimeout);
    return {
      ServerResponse: TrackedResponse as unknown as typeof http.ServerResponse, // a subclass; the generic signature is what TS cannot see through
      keepAliveTimeout: c.keepAliveTimeout,
      headersTimeout: c.headersTimeout,
      requestTimeout: c.requestTimeout,
      connectionsCheckingInterval: connectionsCheckingInterval(shortest),
    };
  }

  /** Applies this server's own node timeouts to the node server (a reload or `updateConfig` of its section). */
  protected applyTimeouts(config: C): void {
    if (!this.server) return;
    this.server.keepAliveTimeout = config.keepAliveTimeout;
    this.server.headersTimeout = config.headersTimeout;
    this.server.requestTimeout = config.requestTimeout;
  }

  protected override applyServerConfig(_previous: C, next: C, _changed: readonly string[]): void {
    this.applyTimeouts(next);
  }

  /** Added on listen, removed on close: a pool outlives the servers that shared it. */
  private readonly onDrainStarted = (): void => this.server?.closeIdleConnections();

  async listen(): Promise<void> {
    const server = this.createNodeServer(this.serverOptions());
    this.pool.events.on(ConnectionPoolEvent.DrainStarted, this.onDrainStarted);
    server.on(this.connectionEvent, (socket: Socket) => this.onConnection(socket));
    server.on('request', this.onRequest);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    await this.bind(server);
  }

  /**
   * Offers a new connection to the pool. Returns the tracked connection, or `undefined` when
   * refused (the socket is then kept just long enough to answer 503). HTTPS extends it.
   */
  protected onConnection(socket: Socket): PooledConnection<Socket> | undefined {
    const tracked = socket as TrackedSocket;
    // No peer address here: the pool reads it (a getpeername call) only if something asks.
    const conn = this.pool.add(socket);
    if (conn === undefined) {
      this.refuse(tracked, this.pool.isDraining ? 'draining' : 'max_connections');
      return undefined;
    }
    tracked[CONN] = conn;
    tracked[POOL] = this.pool as unknown as HttpConnectionPool<HttpPoolConfig>;
    socket.on('close', onSocketClose);
    return conn;
  }

  /** Keeps a refused socket just long enough to read its request and answer 503. */
  private refuse(socket: TrackedSocket, reason: RejectReason): void {
    if (this.refused.size >= MAX_PENDING_REFUSALS) {
      socket.destroy();
      return;
    }
    socket[REFUSED] = reason;
    this.refused.add(socket);
    socket.setTimeout(REFUSED_SOCKET_TIMEOUT_MS, () => socket.destroy());
    socket.once('close', () => this.refused.delete(socket));
  }

  /** The server's 'request' listener itself (an arrow bound once per server): no forwarding frame per request. */
  private readonly onRequest = (req: http.IncomingMessage, res: TrackedResponse): void => {
    const socket = req.socket as TrackedSocket;
    const conn = socket[CONN];
    if (conn === undefined) {
      this.respondRefused(res, socket[REFUSED] ?? 'max_connections');
      return;
    }
    if (this.pool.isDraining) res.shouldKeepAlive = false;
    res[STARTED] = this.pool.beginWork(conn); // ended in TrackedResponse.detachSocket, or onSocketClose
    try {
      const result = this.handle(req, res);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) => this.onHandlerError(err, res, conn));
      }
    } catch (err) {
      this.onHandlerError(err, res, conn);
    }
  };

  private respondRefused(res: http.ServerResponse, reason: RejectReason): void {
    const body = reason === 'draining' ? 'server is shutting down\n' : 'server is at its connection limit\n';
    res.writeHead(503, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Retry-After': String(this.config.retryAfter), // this server's own section, live updates included
      Connection: 'close',
    });
    res.end(body);
  }

  private onHandlerError(err: unknown, res: http.ServerResponse, conn: PooledConnection<Socket>): void {
    this.pool.recordError('handler', err instanceof Error ? err : new Error(String(err)), conn);
    this.logger?.error({ protocol: this.pool.protocol, err }, 'request handler failed');
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end('internal server error\n');
    } else {
      res.destroy();
    }
  }

  /** Malformed requests and slow headers: counted, answered as node would, socket closed. */
  /** Malformed requests and slow headers on an established connection (HTTPS overrides it to skip failed handshakes). */
  protected onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    this.answerClientError(err, socket as TrackedSocket);
  }

  private answerClientError(err: NodeJS.ErrnoException, socket: TrackedSocket): void {
    const conn = socket[CONN];
    const code = err.code ?? 'unknown';
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') this.pool.recordTimeout(conn && conn.inFlight > 0 ? 'request' : 'headers', conn);
    else if (code !== 'ECONNRESET') this.pool.recordError('client_error', err, conn);
    answerClientError(err, socket);
  }

  protected override releaseUntracked(): void {
    this.pool.events.off(ConnectionPoolEvent.DrainStarted, this.onDrainStarted);
    for (const socket of this.refused) socket.destroy();
    this.refused.clear();
  }
}
