import * as http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { ManagedServer, PoolConfigOf } from '../../core/managed-server';
import type { PooledConnection } from '../../core/pooled-connection';
import type { RejectReason } from '../../core/pool-types';
import type { Waiter } from '../../overload/admission-queue';
import type { ShedReason } from '../../overload/shed-reason';
import { criticalPathMatcher, type WorkPriority } from '../../overload/work-priority';
import { HttpPoolConfig } from './http-config';
import { HttpConnectionPool } from './http-connection-pool';
import { NEWEST_RESPONSE, QUEUED_HERE, type HttpSocket } from './http-socket';
import { NodeHttpServer, answerClientError, connectionsCheckingInterval } from './node-server';
import { StandInServer } from './stand-in-server';
import { pathOf, rejectUpgrade } from './upgrade-request';
import { shedAnswer } from './shed-answer';

const CONN = Symbol('unipool.http.connection');
const REFUSED = Symbol('unipool.http.refused');
const STARTED = Symbol('unipool.http.started');
/** When a queued request arrived (`performance.now()`), for `beginWork` once it is admitted; -1 otherwise. */
const ARRIVED = Symbol('unipool.http.arrived');
/** The server that runs a queued request's handler once it is admitted (set on the socket with CONN). */
const SERVER = Symbol('unipool.http.server');
const QUEUED = Symbol('unipool.http.queued');
/** On a queued response: the pool whose queue it waits in (its socket may leave the pool meanwhile). */
const WAIT_POOL = Symbol('unipool.http.waitPool');

const POOL = Symbol('unipool.http.pool');
const LINGER = Symbol('unipool.http.linger');
/**
 * On a socket refused for overload alone (`refuseConnections`): its first request decides. A
 * critical one is admitted and served (a probe opens a new connection each time); anything else
 * is refused, and only then counted. Cleared once decided.
 */
const DEFERRED = Symbol('unipool.http.deferred');
/** A refused socket's deadline to send its request (`REFUSED_SOCKET_TIMEOUT_MS`). */
const REFUSED_TIMER = Symbol('unipool.http.refusedTimer');

/** `_httpMessage` is the response being written on a socket (node:http, stable since v0.x). */
type TrackedSocket = HttpSocket & {
  [CONN]?: PooledConnection<Socket>;
  [REFUSED]?: RejectReason;
  [POOL]?: HttpConnectionPool<HttpPoolConfig>;
  [SERVER]?: HttpServer;
  [LINGER]?: NodeJS.Timeout;
  [DEFERRED]?: boolean;
  [REFUSED_TIMER]?: NodeJS.Timeout;
  _httpMessage?: TrackedResponse | null;
};
/** A request whose response waits in the admission queue knows it (set only while queued). */
type QueuedRequest = http.IncomingMessage & { [QUEUED]?: TrackedResponse };

/**
 * How long a refused socket may take to send the request its 503 answers, counted from the
 * refusal (not an inactivity timer: trickling bytes does not extend it). A request still arriving
 * then gets its 503 anyway; a socket that sent nothing is closed.
 */
export const REFUSED_SOCKET_TIMEOUT_MS = 5000;
/**
 * How long the rest of a request body may keep arriving once its response has been written
 * (a handler that answered without reading the body): then the connection is closed, counted as
 * timeout kind `body_linger`. A body nobody reads never holds a connection until `requestTimeout`.
 */
export const BODY_LINGER_MS = 1000;
/** Refused sockets kept waiting for their request at once; past this a refusal is a plain close, so a flood cannot pin file descriptors. */
const MAX_PENDING_REFUSALS = 1024;

const detachFromSocket = http.ServerResponse.prototype.detachSocket;

