import * as http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer as WsServer, type RawData } from 'ws';
import type { ServerPoolSettings } from '../../config/pool-config';
import type { PooledConnection } from '../../core/pooled-connection';
import type { PoolConfigOf } from '../../core/managed-server';
import { NodeHttpServer, answerClientError, connectionsCheckingInterval } from '../http/node-server';
import { WebSocketPoolConfig } from './ws-config';
import { WebSocketConnectionPool, type BroadcastFilter, type BroadcastResult, type WebSocketData } from './ws-connection-pool';
import { WS_CLOSE, WS_CLOSE_REASON, WS_ERROR, WS_ERR_MESSAGE_TOO_BIG, WS_TIMEOUT } from './ws-constants';
import { PoolWebSocket } from './pool-web-socket';

/** `ws` server options, plus `closeTimeout`, which `ws` 8 reads but `@types/ws` does not declare. */
type WsServerOptions = NonNullable<ConstructorParameters<typeof WsServer>[0]> & { closeTimeout?: number };

const CONN = Symbol('unipool.ws.connection');
const OWNER = Symbol('unipool.ws.owner');

type TrackedWebSocket = WebSocket & { [CONN]: PooledConnection<WebSocket>; [OWNER]: WebSocketServer };

/** Keep-alive of plain HTTP requests on the WebSocket port (they only ever get 404 or 426). */
const PLAIN_HTTP_KEEP_ALIVE_MS = 5000;

function payloadLength(data: RawData): number {
  if (Array.isArray(data)) {
    let n = 0;
    for (const chunk of data) n += chunk.length;
    return n;
  }
  return data.byteLength; // Buffer and ArrayBuffer alike, without a prototype-chain walk
}

// Shared listeners of every socket (`this` is the socket): one function each for all connections.
function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const ws = this as TrackedWebSocket;
  ws[OWNER].dispatchMessage(ws, data, isBinary);
}
function onSocketPong(this: WebSocket): void {
  const ws = this as TrackedWebSocket;
  ws[OWNER].pool.recordPong(ws[CONN]);
}
function onSocketError(this: WebSocket, err: Error & { code?: string }): void {
  const ws = this as TrackedWebSocket;
  const pool = ws[OWNER].pool;
  if (err.code === WS_ERR_MESSAGE_TOO_BIG) pool.recordOversized(ws[CONN], err);
  else pool.recordError(WS_ERROR.protocol, err, ws[CONN]);
}
function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  const ws = this as TrackedWebSocket;
  const owner = ws[OWNER];
  owner.pool.recordClose(ws[CONN], code);
  owner.dispatchClose(ws, code, reason);
}

function ignoreError(): void {}

/** Sockets beyond maxConnections that may wait for their upgrade at once. */
const MAX_PENDING_UPGRADES = 1024;

/** TCP connections the node server accepts: the pool's limit plus room for upgrades in progress (refused ones get their 503). */
function socketCap(config: ServerPoolSettings): number {
  return config.maxConnections + MAX_PENDING_UPGRADES;
}

/** How long a refused upgrade may take to flush its answer before the socket is destroyed. */
const REJECTED_UPGRADE_TIMEOUT_MS = 5000;

