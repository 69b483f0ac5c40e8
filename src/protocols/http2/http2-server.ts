import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { PoolConfigOf } from '../../core/managed-server';
import type { PooledConnection } from '../../core/pooled-connection';
import type { RejectReason } from '../../core/pool-types';
import { HttpServer, REFUSED_SOCKET_TIMEOUT_MS, refusalBody } from '../http/http-server';
import type { HttpPoolConfig } from '../http/http-config';
import type { HttpConnectionPool } from '../http/http-connection-pool';
import { shedBody } from '../http/shed-answer';
import type { Waiter } from '../../overload/admission-queue';
import type { ShedReason } from '../../overload/shed-reason';
import type { WorkPriority } from '../../overload/work-priority';
import type { TlsConnectionInfo } from '../https/https-connection-pool';
import { HttpsServer } from '../https/https-server';
import { Http2PoolConfig } from './http2-config';
import { Http2ConnectionPool } from './http2-connection-pool';
import { Http2ConnectionState } from './http2-connection-state';
import { http2HandlerFor, restoreCompatPrototypes } from './http2-framework-prototypes';
import { Http2CompatObjectsError } from '../../errors';
import { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, UNKNOWN_PROTOCOL } from './http2-constants';

/** On a socket: the HTTP/2 session node made for it (set before the pool sees the socket). */
const SESSION = Symbol('unipool.http2.session');
/** On a socket: it negotiated no protocol this server speaks. */
const UNKNOWN = Symbol('unipool.http2.unknownProtocol');
/** On a session: its tracked connection, or why it was refused. */
const CONN = Symbol('unipool.http2.connection');
const REFUSED = Symbol('unipool.http2.refused');
/** On a stream: its connection, pool and `beginWork` stamp while it is tracked; whether the server reset it. */
const S_CONN = Symbol('unipool.http2.streamConnection');
const S_POOL = Symbol('unipool.http2.streamPool');
const S_STARTED = Symbol('unipool.http2.streamStarted');
const S_LOCAL_RESET = Symbol('unipool.http2.localReset');
const S_METHOD = Symbol('unipool.http2.method');
/** On a stream waiting in the admission queue: its place there. */
const S_WAITER = Symbol('unipool.http2.waiter');

/** Refused sessions kept open at once to answer 503; past this a refusal is a plain close, so a flood cannot pin sockets. */
const MAX_PENDING_REFUSED_SESSIONS = 1024;

/** Keys node's HTTP/2 server reads once at creation (besides host and port). */
const HTTP2_RESTART_KEYS: ReadonlySet<string> = new Set(['host', 'port', 'h2c', 'allowHTTP1', 'maxSessionMemory']);

/** What a client that negotiated neither `h2` nor an allowed `http/1.1` reads before the close. */
const UNKNOWN_PROTOCOL_REPLY =
  'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nthis server speaks HTTP/2 (ALPN h2) only\n';

type SessionSocket = Socket & { [SESSION]?: ServerHttp2Session; [UNKNOWN]?: boolean };
type TrackedSession = ServerHttp2Session & { [CONN]?: PooledConnection<Socket>; [REFUSED]?: RejectReason };
type TrackedStream = ServerHttp2Stream & {
  [S_CONN]?: PooledConnection<Socket>;
  [S_POOL]?: Http2ConnectionPool<Http2PoolConfig>;
  [S_STARTED]?: number;
  [S_LOCAL_RESET]?: boolean;
  [S_METHOD]?: string;
  [S_WAITER]?: StreamWaiter;
};
/** What node:http2 reads of an HTTP/1.1-capable server that its types do not show. */
type NodeServer = http.Server & { connectionsCheckingInterval?: number };

/**
 * Shared 'close' listener of tracked streams (no closure per stream): ends the unit of work with
 * the stream's outcome. A stream the client reset before its response ended counts towards the
 * session's `maxResetsPerSecond`.
 */
function onStreamClose(this: TrackedStream): void {
  const conn = this[S_CONN];
  const pool = this[S_POOL];
  if (conn === undefined || pool === undefined) return;
  this[S_CONN] = undefined;
  const status = this.sentHeaders?.[':status'];
  pool.streamClosed(conn, this[S_STARTED] as number, this.rstCode ?? NGHTTP2_NO_ERROR, status === undefined ? undefined : Number(status), this.aborted && this[S_LOCAL_RESET] !== true, this[S_METHOD]);
}

/**
 * A stream's place in the admission queue (overload protection with a queue): made only for
 * streams of a pool whose `overload.queue` has room (node's stream objects are not given the
 * queue's fields). Holds what its handler needs once it is admitted.
 */