/**
 * The responses of an unipool HTTP(S) server (node's `ServerResponse` option). The request's
 * start stamp is a field set at construction, and the request ends where node detaches a
 * finished response from its socket ('finish': the response was written completely). Both are
 * own fields set at construction (one shape for every response, one shared function), so a
 * framework that swaps the response's prototype (Express 5 does) keeps them; no listener or
 * closure is allocated per request.
 *
 * A response is also its request's place in the admission queue (`Waiter`: the queue links
 * responses through their own fields), so queueing a request allocates nothing. While it waits
 * its handler has not run, so its prototype is still this class's.
 */
class TrackedResponse extends (http.ServerResponse as unknown as new (req: http.IncomingMessage, options?: object) => http.ServerResponse) implements Waiter {
  /** `beginWork`'s stamp while the request is tracked; -1 before and after (refusals and shed requests are never tracked). */
  declare [STARTED]: number;
  /** Arrival stamp of a request waiting in the admission queue; -1 otherwise. */
  declare [ARRIVED]: number;
  declare [WAIT_POOL]: HttpConnectionPool<HttpPoolConfig> | undefined;
  declare waitPrev: Waiter | null;
  declare waitNext: Waiter | null;
  declare waitingSince: number;

  // Explicit, not the default derived constructor: node passes (req, options), and forwarding them
  // by name instead of `...args` keeps constructing a response as cheap as node's own (measured).
  constructor(req: http.IncomingMessage, options?: object) {
    super(req, options);
    this[STARTED] = -1;
    this.detachSocket = detachTracked;
  }

  /** Admitted from the queue: the request starts (its latency counts from its arrival) and its handler runs. */
  onAdmitted(): void {
    const arrived = this[ARRIVED];
    this[ARRIVED] = -1;
    const req = this.req as QueuedRequest;
    req[QUEUED] = undefined;
    req.off('close', onQueuedRequestClose);
    const socket = req.socket as TrackedSocket;
    const conn = socket[CONN];
    const pool = socket[POOL];
    const server = socket[SERVER];
    if (socket[QUEUED_HERE] !== undefined) socket[QUEUED_HERE]--;
    if (conn === undefined || pool === undefined || server === undefined) {
      // Its socket left the pool while it waited (an upgrade on the same connection): the slot
      // it was just given goes back.
      this[WAIT_POOL]?.abandonWork(1);
      this[WAIT_POOL] = undefined;
      return;
    }
    this[WAIT_POOL] = undefined;
    this[STARTED] = pool.beginWork(conn, arrived);
    if (req.destroyed) {
      // Its client went away in the moment between its socket's close and the request's: the
      // slot it was given ends at once, as an aborted request.
      this[STARTED] = -1;
      pool.recordError('aborted', undefined, conn);
      pool.endAbortedRequest(conn, arrived, this);
      return;
    }
    server.runHandler(req, this, conn);
  }

  /** Shed from the queue (full, timed out): answered in HTTP's terms, its handler never runs. */
  onShed(reason: ShedReason): void {
    this[ARRIVED] = -1;
    this[WAIT_POOL] = undefined;
    const req = this.req as QueuedRequest;
    const socket = req.socket as TrackedSocket | null;
    if (socket?.[QUEUED_HERE] !== undefined) socket[QUEUED_HERE]--;
    req[QUEUED] = undefined;
    req.off('close', onQueuedRequestClose);
    const pool = (req.socket as TrackedSocket | null)?.[POOL];
    if (pool === undefined || req.destroyed || this.writableEnded) return;
    respondShed(this, reason, pool);
  }
}

// The waiter's fields start on the prototype: a response that never waits (every one when
// overload protection is off) costs no extra store; the queue writes its own fields when it waits.
Object.assign(TrackedResponse.prototype, { [ARRIVED]: -1, [WAIT_POOL]: undefined, waitPrev: null, waitNext: null, waitingSince: -1 });

/**
 * 'close' of a request waiting in the admission queue (one shared listener, `this` the request):
 * its client went away (node destroys every request of a socket that closes, pipelined ones
 * included, while their responses may never see the socket), so it leaves the queue and is
 * counted as nothing.
 */