/** Writes a complete HTTP response on a socket that will never be upgraded, then closes it. */
function rejectUpgrade(socket: Duplex, status: number, headers: Record<string, string>, body: string): void {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  // node dropped its own 'error' and timeout handling when it handed over the upgrade: a peer
  // that resets now must not become an unhandled 'error' (a process crash), nor hang here.
  socket.on('error', ignoreError);
  setTimeout(() => socket.destroy(), REJECTED_UPGRADE_TIMEOUT_MS).unref();
  socket.once('finish', socket.destroy);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const cut = raw.search(/[?#]/);
  return cut === -1 ? raw : raw.slice(0, cut);
}

/**
 * A WebSocket server: `ws` in `noServer` mode on its own `node:http` server, whose upgrades
 * `WebSocketConnectionPool` admits (or refuses with 503 before the handshake) and tracks.
 * Subclass it, decorate the subclass with `@UsePool(WebSocketConnectionPool)`, and implement
 * `onMessage`; it reads the `ws` section (`@PoolConfig(WebSocketPoolConfig, 'ws')` in a
 * constructor if you want one). `WebSocketServer<MyPool>` declares a pool subclass.
 */
export abstract class WebSocketServer<P extends WebSocketConnectionPool = WebSocketConnectionPool, C extends WebSocketPoolConfig = PoolConfigOf<P>> extends NodeHttpServer<P, C> {
  static override readonly poolType = WebSocketConnectionPool;
  static override readonly configSection: string | undefined = 'ws';

  /** The `ws` server (no listener of its own, no client tracking: the pool tracks). */
  protected wss: WsServer | undefined;

  /** Handles one message. A throw or rejection is counted as a failed message (the connection stays). */
  abstract onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void | Promise<void>;

  /** Called once a client is admitted and its handshake done. */
  onConnection?(socket: WebSocket, req: http.IncomingMessage): void;

  /** Called when an admitted client's connection has closed (`code` 1006: no close frame). */
  onClose?(socket: WebSocket, code: number, reason: Buffer): void;

  /** Sends one counted message to `socket`; false if it is not open or its send buffer is over `maxBufferedAmount`. */
  send(socket: WebSocket, data: WebSocketData, isBinary?: boolean): boolean {
    const conn = (socket as TrackedWebSocket)[CONN];
    return conn !== undefined && this.pool.send(conn, data, isBinary);
  }

  /** Sends one message, framed once, to every open client (or those `filter` keeps). */
  broadcast(data: WebSocketData, filter?: BroadcastFilter, isBinary?: boolean): BroadcastResult {
    return this.pool.broadcast(data, filter, isBinary);
  }

  /** The upgrade request is the only request a client sends before the handshake, so both node timeouts are `handshakeTimeout`. */
  protected serverOptions(config: WebSocketPoolConfig): http.ServerOptions {
    return {
      headersTimeout: config.handshakeTimeout,
      requestTimeout: config.handshakeTimeout,
      keepAliveTimeout: PLAIN_HTTP_KEEP_ALIVE_MS,
      connectionsCheckingInterval: connectionsCheckingInterval(config.handshakeTimeout),
    };
  }

  /** Options of the `ws` server (`closeTimeout` is the pool's, shared by the servers on it). */
  protected webSocketOptions(config: WebSocketPoolConfig): WsServerOptions {
    return {
      noServer: true,
      clientTracking: false,
      // Remembers the close code the server sends, for `unipool_ws_close_total`.
      WebSocket: PoolWebSocket,
      perMessageDeflate: false,
      maxPayload: config.maxPayload,
      closeTimeout: this.pool.config.closeTimeout,
    };
  }

  /** This server's own keys (handshake timeout, `maxPayload`); path and `retryAfter` are read per upgrade. */
  protected override applyServerConfig(_previous: C, next: C, _changed: readonly string[]): void {
    if (this.server) {
      this.server.headersTimeout = next.handshakeTimeout;
      this.server.requestTimeout = next.handshakeTimeout;
    }
    // Read by `ws` for each new connection; live ones keep the limits they started with.
    if (this.wss) this.wss.options.maxPayload = next.maxPayload;
  }

  /** The socket cap follows the pool's `maxConnections`, `ws`'s close deadline its `closeTimeout`. */
  override applyPoolConfig(previous: ServerPoolSettings, next: ServerPoolSettings): void {
    super.applyPoolConfig(previous, next);
    if (this.server) this.server.maxConnections = socketCap(next);
    if (this.wss) (this.wss.options as WsServerOptions).closeTimeout = (next as WebSocketPoolConfig).closeTimeout;
  }

  async listen(): Promise<void> {
    const config = this.config;
    const server = http.createServer(this.serverOptions(config));
    this.wss = new WsServer(this.webSocketOptions(config));
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onPlainRequest(req, res));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    // Sockets still before their upgrade are not pool connections yet: node drops TCP
    // connections past this cap (a flood of silent connects cannot exhaust file descriptors),
    // and each drop is counted as a refusal.
    server.maxConnections = socketCap(this.pool.config);
    server.on('drop', () => this.pool.reject('handshake_backlog'));
    await this.bind(server);
  }

  /**
   * Admission happens here, before the handshake: a wrong path gets 404, a full or draining pool
   * 503 + Retry-After. `handleUpgrade` completes synchronously (no `verifyClient`, no
   * compression), so the check and the `add` in `onUpgraded` cannot interleave with another upgrade.
   */
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const config = this.config;
    const address = req.socket.remoteAddress;
    if (pathOf(req.url) !== config.path) {
      this.pool.reject('bad_path', address);
      rejectUpgrade(socket, 404, {}, 'not found\n');
      return;
    }
    const refusal = this.pool.admissionRefusal();
    if (refusal !== undefined) {
      this.pool.reject(refusal, address);
      const body = refusal === 'draining' ? 'server is shutting down\n' : 'server is at its connection limit\n';
      rejectUpgrade(socket, 503, { 'Retry-After': String(config.retryAfter) }, body);
      return;
    }
    (this.wss as WsServer).handleUpgrade(req, socket, head, (ws) => this.onUpgraded(ws, req));
  }

  private onUpgraded(ws: WebSocket, req: http.IncomingMessage): void {
    const conn = this.pool.add(ws, req.socket.remoteAddress, req.socket.remotePort);
    if (conn === undefined) {
      ws.on('error', ignoreError);
      ws.close(WS_CLOSE.tryAgainLater, WS_CLOSE_REASON.full);
      return;
    }
    const tracked = ws as TrackedWebSocket;
    tracked[CONN] = conn;
    tracked[OWNER] = this as unknown as WebSocketServer;
    ws.on('message', onSocketMessage);
    ws.on('pong', onSocketPong);
    ws.on('error', onSocketError);
    ws.on('close', onSocketClose);
    if (this.onConnection) {
      try {
        this.onConnection(ws, req);
      } catch (err) {
        this.onHandlerError(err, conn, 'connection handler failed');
      }
    }
  }

  /** @internal Runs `onMessage` for one message, counted and timed. */
  dispatchMessage(ws: TrackedWebSocket, data: RawData, isBinary: boolean): void {
    const conn = ws[CONN];
    const pool = this.pool;
    pool.recordMessageIn(conn, payloadLength(data));
    // A handler that returns without a promise is recorded in one step afterwards; one that
    // returns a promise enters in-flight state from the same start stamp.
    const started = performance.now();
    let result: void | Promise<void>;
    try {
      result = this.onMessage(ws, data, isBinary);
    } catch (err) {
      this.onHandlerError(err, conn, 'message handler failed');
      pool.recordSyncWork(conn, started, true);
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      pool.beginWork(conn, started);
      (result as Promise<void>).then(
        () => pool.endWork(conn, started, false),
        (err: unknown) => {
          this.onHandlerError(err, conn, 'message handler failed');
          pool.endWork(conn, started, true);
        },
      );
    } else {
      pool.recordSyncWork(conn, started, false);
    }
  }

  /** @internal Runs `onClose` for a finished connection. */
  dispatchClose(ws: TrackedWebSocket, code: number, reason: Buffer): void {
    if (!this.onClose) return;
    try {
      this.onClose(ws, code, reason);
    } catch (err) {
      this.onHandlerError(err, ws[CONN], 'close handler failed');
    }
  }

  private onHandlerError(err: unknown, conn: PooledConnection<WebSocket>, msg: string): void {
    this.pool.recordError(WS_ERROR.handler, err instanceof Error ? err : new Error(String(err)), conn);
    this.logger?.error({ protocol: this.pool.protocol, connection: conn.id, err }, msg);
  }

  /** A plain request on the WebSocket port: 426 on the WebSocket path, 404 elsewhere. */
  private onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const upgradePath = pathOf(req.url) === this.config.path;
    const body = upgradePath ? 'this path accepts WebSocket upgrades only\n' : 'not found\n';
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) };
    if (upgradePath) headers.Upgrade = 'websocket';
    res.writeHead(upgradePath ? 426 : 404, headers);
    res.end(body);
  }

  /** A malformed or too slow upgrade request: counted, answered as node would, socket closed. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') this.pool.recordTimeout(WS_TIMEOUT.handshake);
    else if (err.code !== 'ECONNRESET') this.pool.recordError(WS_ERROR.handshake, err);
    answerClientError(err, socket);
  }

  /** Upgraded sockets are the pool's; the `ws` server holds nothing but its state. */
  protected override releaseUntracked(): void {
    this.wss?.close();
  }
}