class StreamWaiter implements Waiter {
  waitPrev: Waiter | null = null;
  waitNext: Waiter | null = null;
  waitingSince = -1;
  /** The compatibility API's request and response, once node made them (right after the stream). */
  req: http2.Http2ServerRequest | undefined = undefined;
  res: http2.Http2ServerResponse | undefined = undefined;

  constructor(
    readonly server: Http2Server,
    readonly stream: TrackedStream,
    readonly headers: IncomingHttpHeaders,
    readonly conn: PooledConnection<Socket>,
    readonly pool: Http2ConnectionPool<Http2PoolConfig>,
    readonly arrived: number,
  ) {}

  onAdmitted(): void {
    const stream = this.stream;
    stream[S_WAITER] = undefined;
    stream.off('close', onQueuedStreamClose);
    this.server.startStream(this);
  }

  onShed(reason: ShedReason): void {
    const stream = this.stream;
    stream[S_WAITER] = undefined;
    stream.off('close', onQueuedStreamClose);
    respondShedStream(stream, reason, this.pool);
  }
}

/** 'close' of a stream waiting in the admission queue (one shared listener): its client reset it or left; it leaves the queue, counted as nothing. */
function onQueuedStreamClose(this: TrackedStream): void {
  const waiter = this[S_WAITER];
  if (waiter === undefined) return;
  this[S_WAITER] = undefined;
  waiter.pool.cancelWork(waiter);
}

/** Answers a shed stream before any handler: `overload.shed.httpStatus` (503/429), `retry-after` (none when 0), a body naming the reason. */
function respondShedStream(stream: ServerHttp2Stream, reason: ShedReason, pool: Http2ConnectionPool<Http2PoolConfig>): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const shed = pool.overloadConfig.shed; // read now: a live update applies to the next answer
  const body = shedBody(reason);
  const headers: http2.OutgoingHttpHeaders = { ':status': shed.httpStatus, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) };
  if (shed.retryAfter > 0) headers['retry-after'] = String(shed.retryAfter);
  stream.respond(headers);
  stream.end(body);
}

/**
 * An HTTP/2 server on `node:http2` whose connections `Http2ConnectionPool` admits and tracks: a
 * connection is a session, a unit of work is a stream. Over TLS (section `tls`, as in `https`:
 * files, hot reload, expiry, client certificates) it offers ALPN `h2` and, with `allowHTTP1`,
 * `http/1.1` on the same port, whose connections the same pool tracks as `HttpServer` does; with
 * `h2c: true` it speaks cleartext HTTP/2 with prior knowledge.
 *
 * `handle(req, res)` is `HttpServer`'s, on node's compatibility API (`Http2ServerRequest` and
 * `Http2ServerResponse` for HTTP/2, `IncomingMessage` and `ServerResponse` for HTTP/1.1), so a
 * plain handler moves unchanged. A subclass that defines `handleStream(stream, headers)` gets
 * HTTP/2 streams on node's core API instead, and `handle` only serves HTTP/1.1.
 *
 * Admission is at the session: a session over `maxConnections` (or during a drain) is accepted
 * long enough to answer its first streams `503` with `Retry-After`, then gets GOAWAY; so a
 * refused client reads why, as over HTTP/1.1, instead of a connection reset that browsers retry
 * at once.
 */
export abstract class Http2Server<P extends Http2ConnectionPool = Http2ConnectionPool, C extends Http2PoolConfig = PoolConfigOf<P>> extends HttpsServer<P, C> {
  static override readonly poolType: typeof HttpsServer.poolType = Http2ConnectionPool;
  static override readonly configSection: string | undefined = 'http2';