function onQueuedRequestClose(this: QueuedRequest): void {
  const res = this[QUEUED];
  if (res === undefined) return;
  this[QUEUED] = undefined;
  res[ARRIVED] = -1;
  const pool = res[WAIT_POOL];
  res[WAIT_POOL] = undefined;
  const socket = this.socket as TrackedSocket | null;
  if (socket?.[QUEUED_HERE] !== undefined) socket[QUEUED_HERE]--;
  pool?.cancelWork(res);
}

/**
 * Answers a shed request: `overload.shed.httpStatus` (503, or 429), `Retry-After:
 * overload.shed.retryAfter` (none when 0) and a short body naming the reason. The connection
 * stays open (keep-alive) unless the overload level closes keep-alive connections.
 */
function respondShed(res: http.ServerResponse, reason: ShedReason, pool: HttpConnectionPool<HttpPoolConfig>): void {
  const shed = pool.overloadConfig.shed; // read now: a live update applies to the next answer
  if (pool.closesKeepAlive) res.shouldKeepAlive = false;
  const answer = shedAnswer(reason, shed.retryAfter);
  res.writeHead(shed.httpStatus, answer.headers as string[]);
  res.end(answer.body);
}

/** A response's `detachSocket` (node calls it once the response has been written, before the socket serves the next one): ends the request. */
function detachTracked(this: TrackedResponse, socket: Socket): void {
  detachFromSocket.call(this, socket);
  const started = this[STARTED];
  if (started < 0) return;
  this[STARTED] = -1;
  const tracked = socket as TrackedSocket;
  if (tracked[NEWEST_RESPONSE] === this) tracked[NEWEST_RESPONSE] = undefined;
  const conn = tracked[CONN];
  const pool = tracked[POOL];
  if (conn === undefined || pool === undefined) return;
  if (socket.destroyed) {
    // Node emits 'finish' also for a response whose socket was destroyed before its body was
    // written: not delivered, so aborted (and failed when the pool forced the close), and not
    // counted by status class (those are responses written completely).
    pool.recordError('aborted', undefined, conn);
    if (conn.removed) conn.inFlight--; // what is left in flight, onSocketClose counts as aborted
    pool.endAbortedRequest(conn, started, this);
    return;
  }
  pool.endRequest(conn, started, this.statusCode, this.req);
  // Answered before its body was read to the end: the rest may arrive for a short while only.
  if (!this.req.complete) lingerOnBody(tracked, this.req);
}

/**
 * Closes `socket` if the unread body of `req` is still arriving `BODY_LINGER_MS` after its
 * response: one timer per socket at most, kept in a field (no listener, no closure), cleared when
 * the socket closes or its next request starts (node starts it only once the body has arrived).
 */
function lingerOnBody(socket: TrackedSocket, req: http.IncomingMessage): void {
  if (socket[LINGER] !== undefined) clearTimeout(socket[LINGER]);
  socket[LINGER] = setTimeout(lingerExpired, BODY_LINGER_MS, socket, req);
}

function lingerExpired(socket: TrackedSocket, req: http.IncomingMessage): void {
  socket[LINGER] = undefined;
  const conn = socket[CONN];
  const pool = socket[POOL];
  if (req.complete || socket.destroyed || conn === undefined || pool === undefined) return;
  pool.recordTimeout('body_linger', conn);
  conn.closeReason = 'body_linger';
  socket.destroy();
}

/** Clears the body linger of `socket`, if any. */
function clearLinger(socket: TrackedSocket): void {
  clearTimeout(socket[LINGER]);
  socket[LINGER] = undefined;
}

/**
 * Shared 'close' listener of admitted sockets ('close' fires once): no closure or once() wrapper
 * per connection. Requests not ended when their socket closes were aborted (the peer reset, the
 * handler destroyed the response, or a drain deadline cut it before its body was written): each
 * is counted as such, and as failed when the pool forced the close. The one being written is
 * timed too; pipelined ones queued behind it never reach node's socket again, so only their count
 * is known.
 */
