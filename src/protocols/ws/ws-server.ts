import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer as WsServer, type RawData } from 'ws';
import type { ServerPoolSettings } from '../../config/pool-config';
import type { ManagedServer } from '../../core/managed-server';
import type { PooledConnection } from '../../core/pooled-connection';
import type { PoolConfigOf } from '../../core/managed-server';
import { ConfigValidationError, type ConfigProblem } from '../../errors';
import type { OverloadConfig } from '../../overload/overload-config';
import type { ShedReason } from '../../overload/shed-reason';
import { criticalPathMatcher, type WorkPriority } from '../../overload/work-priority';
import { HttpServer } from '../http/http-server';
import { NodeHttpServer, answerClientError, connectionsCheckingInterval } from '../http/node-server';
import { pathOf, rejectUpgrade } from '../http/upgrade-request';
import { WebSocketPoolConfig } from './ws-config';
import { WebSocketConnectionPool, type BroadcastFilter, type BroadcastResult, type WebSocketData } from './ws-connection-pool';
import { WS_CLOSE, WS_CLOSE_REASON, WS_ERROR, WS_ERR_MESSAGE_TOO_BIG, WS_REMOVE_REASON, WS_SHED_CLOSE_REASON, WS_TIMEOUT } from './ws-constants';
import { PoolWebSocket } from './pool-web-socket';
import { ArrivingConnections } from '../http/arriving-connections';
import { DRAIN_KEEP_ALIVE_GRACE_MS } from '../http/http-connection-pool';

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

/** A refusal of an upgrade: the HTTP status (4xx or 5xx) and headers of the answer. */
export interface UpgradeRefusal {
  status: number;
  headers?: Readonly<Record<string, string>>;
}

/** What `authorizeUpgrade` decides: `true` goes on to admission, `false` is answered 401, a refusal as it says. */
export type UpgradeVerdict = boolean | UpgradeRefusal;

/** Keys of a `ws` section that only a restart can change. */
const WS_RESTART_KEYS: ReadonlySet<string> = new Set(['host', 'port', 'attachTo']);

function isThenable(value: unknown): value is PromiseLike<UpgradeVerdict> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** The status and headers of a refusal verdict, or why it is not a valid one (a bug of `authorizeUpgrade`). */
function refusalOf(verdict: unknown): { status: number; headers: Readonly<Record<string, string>> } | Error {
  if (verdict === null || typeof verdict !== 'object') return { status: 401, headers: {} };
  const { status, headers = {} } = verdict as UpgradeRefusal;
  if (!Number.isInteger(status) || status < 400 || status > 599) return new Error(`authorizeUpgrade refused with status ${String(status)}: a refusal needs a 4xx or 5xx status`);
  try {
    for (const [name, value] of Object.entries(headers)) {
      http.validateHeaderName(name);
      http.validateHeaderValue(name, value);
    }
  } catch (err) {
    return err as Error;
  }
  return { status, headers };
}

/** `path` of a section attached to `hostSection` is the route of another server there. */
function pathTaken(path: string, hostSection: string): ConfigProblem {
  return { path: 'path', rule: 'attachTo', message: `is already taken on the port of section '${hostSection}' by another WebSocket server`, value: path };
}

/** Body of a 503 refusal at admission. */
function admissionRefusalBody(reason: string): string {
  if (reason === 'max_connections') return 'server is at its connection limit\n';
  if (reason === 'overloaded') return 'server is overloaded: refusing new connections (overloaded)\n';
  return reason === 'draining' ? 'server is shutting down\n' : 'server is not listening yet\n';
}

/**
 * A WebSocket server: `ws` in `noServer` mode on its own `node:http` server, or on the port of
 * an HTTP/HTTPS server of the app (`attachTo`), whose upgrades `authorizeUpgrade` may refuse
 * and `WebSocketConnectionPool` admits (or refuses with 503 before the handshake) and tracks.
 * Subclass it, decorate the subclass with `@UsePool(WebSocketConnectionPool)`, and implement
 * `onMessage`; it reads the `ws` section (`@PoolConfig(WebSocketPoolConfig, 'ws')` in a
 * constructor if you want one). `WebSocketServer<MyPool>` declares a pool subclass.
 */
export abstract class WebSocketServer<P extends WebSocketConnectionPool = WebSocketConnectionPool, C extends WebSocketPoolConfig = PoolConfigOf<P>> extends NodeHttpServer<P, C> {
  static override readonly poolType = WebSocketConnectionPool;
  static override readonly configSection: string | undefined = 'ws';