  /** Refused sessions waiting to answer their first stream; the pool does not track them, so the server does. */
  private readonly refusedSessions = new Set<ServerHttp2Session>();
  /** For HTTP/2 compatibility requests: `handle`, or a view of it when it is an Express app (resolved at the first one). */
  private h2Handle: ((req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => unknown) | undefined;

  /**
   * Handles one admitted request: an HTTP/2 stream on node's compatibility API, or an HTTP/1.1
   * request of a fallback connection. A throw or rejection becomes a 500 (if nothing was sent yet).
   */
  abstract override handle(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void | Promise<void>;

  /**
   * Optional: handles HTTP/2 streams on node's core API (`stream.respond`, `stream.end`). When a
   * subclass defines it, node's compatibility layer is not set up and `handle` serves HTTP/1.1
   * only. A throw or rejection becomes a 500 (or a reset stream once headers went out).
   */
  handleStream?(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void | Promise<void>;

  protected override restartKeys(): ReadonlySet<string> {
    return HTTP2_RESTART_KEYS;
  }

  protected override createNodeServer(options: http.ServerOptions): http.Server {
    const c = this.config;
    const common: http2.ServerOptions = {
      maxSessionMemory: c.maxSessionMemory,
      settings: { maxConcurrentStreams: c.maxConcurrentStreams, maxHeaderListSize: c.maxHeaderListSize },
    };
    let server: NodeServer;
    if (c.tls === undefined) {
      server = http2.createServer(common) as unknown as NodeServer;
    } else {
      const secure = http2.createSecureServer({ ...common, ...this.secureServerOptions(c.tls), allowHTTP1: c.allowHTTP1, Http1ServerResponse: options.ServerResponse });
      this.watchHandshakes(secure, c.tls);
      server = secure as unknown as NodeServer;
      // HTTP/1.1 fallback connections run node's HTTP/1.1 server code, which reads these here.
      server.keepAliveTimeout = options.keepAliveTimeout as number;
      server.headersTimeout = options.headersTimeout as number;
      server.requestTimeout = options.requestTimeout as number;
      server.connectionsCheckingInterval = options.connectionsCheckingInterval;
    }
    // node's HTTP/2 servers lack it; HTTP/1.1's walks node's list of HTTP/1.1 fallback connections (none in h2c).
    server.closeAllConnections = () => http.Server.prototype.closeAllConnections.call(server);
    return server;
  }

  protected override get connectionEvent(): string {
    return this.config.tls === undefined ? 'connection' : 'secureConnection';
  }

  override async listen(): Promise<void> {
    const server = this.createNodeServer(this.serverOptions());
    // node made the session (and emitted 'session') before this listener runs: onConnection finds it on the socket.
    server.on('session', this.onSession);
    server.on(this.connectionEvent, (socket: Socket) => this.onConnection(socket));
    server.on('sessionError', (err: NodeJS.ErrnoException, session: TrackedSession) => this.pool.recordSessionError(err, session[CONN]));
    server.on('unknownProtocol', (socket: SessionSocket) => this.onUnknownProtocol(socket));
    // With handleStream, node's compatibility layer (set up by the first 'request' listener) stays off.
    if (this.handleStream !== undefined) server.removeAllListeners('newListener');
    server.on('request', this.onAnyRequest);
    // Before the compatibility layer's own listener: a stream is tracked before its handler runs.
    server.prependListener('stream', this.onStream);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    // A WebSocket server attached here (`ws.attachTo`) takes upgrades of HTTP/1.1 fallback connections.
    this.acceptUpgrades(server);
    await this.bind(server);
  }

  private readonly onSession = (session: ServerHttp2Session): void => {
    // `session.socket` is node's proxy of the socket: the property lands on the socket itself.
    (session.socket as SessionSocket)[SESSION] = session;
  };

  private onUnknownProtocol(socket: SessionSocket): void {
    socket[UNKNOWN] = true;
    this.pool.reject(UNKNOWN_PROTOCOL, socket.remoteAddress);
    socket.end(UNKNOWN_PROTOCOL_REPLY);
    socket.destroySoon();
  }

  /** Admission (`HttpsServer`, then `HttpServer`), then the HTTP/2 state of the connection. */
  protected override onConnection(socket: Socket): PooledConnection<Socket> | undefined {
    const s = socket as SessionSocket;
    if (s[UNKNOWN] === true) return undefined;
    return super.onConnection(socket);
  }

  /** An admitted socket's connection holds its HTTP/2 state (a session, or none for HTTP/1.1 fallback). */
  protected override attach(socket: Socket, conn: PooledConnection<Socket>, pool: HttpConnectionPool<HttpPoolConfig>): void {
    super.attach(socket, conn, pool);
    const session = (socket as SessionSocket)[SESSION] as TrackedSession | undefined;
    conn.data = new Http2ConnectionState(session, conn.data as TlsConnectionInfo | undefined);
    if (session !== undefined) {
      session[CONN] = conn;
      // The client's SETTINGS (right after its preface) ends the connection timeout; idleTimeout takes over.
      session.once('remoteSettings', () => this.pool.markEstablished(conn));
    }
  }

  /**
   * A refused socket that carries a session answers its streams 503 and gets GOAWAY (a refusal
   * for overload is counted now: streams are not ranked before the session is refused); an
   * HTTP/1.1 one is refused as in `HttpServer`.
   */
  protected override refuse(socket: Socket, reason: RejectReason, deferred = false): void {
    const session = (socket as SessionSocket)[SESSION] as TrackedSession | undefined;
    if (session === undefined) return super.refuse(socket, reason, deferred);
    if (deferred) this.pool.reject(reason, socket.remoteAddress);
    if (this.refusedSessions.size >= MAX_PENDING_REFUSED_SESSIONS) {
      session.destroy();
      return;
    }
    session[REFUSED] = reason;
    this.refusedSessions.add(session);
    // A client that opens no stream in time gets nothing to read: closed.
    const timer = setTimeout(() => session.destroy(), REFUSED_SOCKET_TIMEOUT_MS);
    session.once('close', () => {
      clearTimeout(timer);
      this.refusedSessions.delete(session);
    });
  }

  /** Every stream of a refused session: `503` + `Retry-After`, then the final GOAWAY (streams after it go elsewhere). */
  private answerRefusedStream(stream: ServerHttp2Stream, session: TrackedSession | undefined): void {
    if (!stream.destroyed && !stream.headersSent) {
      const body = refusalBody(session?.[REFUSED]);
      const retryAfter = this.refusalRetryAfter(session?.[REFUSED]);
      stream.respond({ ':status': 503, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) });
      stream.end(body);
    }
    if (session !== undefined && !session.closed && !session.destroyed) {
      session.close();
      this.pool.recordGoaway(NGHTTP2_NO_ERROR);
    }
  }

  /** Every stream, before any handler: tracked as a unit of work of its session's connection. */
  private readonly onStream = (stream: TrackedStream, headers: IncomingHttpHeaders): void => {
    const session = stream.session as TrackedSession | undefined;
    const conn = session?.[CONN];
    if (conn === undefined) return this.answerRefusedStream(stream, session);
    const pool = this.pool as unknown as Http2ConnectionPool<Http2PoolConfig>;
    if (pool.isDraining) pool.streamWhileDraining(conn);
    if (pool.admitsWork) return this.admitStream(stream, headers, conn, pool);
    stream[S_CONN] = conn;
    stream[S_POOL] = pool;
    stream[S_METHOD] = headers[':method'];
    stream[S_STARTED] = pool.beginWork(conn);
    stream.on('close', onStreamClose);
    // Reset by the client before this tick: counted when its 'close' comes; no handler runs.
    if (stream.destroyed || this.handleStream === undefined) return;
    this.runStreamHandler(stream, headers);
  };

  /**
   * Overload protection (the pool's `overload` block sets a limiter or a pressure signal): the
   * stream is admitted (tracked and run now), queued (run when admitted; with a queue only) or
   * shed (`503`/`429` + `retry-after` before any handler; not a request). At level
   * `CloseKeepAlive` and above its session gets a graceful GOAWAY: the streams it has run to their end.
   */
  private admitStream(stream: TrackedStream, headers: IncomingHttpHeaders, conn: PooledConnection<Socket>, pool: Http2ConnectionPool<Http2PoolConfig>): void {
    const now = performance.now(); // the arrival: queue wait counts in the stream's latency
    if (pool.closesKeepAlive) pool.closeAfterStreams(conn);
    const waiter = pool.overloadConfig.queue.size > 0 ? new StreamWaiter(this, stream, headers, conn, pool, now) : null;
    const outcome = pool.admitWork(waiter, this.streamPriority(headers), now);
    if (outcome === 'admit') {
      this.trackStream(stream, headers, conn, pool, now);
      if (!stream.destroyed && this.handleStream !== undefined) this.runStreamHandler(stream, headers);
    } else if (outcome === 'queued') {
      stream[S_WAITER] = waiter!;
      stream.on('close', onQueuedStreamClose);
    } else {
      respondShedStream(stream, outcome, pool);
    }
  }

  /** @internal A queued stream was admitted: tracked from its arrival, then its handler runs. */
  startStream(waiter: StreamWaiter): void {
    const { stream, headers, conn, pool } = waiter;
    this.trackStream(stream, headers, conn, pool, waiter.arrived);
    if (stream.closed || stream.destroyed) {
      // Reset in the moment between its close and its admission: its 'close' is past, so it ends here, aborted.
      stream[S_CONN] = undefined;
      pool.streamClosed(conn, stream[S_STARTED] as number, stream.rstCode ?? NGHTTP2_INTERNAL_ERROR, undefined, false, stream[S_METHOD]);
      return;
    }
    if (this.handleStream !== undefined) this.runStreamHandler(stream, headers);
    else if (waiter.req !== undefined && waiter.res !== undefined) this.runCompatHandler(waiter.req, waiter.res, stream);
  }

  private trackStream(stream: TrackedStream, headers: IncomingHttpHeaders, conn: PooledConnection<Socket>, pool: Http2ConnectionPool<Http2PoolConfig>, arrived: number): void {
    stream[S_CONN] = conn;
    stream[S_POOL] = pool;
    stream[S_METHOD] = headers[':method'];
    stream[S_STARTED] = pool.beginWork(conn, arrived);
    stream.on('close', onStreamClose);
  }

  /**
   * How an HTTP/2 stream ranks under overload (called only when admission is on). Default:
   * `priority(req)` when a subclass overrides it (given a view of the request: `url`, `method`,
   * `headers`), else `critical` when `:path` is one of `overload.criticalPaths`.
   */
  protected streamPriority(headers: IncomingHttpHeaders): WorkPriority {
    const path = headers[':path'] ?? '/';
    if (this.priority !== HttpServer.prototype.priority) {
      return this.priority({ url: path, method: headers[':method'], headers, httpVersion: '2.0', httpVersionMajor: 2, httpVersionMinor: 0 } as unknown as http.IncomingMessage);
    }
    return this.isCriticalTarget(path) ? 'critical' : 'normal';
  }

  private runStreamHandler(stream: TrackedStream, headers: IncomingHttpHeaders): void {
    try {
      const result = this.handleStream!(stream, headers);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) => this.onStreamHandlerError(err, stream, undefined));
      }
    } catch (err) {
      this.onStreamHandlerError(err, stream, undefined);
    }
  }

  /** Node's 'request': HTTP/1.1 fallback requests go to `HttpServer`'s path, HTTP/2 streams (compatibility API) to `handle`. */
  private readonly onAnyRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    if (req.httpVersionMajor !== 2) return this.onRequest(req as http.IncomingMessage, res as http.ServerResponse);
    const stream = (req as http2.Http2ServerRequest).stream as TrackedStream;
    const waiter = stream[S_WAITER];
    if (waiter !== undefined) {
      // Queued for admission: its handler runs once admitted.
      waiter.req = req as http2.Http2ServerRequest;
      waiter.res = res as http2.Http2ServerResponse;
      return;
    }
    // Refused or shed (answered already) or reset already: no handler.
    if (stream[S_CONN] === undefined || stream.destroyed) return;
    this.runCompatHandler(req as http2.Http2ServerRequest, res as http2.Http2ServerResponse, stream);
  };

  private runCompatHandler(h2req: http2.Http2ServerRequest, h2res: http2.Http2ServerResponse, stream: TrackedStream): void {
    this.h2Handle ??= http2HandlerFor(this.handle) ?? ((rq, rs) => this.handle(rq, rs));
    try {
      const result = this.h2Handle(h2req, h2res);
      // A handler that swapped node's prototypes for HTTP/1.1 ones would crash the process at node's next body read.
      if (restoreCompatPrototypes(h2req, h2res)) throw new Http2CompatObjectsError();
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) => this.onStreamHandlerError(err, stream, h2res, h2req));
      }
    } catch (err) {
      this.onStreamHandlerError(err, stream, h2res, h2req);
    }
  }

  private onStreamHandlerError(err: unknown, stream: TrackedStream, res: http2.Http2ServerResponse | undefined, req?: http2.Http2ServerRequest): void {
    // A throw may come from a handler that broke node's objects first: make them node's again to answer.
    if (res !== undefined && req !== undefined) restoreCompatPrototypes(req, res);
    this.pool.recordError('handler', err instanceof Error ? err : new Error(String(err)), stream[S_CONN]);
    this.logger?.error({ protocol: this.pool.protocol, err }, 'request handler failed');
    if (stream.destroyed) return;
    if (!stream.headersSent) {
      if (res !== undefined) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal server error\n');
      } else {
        stream.respond({ ':status': 500, 'content-type': 'text/plain; charset=utf-8' });
        stream.end('internal server error\n');
      }
      return;
    }
    stream[S_LOCAL_RESET] = true;
    stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  /** `maxConcurrentStreams` and `maxHeaderListSize` apply to sessions that start from now on. */
  protected override applyServerConfig(previous: C, next: C, changed: readonly string[]): void {
    super.applyServerConfig(previous, next, changed);
    if (this.server && (changed.includes('maxConcurrentStreams') || changed.includes('maxHeaderListSize'))) {
      (this.server as unknown as http2.Http2Server).updateSettings({ maxConcurrentStreams: next.maxConcurrentStreams, maxHeaderListSize: next.maxHeaderListSize });
    }
  }

  protected override releaseUntracked(): void {
    for (const session of this.refusedSessions) session.destroy();
    this.refusedSessions.clear();
    super.releaseUntracked();
  }
}