function onSocketClose(this: TrackedSocket): void {
  const conn = this[CONN];
  const pool = this[POOL];
  if (conn === undefined || pool === undefined) return;
  if (this[LINGER] !== undefined) clearLinger(this);
  let unfinished = conn.inFlight;
  pool.remove(conn);
  const res = this._httpMessage;
  if (res != null && res[STARTED] >= 0) {
    const started = res[STARTED];
    res[STARTED] = -1;
    unfinished--;
    pool.recordError('aborted', undefined, conn);
    pool.endAbortedRequest(conn, started, res);
  }
  // Pipelined requests admitted behind it never reach node's socket again: their admission
  // slots go back (a static limit would otherwise lose one per such request for good).
  pool.abandonWork(unfinished);
  for (; unfinished > 0; unfinished--) pool.recordError('aborted', undefined, conn);
}

/** Body of the 503 a refused client gets. */
export function refusalBody(reason: RejectReason | undefined): string {
  if (reason === 'draining') return 'server is shutting down\n';
  if (reason === 'overloaded') return 'server is overloaded: refusing new connections (overloaded)\n';
  return 'server is at its connection limit\n';
}

/** Takes an upgrade request routed to it (see `HttpServer.addUpgradeRoute`); from then on the socket is its own. */
export type UpgradeListener = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Reason an upgraded socket leaves the HTTP pool: it was handed over, not closed. */
const UPGRADED = 'upgraded';

/**
 * An HTTP/1.1 server on `node:http` whose connections `HttpConnectionPool` admits and tracks.
 * Subclass it, decorate the subclass with `@UsePool(HttpConnectionPool)` and implement `handle`;
 * it reads the `http` section (take it in a constructor with `@PoolConfig(HttpPoolConfig, 'http')`
 * if you want one). A pool subclass is declared with one argument: `HttpServer<MyPool>` types
 * `this.pool` (and `app.server(X).pool`) as `MyPool`.
 */
export abstract class HttpServer<P extends HttpConnectionPool = HttpConnectionPool, C extends HttpPoolConfig = PoolConfigOf<P>> extends NodeHttpServer<P, C> {
  static override readonly poolType: typeof ManagedServer.poolType = HttpConnectionPool;
  static override readonly configSection: string | undefined = 'http';

  /** Refused sockets waiting for their 503; the pool does not track them, so the server does. */
  private readonly refused = new Set<TrackedSocket>();
  /** Upgrade listeners by request path (WebSocket servers attached to this port). */
  private readonly upgradeRoutes = new Map<string, UpgradeListener>();
  private takesUpgrades = false;

  /**
   * Handles one admitted request. A throw or rejection becomes a 500 (if nothing was sent yet).
   * A framework app can be it: `handle = expressApp`, `handle = koaApp.callback()`, or Fastify's
   * handler through `serverFactory`.
   */
  abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void | Promise<void>;

  /**
   * Fastify's `serverFactory` option, to run Fastify on this server:
   * `readonly fastify = Fastify({ serverFactory: this.serverFactory })` with
   * `declare handle: RequestListener`. The handler Fastify passes becomes this server's `handle`;
   * the node server returned is a stand-in Fastify keeps but never listens on (its `listen`
   * throws): this server listens, admits, times out and drains. Call `await fastify.ready()` in
   * `onInit` and `await fastify.close()` in `onShutdown`.
   */
  readonly serverFactory = (handler: http.RequestListener): http.Server => {
    this.handle = handler;
    return new StandInServer(this.constructor.name);
  };

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

  async listen(): Promise<void> {
    const server = this.createNodeServer(this.serverOptions());
    server.on(this.connectionEvent, (socket: Socket) => this.onConnection(socket));
    server.on('request', this.onRequest);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.acceptUpgrades(server);
    await this.bind(server);
  }