  /** The `ws` server (no listener of its own, no client tracking: the pool tracks). */
  protected wss: WsServer | undefined;
  /** The HTTP/HTTPS server whose port takes this server's upgrades (`attachTo`), if attached. */
  private host: HttpServer | undefined;
  /** Upgrades waiting for an asynchronous `authorizeUpgrade`, with the timer that bounds the wait. */
  private readonly pendingUpgrades = new Map<Duplex, NodeJS.Timeout>();
  /** Connections of the own listener on their way to an upgrade (answered, not cut, at close). */
  private readonly arriving = new ArrivingConnections();
  /** `overload` block and path `pathCritical` was worked out for (both change only with the config). */
  private criticalOf: Readonly<OverloadConfig> | undefined;
  private criticalPathOf = '';
  private pathCritical = false;

  /** Handles one message. A throw or rejection is counted as a failed message (the connection stays). */
  abstract onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void | Promise<void>;

  /**
   * Decides whether an upgrade request may go on to admission; runs before the pool is asked, on
   * the WebSocket path only. `true` goes on; `false` (or anything else that is not a refusal
   * object) is answered `401`; `{ status, headers }` is answered with that status (4xx or 5xx)
   * and headers (`Connection`, `Content-Length` and `Content-Type` are the refusal's own). Each
   * refusal is counted as `reason="unauthorized"`. A promise is awaited at most
   * `handshakeTimeout` (then `503`, counted as timeout `handshake`); a throw or rejection is
   * answered `500` and counted as a `handler` error. Default: every upgrade may go on.
   */
  authorizeUpgrade(_req: http.IncomingMessage): UpgradeVerdict | Promise<UpgradeVerdict> {
    return true;
  }

  /**
   * Priority of one message under overload protection (called only when the pool's `overload`
   * block sets a limiter or a pressure signal, before the handler): `critical` messages are shed
   * last (never for pressure, limited by `maxLimit` alone). Default: `critical` when this
   * server's `path` is in `overload.criticalPaths`, else `normal`.
   */
  priority(_socket: WebSocket, _data: RawData, _isBinary: boolean): WorkPriority {
    return this.criticalPath() ? 'critical' : 'normal';
  }

  /**
   * Priority of an upgrade request (on this server's path, authorised), asked only when overload
   * would refuse it (pressure level `RefuseConnections` or above): a `critical` upgrade is
   * admitted all the same (`maxConnections` and a drain still refuse it). Default: `critical`
   * when this server's `path` is in `overload.criticalPaths`, else `normal`.
   */
  upgradePriority(_req: http.IncomingMessage): WorkPriority {
    return this.criticalPath() ? 'critical' : 'normal';
  }

  /** Whether `path` is one of `overload.criticalPaths`, worked out again only when either changed. */
  private criticalPath(): boolean {
    const overload = this.pool.overloadConfig;
    const path = this.config.path;
    if (overload !== this.criticalOf || path !== this.criticalPathOf) {
      this.criticalOf = overload;
      this.criticalPathOf = path;
      this.pathCritical = criticalPathMatcher(overload.criticalPaths)(path);
    }
    return this.pathCritical;
  }

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

  protected override restartKeys(): ReadonlySet<string> {
    return WS_RESTART_KEYS;
  }

  /**
   * This server's own keys (handshake timeout, `maxPayload`); path and `retryAfter` are read per
   * upgrade. Attached, a new path moves its route on the host (refused if another server has it).
   */
  protected override applyServerConfig(previous: C, next: C, _changed: readonly string[]): void {
    const host = this.host;
    if (host && next.path !== previous.path) {
      if (!host.addUpgradeRoute(next.path, this.onUpgrade)) {
        const problem = pathTaken(next.path, next.attachTo as string);
        throw new ConfigValidationError([{ ...problem, path: `${this.sectionName}.${problem.path}` }], 'updateConfig');
      }
      host.removeUpgradeRoute(previous.path, this.onUpgrade);
    }
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

  override attachedTo(): string | undefined {
    return this.config.attachTo ?? undefined;
  }

  /** Takes upgrades on `config.path` of `host`'s port, which must be an HTTP or HTTPS server's. */
  override attachHost(host: ManagedServer, hostSection: string): ConfigProblem | undefined {
    if (!(host instanceof HttpServer)) {
      return { path: 'attachTo', rule: 'attachTo', message: `names section '${hostSection}', read by ${host.name}, which is not an HTTP or HTTPS server (attachTo takes the section of an HttpServer or HttpsServer of the app)`, value: hostSection };
    }
    if (!host.addUpgradeRoute(this.config.path, this.onUpgrade)) return pathTaken(this.config.path, hostSection);
    this.host = host;
    return undefined;
  }

  async listen(): Promise<void> {
    const config = this.config;
    this.wss = new WsServer(this.webSocketOptions(config));
    if (this.host) {
      // The host's listener is this server's: nothing to bind.
      this.pool.attachServer(this);
      this.pool.setListening(true);
      return;
    }
    const server = http.createServer(this.serverOptions(config));
    server.on('upgrade', this.onUpgrade);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onPlainRequest(req, res));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    // Sockets still before their upgrade are not pool connections yet: node drops TCP
    // connections past this cap (a flood of silent connects cannot exhaust file descriptors),
    // and each drop is counted as a refusal.
    server.maxConnections = socketCap(this.pool.config);
    server.on('drop', () => this.pool.reject('handshake_backlog'));
    server.on('connection', this.arriving.accepted);
    await this.bind(server);
  }