  /**
   * Routes upgrade requests on `path` (exactly, query aside) of this server's port to
   * `listener`: a WebSocket server attached here. Once a route exists, an upgrade request on
   * any other path is answered `404`; without one, node hands upgrade requests to `handle` as
   * plain requests. Returns false if another listener has the path.
   */
  addUpgradeRoute(path: string, listener: UpgradeListener): boolean {
    const current = this.upgradeRoutes.get(path);
    if (current !== undefined && current !== listener) return false;
    this.upgradeRoutes.set(path, listener);
    if (this.server) this.takeUpgrades(this.server);
    return true;
  }

  /** Removes the route of `path` if `listener` has it. */
  removeUpgradeRoute(path: string, listener: UpgradeListener): void {
    if (this.upgradeRoutes.get(path) === listener) this.upgradeRoutes.delete(path);
  }

  /** Routes upgrade requests on `server` if a listener was added before it existed (HTTP/2 calls it for its HTTP/1.1 fallback). */
  protected acceptUpgrades(server: http.Server): void {
    if (this.upgradeRoutes.size > 0) this.takeUpgrades(server);
  }

  private takeUpgrades(server: http.Server): void {
    if (this.takesUpgrades) return;
    this.takesUpgrades = true;
    server.on('upgrade', this.onUpgrade);
  }

  /**
   * An upgrade request on an admitted socket: on a routed path, the socket leaves the HTTP pool
   * (counted as closed, reason `upgraded`) and goes to the route's listener; elsewhere `404`.
   * Node has already taken it off its own connection list, so neither its request timeouts nor
   * `closeAllConnections` touch it any more. A socket the pool refused gets its `503`.
   */
  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const tracked = socket as TrackedSocket;
    const refused = tracked[REFUSED];
    // Refused for overload alone, on a routed path: the route's own pool decides (it may not be
    // overloaded, or may take a critical upgrade); nothing is counted here.
    if (refused !== undefined && tracked[DEFERRED] === true && this.upgradeRoutes.has(pathOf(req.url))) this.unrefuse(tracked);
    else if (refused !== undefined) {
      if (tracked[DEFERRED] === true) this.settleDeferred(tracked);
      const retryAfter = this.refusalRetryAfter(refused);
      rejectUpgrade(socket, 503, retryAfter === undefined ? {} : { 'Retry-After': retryAfter }, refusalBody(refused));
      return;
    }
    const listener = this.upgradeRoutes.get(pathOf(req.url));
    if (listener === undefined) {
      rejectUpgrade(socket, 404, {}, 'not found\n');
      return;
    }
    const conn = tracked[CONN];
    if (conn !== undefined) {
      tracked[CONN] = undefined;
      tracked[POOL] = undefined;
      socket.off('close', onSocketClose);
      this.pool.remove(conn, UPGRADED);
    }
    listener(req, socket, head);
  };

  /**
   * Offers a new connection to the pool. Returns the tracked connection, or `undefined` when
   * refused (the socket is then kept just long enough to answer 503). HTTPS extends it.
   */
  protected onConnection(socket: Socket): PooledConnection<Socket> | undefined {
    const tracked = socket as TrackedSocket;
    // No peer address here: the pool reads it (a getpeername call) only if something asks.
    const pool = this.pool as unknown as HttpConnectionPool<HttpPoolConfig>; // read once: a getter (two for HTTPS)
    if (pool.refusesForOverloadOnly()) {
      // Its first request decides (a critical probe is served): refused, not counted yet.
      this.refuse(tracked, 'overloaded', true);
      return undefined;
    }
    const conn = pool.add(socket);
    if (conn === undefined) {
      this.refuse(tracked, pool.admissionRefusal() ?? 'max_connections'); // the reason add() refused it for (nothing changed since)
      return undefined;
    }
    this.attach(tracked, conn, pool);
    return conn;
  }

  /** Ties an admitted socket to its connection (HTTPS and HTTP/2 add what they know of it). */
  protected attach(socket: Socket, conn: PooledConnection<Socket>, pool: HttpConnectionPool<HttpPoolConfig>): void {
    const tracked = socket as TrackedSocket;
    tracked[CONN] = conn;
    tracked[POOL] = pool;
    tracked[SERVER] = this as unknown as HttpServer;
    tracked[NEWEST_RESPONSE] = undefined;
    tracked[LINGER] = undefined;
    socket.on('close', onSocketClose);
  }

  /**
   * Keeps a refused socket just long enough to read its request and answer 503
   * (`REFUSED_SOCKET_TIMEOUT_MS` at most). `deferred`: refused for overload alone and not
   * counted yet, its first request decides (see `DEFERRED`). HTTP/2 overrides it for sockets
   * that carry a session.
   */
  protected refuse(socket: Socket, reason: RejectReason, deferred = false): void {
    this.refuseHttp1(socket as TrackedSocket, reason, deferred);
  }

  private refuseHttp1(socket: TrackedSocket, reason: RejectReason, deferred: boolean): void {
    if (this.refused.size >= MAX_PENDING_REFUSALS) {
      if (deferred) this.pool.reject(reason, socket.remoteAddress);
      socket.destroy();
      return;
    }
    socket[REFUSED] = reason;
    socket[DEFERRED] = deferred;
    this.refused.add(socket);
    const timer = setTimeout(this.answerRefused, REFUSED_SOCKET_TIMEOUT_MS, socket);
    socket[REFUSED_TIMER] = timer;
    // Read now: a closed socket no longer knows its peer.
    const address = deferred ? socket.remoteAddress : undefined;
    socket.once('close', () => {
      clearTimeout(timer);
      this.refused.delete(socket);
      // Went away (or timed out) before a request decided: refused after all.
      if (socket[DEFERRED] === true) this.settleDeferred(socket, address);
    });
  }

  /** Counts the refusal a deferred socket was spared until now (it is not admitted). */
  private settleDeferred(socket: TrackedSocket, address = socket.remoteAddress): void {
    socket[DEFERRED] = false;
    this.pool.reject(socket[REFUSED] ?? 'overloaded', address);
  }

  /**
   * The first request on a socket refused for overload alone decides, with the pool's state now
   * (the level may have fallen since the accept): the pool admits the socket for a request of
   * `priority` (a critical one is not refused for overload) and returns its connection, or
   * refuses and counts it, and this returns `undefined`.
   */
  private admitDeferred(socket: TrackedSocket, priority: WorkPriority): PooledConnection<Socket> | undefined {
    socket[DEFERRED] = false;
    const pool = this.pool as unknown as HttpConnectionPool<HttpPoolConfig>;
    const conn = pool.add(socket, undefined, undefined, priority);
    if (conn === undefined) {
      socket[REFUSED] = pool.admissionRefusal(priority) ?? 'max_connections'; // counted by add()
      return undefined;
    }
    this.unrefuse(socket);
    this.attach(socket, conn, pool);
    return conn;
  }

  /** A refused socket is let in after all: its refusal's deadline and bookkeeping go. */
  private unrefuse(socket: TrackedSocket): void {
    socket[DEFERRED] = false;
    clearTimeout(socket[REFUSED_TIMER]);
    socket[REFUSED_TIMER] = undefined;
    socket[REFUSED] = undefined;
    this.refused.delete(socket);
  }

  /**
   * Ends a refused socket whose request did not come in time or came malformed or too slow for
   * node: a request that was arriving gets the 503 it would have got, a socket that sent nothing
   * is closed. Never counted in the pool (the socket is not the pool's).
   */
  private readonly answerRefused = (socket: TrackedSocket): void => {
    if (socket.destroyed) return;
    if (socket.bytesRead > 0 && socket.writable && !socket._httpMessage?.headersSent) {
      const body = refusalBody(socket[REFUSED]);
      const retryAfter = this.refusalRetryAfter(socket[REFUSED]);
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `${retryAfter === undefined ? '' : `Retry-After: ${retryAfter}\r\n`}Connection: close\r\n\r\n${body}`,
      );
      socket.destroySoon();
    } else {
      socket.destroy();
    }
  };

  /**
   * The server's 'request' listener itself (an arrow bound once per server): no forwarding frame
   * per request. HTTP/2 hands it the HTTP/1.1 requests of its fallback connections.
   */
  protected readonly onRequest = (req: http.IncomingMessage, response: http.ServerResponse): void => {
    const res = response as TrackedResponse;
    const socket = req.socket as TrackedSocket;
    const conn = socket[CONN];
    const pool = socket[POOL]; // set with CONN in onConnection: no getter per request
    // The common case first, with one test: a kept-alive request on a tracked socket of a pool
    // that is not draining and has no admission. Everything else goes to onRequestOther.
    if (conn === undefined || pool === undefined || pool.isDraining || pool.admitsWork || socket[LINGER] !== undefined) {
      this.onRequestOther(req, res, socket, conn);
      return;
    }
    socket[NEWEST_RESPONSE] = res; // a drain puts Connection: close on it (see HttpConnectionPool.drainConnection)
    res[STARTED] = pool.beginWork(conn); // ended in detachTracked, or onSocketClose
    this.runHandler(req, res, conn);
  };

  /** A request on a deferred or refused socket, a draining pool, admission on, or after a body linger. */
  private onRequestOther(req: http.IncomingMessage, res: TrackedResponse, socket: TrackedSocket, conn: PooledConnection<Socket> | undefined): void {
    let priority: WorkPriority | undefined;
    if (conn === undefined) {
      if (socket[DEFERRED] === true) {
        // Ranked once: the same rank admits the connection and then the request.
        priority = this.priority(req);
        conn = this.admitDeferred(socket, priority);
      }
      if (conn === undefined) {
        this.respondRefused(res, socket[REFUSED] ?? 'max_connections');
        return;
      }
    }
    const pool = socket[POOL] as HttpConnectionPool<HttpPoolConfig>;
    if (pool.isDraining) res.shouldKeepAlive = false;
    if (socket[LINGER] !== undefined) clearLinger(socket);
    socket[NEWEST_RESPONSE] = res;
    if (pool.admitsWork) {
      this.admitRequest(req, res, conn, pool, priority);
      return;
    }
    res[STARTED] = pool.beginWork(conn);
    this.runHandler(req, res, conn);
  }

  /**
   * Overload protection (the pool's `overload` block sets a limiter or a pressure signal): the
   * request is admitted (runs now), queued (runs when admitted: its response is its place in
   * the queue) or shed (answered 503/429 now, its handler never runs, and it is not a request).
   */
  private admitRequest(req: http.IncomingMessage, res: TrackedResponse, conn: PooledConnection<Socket>, pool: HttpConnectionPool<HttpPoolConfig>, priority = this.priority(req)): void {
    const now = performance.now(); // the arrival: queue wait counts in the request's latency
    if (pool.closesKeepAlive) res.shouldKeepAlive = false;
    const outcome = pool.admitWork(res, priority, now);
    if (outcome === 'admit') {
      res[STARTED] = pool.beginWork(conn, now);
      this.runHandler(req, res, conn);
    } else if (outcome === 'queued') {
      res[ARRIVED] = now;
      res[WAIT_POOL] = pool;
      (req as QueuedRequest)[QUEUED] = res;
      const socket = req.socket as TrackedSocket;
      socket[QUEUED_HERE] = (socket[QUEUED_HERE] ?? 0) + 1;
      req.on('close', onQueuedRequestClose);
    } else {
      respondShed(res, outcome, pool);
    }
  }

  /**
   * How the request ranks under overload (called only when the pool's `overload` block turns
   * admission on). Default: `critical` when its path (query aside) is one of
   * `overload.criticalPaths`, else `normal`. Override it to rank by anything else (a header, a
   * tenant); critical work is shed last.
   */
  priority(req: http.IncomingMessage): WorkPriority {
    return this.isCriticalTarget(req.url ?? '/') ? 'critical' : 'normal';
  }

  /** Whether a request target (`/healthz?x=1`) is one of `overload.criticalPaths` (query aside). */
  protected isCriticalTarget(target: string): boolean {
    const paths = (this.pool as unknown as HttpConnectionPool<HttpPoolConfig>).overloadConfig.criticalPaths;
    if (paths !== this.criticalPaths) {
      // Built once per config: a live update gives a new (frozen) list.
      this.criticalPaths = paths;
      this.isCriticalPath = criticalPathMatcher(paths);
    }
    return this.isCriticalPath(target);
  }

  private criticalPaths: readonly string[] | undefined;
  private isCriticalPath: (target: string) => boolean = () => false;

  /** @internal Runs the handler of a request that was admitted (`beginWork` done). */
  runHandler(req: http.IncomingMessage, res: http.ServerResponse, conn: PooledConnection<Socket>): void {
    try {
      const result = this.handle(req, res);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) => this.onHandlerError(err, res, conn));
      }
    } catch (err) {
      this.onHandlerError(err, res, conn);
    }
  }

  private respondRefused(res: http.ServerResponse, reason: RejectReason): void {
    const body = refusalBody(reason);
    const retryAfter = this.refusalRetryAfter(reason);
    res.writeHead(503, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ...(retryAfter === undefined ? {} : { 'Retry-After': retryAfter }),
      Connection: 'close',
    });
    res.end(body);
  }

  /**
   * `Retry-After` of a refused connection's 503: `overload.shed.retryAfter` when refused for
   * overload (none when 0), like shed work; else this server's own `retryAfter` (read now, so
   * live updates apply).
   */
  protected refusalRetryAfter(reason: RejectReason | undefined): string | undefined {
    if (reason !== 'overloaded') return String(this.config.retryAfter);
    const seconds = (this.pool as unknown as HttpConnectionPool<HttpPoolConfig>).overloadConfig.shed.retryAfter;
    return seconds > 0 ? String(seconds) : undefined;
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

  /** Malformed requests and slow headers on an established connection (HTTPS overrides it to skip failed handshakes). */
  protected onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    this.answerClientError(err, socket as TrackedSocket);
  }

  /**
   * Counts and answers a client error. Node reports headers and request timeouts as
   * `ERR_HTTP_REQUEST_TIMEOUT` (answered 408): counted `request` with a request in flight, else
   * `headers`, except on a connection that never sent a byte, which node's check cut before
   * `connectionTimeout` did: that one is counted `connection` and closed without an answer.
   */
  private answerClientError(err: NodeJS.ErrnoException, socket: TrackedSocket): void {
    if (socket[REFUSED] !== undefined) return this.answerRefused(socket);
    const conn = socket[CONN];
    const code = err.code ?? 'unknown';
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      if (conn !== undefined && conn.requests === 0 && socket.bytesRead === 0) {
        this.pool.recordTimeout('connection', conn);
        conn.closeReason = 'connection_timeout';
        socket.destroy();
        return;
      }
      this.pool.recordTimeout(conn && conn.inFlight > 0 ? 'request' : 'headers', conn);
    } else if (code !== 'ECONNRESET') {
      this.pool.recordError('client_error', err, conn);
    }
    answerClientError(err, socket);
  }

  protected override releaseUntracked(): void {
    for (const socket of this.refused) {
      // Still undecided at shutdown: refused for the drain, not for overload.
      if (socket[DEFERRED] === true) socket[REFUSED] = 'draining';
      socket.destroy();
    }
    this.refused.clear();
  }
}