  override async stopAccepting(): Promise<void> {
    if (this.host) this.pool.setListening(false); // the host stops its own listener
    else await super.stopAccepting();
  }

  override async close(): Promise<void> {
    const host = this.host;
    if (!host) {
      // A connection accepted just before the listener closed may carry an upgrade request not
      // read yet: it gets the drain grace to send it (answered 503, shutting down) before node's
      // close cuts every connection left.
      // (Not in a forced stop: that cuts at once.)
      if (!this.pool.wasForced) await this.arriving.settle(DRAIN_KEEP_ALIVE_GRACE_MS);
      return super.close();
    }
    host.removeUpgradeRoute(this.config.path, this.onUpgrade);
    this.pool.setListening(false);
    this.pool.detachServer(this);
    this.releaseUntracked();
  }

  override address(): AddressInfo | undefined {
    return this.host ? this.host.address() : super.address();
  }

  /**
   * An upgrade request, on this server's port or routed here by the host it is attached to. A
   * wrong path gets 404; then `authorizeUpgrade` decides (see there), then admission.
   */
  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.arriving.arrived(socket);
    if (pathOf(req.url) !== this.config.path) {
      this.pool.reject('bad_path', req.socket.remoteAddress);
      rejectUpgrade(socket, 404, {}, 'not found\n');
      return;
    }
    let verdict: UpgradeVerdict | PromiseLike<UpgradeVerdict>;
    try {
      verdict = this.authorizeUpgrade(req);
    } catch (err) {
      this.authorizeFailed(socket, err);
      return;
    }
    if (isThenable(verdict)) this.awaitVerdict(req, socket, head, verdict);
    else this.decide(req, socket, head, verdict);
  };

  /**
   * Waits for an asynchronous verdict, at most `handshakeTimeout`: node no longer bounds the
   * socket once it handed it over, so without this a promise that never settles would hold it.
   */
  private awaitVerdict(req: http.IncomingMessage, socket: Duplex, head: Buffer, verdict: PromiseLike<UpgradeVerdict>): void {
    socket.on('error', ignoreError); // a reset while waiting must not crash the process
    const timer = setTimeout(() => {
      if (!this.endWait(socket) || socket.destroyed) return;
      this.pool.recordTimeout(WS_TIMEOUT.handshake);
      rejectUpgrade(socket, 503, { 'Retry-After': String(this.config.retryAfter) }, 'authorization did not complete in time\n');
    }, this.config.handshakeTimeout);
    this.pendingUpgrades.set(socket, timer);
    verdict.then(
      (value) => {
        if (this.endWait(socket) && !socket.destroyed) this.decide(req, socket, head, value);
      },
      (err: unknown) => {
        if (this.endWait(socket) && !socket.destroyed) this.authorizeFailed(socket, err);
      },
    );
  }

  /** Ends the wait for `socket`'s verdict; false if it was already over (timed out, or released by `close`). */
  private endWait(socket: Duplex): boolean {
    const timer = this.pendingUpgrades.get(socket);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.pendingUpgrades.delete(socket);
    socket.off('error', ignoreError);
    return true;
  }

  private decide(req: http.IncomingMessage, socket: Duplex, head: Buffer, verdict: UpgradeVerdict): void {
    if (verdict === true) {
      this.admit(req, socket, head);
      return;
    }
    const refusal = refusalOf(verdict);
    if (refusal instanceof Error) {
      this.authorizeFailed(socket, refusal);
      return;
    }
    this.pool.reject('unauthorized', req.socket.remoteAddress);
    rejectUpgrade(socket, refusal.status, refusal.headers, `${(http.STATUS_CODES[refusal.status] ?? 'refused').toLowerCase()}\n`);
  }

  private authorizeFailed(socket: Duplex, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.pool.recordError(WS_ERROR.handler, error);
    this.logger?.error({ protocol: this.pool.protocol, err: error }, 'authorizeUpgrade failed');
    rejectUpgrade(socket, 500, {}, 'internal server error\n');
  }

  /**
   * Admission, before the handshake: a full or draining pool gets 503 + Retry-After (`retryAfter`),
   * an overloaded one (pressure level `RefuseConnections` or `ShedWork`) 503 + Retry-After
   * (`overload.shed.retryAfter`, none if 0) unless `upgradePriority` says `critical`.
   * `handleUpgrade` completes synchronously (no `verifyClient`, no compression), so the check and
   * the `add` in `onUpgraded` cannot interleave with another upgrade.
   */
  private admit(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const wss = this.wss;
    let refusal = wss === undefined ? 'not_listening' : this.pool.admissionRefusal();
    let priority: WorkPriority = 'normal';
    if (refusal === 'overloaded' && this.priorityOfUpgrade(req) === 'critical') {
      refusal = undefined;
      priority = 'critical';
    }
    if (refusal !== undefined) {
      this.pool.reject(refusal, req.socket.remoteAddress);
      rejectUpgrade(socket, 503, this.refusalHeaders(refusal), admissionRefusalBody(refusal));
      return;
    }
    (wss as WsServer).handleUpgrade(req, socket, head, (ws) => this.onUpgraded(ws, req, priority));
  }

  /** `Retry-After` of a 503 at admission: the overload block's for overload (none if 0), else the section's. */
  private refusalHeaders(refusal: string): Record<string, string> {
    if (refusal !== 'overloaded') return { 'Retry-After': String(this.config.retryAfter) };
    const retryAfter = this.pool.overloadConfig.shed.retryAfter;
    return retryAfter > 0 ? { 'Retry-After': String(retryAfter) } : {};
  }

  private onUpgraded(ws: WebSocket, req: http.IncomingMessage, priority: WorkPriority): void {
    const conn = this.pool.add(ws, req.socket.remoteAddress, req.socket.remotePort, priority);
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

  /**
   * @internal Runs `onMessage` for one message, counted and timed. Under overload protection
   * the message is a unit of work admitted first: one over the limit (or shed for pressure) is
   * not queued, since a message that waited while later ones of its connection ran would lose its
   * order; it is shed at once (`shedMessage`).
   */
  dispatchMessage(ws: TrackedWebSocket, data: RawData, isBinary: boolean): void {
    const conn = ws[CONN];
    const pool = this.pool;
    pool.recordMessageIn(conn, payloadLength(data));
    // A handler that returns without a promise is recorded in one step afterwards; one that
    // returns a promise enters in-flight state from the same start stamp.
    const started = performance.now();
    if (pool.admitsWork) {
      // Without a waiter the answer is 'admit' or the reason it is shed, never 'queued'.
      const outcome = pool.admitWork(null, this.messagePriority(ws, data, isBinary), started);
      if (outcome !== 'admit') {
        this.shedMessage(ws, outcome as ShedReason);
        return;
      }
    }
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

  /** `upgradePriority()`, and `normal` if it throws (counted and logged as a handler error). */
  private priorityOfUpgrade(req: http.IncomingMessage): WorkPriority {
    try {
      return this.upgradePriority(req);
    } catch (err) {
      this.pool.recordError(WS_ERROR.handler, err instanceof Error ? err : new Error(String(err)));
      this.logger?.error({ protocol: this.pool.protocol, err }, 'upgradePriority() failed');
      return 'normal';
    }
  }

  /** `priority()`, and `normal` if it throws (counted and logged as a handler error). */
  private messagePriority(ws: TrackedWebSocket, data: RawData, isBinary: boolean): WorkPriority {
    try {
      return this.priority(ws, data, isBinary);
    } catch (err) {
      this.onHandlerError(err, ws[CONN], 'priority() failed');
      return 'normal';
    }
  }

  /**
   * A message shed by overload protection: its handler does not run (the controller counted it,
   * the pool counts `messagesShed`). With `overload.closeOnShed` its connection is closed with
   * 1013 (Try Again Later) and a reason naming the cause; else it stays open.
   */
  private shedMessage(ws: TrackedWebSocket, reason: ShedReason): void {
    const conn = ws[CONN];
    this.pool.recordMessageShed(conn);
    if (!this.pool.overloadConfig.closeOnShed || ws.readyState !== WebSocket.OPEN) return;
    conn.closeReason = WS_REMOVE_REASON.overloaded;
    ws.close(WS_CLOSE.tryAgainLater, WS_SHED_CLOSE_REASON[reason]);
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

  /** Upgraded sockets are the pool's; the `ws` server holds nothing but its state; upgrades still waiting for their verdict are dropped. */
  protected override releaseUntracked(): void {
    this.wss?.close();
    for (const [socket, timer] of this.pendingUpgrades) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.pendingUpgrades.clear();
  }
}
