import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger';
import { PoolHealthStatus } from '../core/pool-health';
import { listenServer } from '../core/listen-server';
import type { AdminConfig } from './admin-config';
import type { MetricsSource } from './prometheus-collector';
import { buildStatusReport } from './status-report';
import { DASHBOARD_CSP, DashboardAssets } from './dashboard/dashboard-assets';
import { DashboardFrames, type FrameSource } from './dashboard/dashboard-frames';
import { EventStreamHub, type EventStreamOptions } from './dashboard/event-stream-hub';

/** Application events after which the dashboard sends a frame at once, not on the next tick. */
type DashboardTrigger = 'shutdownPhase' | 'readinessChanged';

/** What the admin server reads from the application (`workerFrames`: cluster mode's per-worker view on the dashboard). */
export interface AdminTarget extends MetricsSource, Pick<FrameSource, 'workerFrames'> {
  readonly state: string;
  readonly config: ReadonlyMap<string, object> | undefined;
  /** When the application started booting (ms since epoch). */
  readonly startedAt: number;
  /** The application's events: the dashboard shows shutdown phases and readiness as they change (else on the next tick). */
  readonly events?: {
    on(event: DashboardTrigger, listener: () => void): unknown;
    off(event: DashboardTrigger, listener: () => void): unknown;
  };
  /** `/status` when the target builds its own (a cluster primary: every worker's); else built from `pools`. */
  statusReport?(): Promise<unknown>;
}

/** What `/metrics` serves: a `PrometheusCollector`, or a cluster primary's aggregation of its workers. */
export interface MetricsExposition {
  /** The exposition text; `query` is the request's query string (`?by=worker` on a cluster primary). */
  metrics(query?: URLSearchParams): Promise<string>;
  readonly contentType: string;
}

/** Seconds a client refused for too many event streams is asked to wait. */
const EVENTS_RETRY_AFTER_SECONDS = 5;
const DASHBOARD_TRIGGERS: readonly DashboardTrigger[] = ['shutdownPhase', 'readinessChanged'];

/** Scrapers and probes are few; more than this many sockets at once is a misbehaving client. */
const MAX_ADMIN_SOCKETS = 64;
/** TCP keep-alive on `/events` sockets: probes from this idle time on end a connection whose peer vanished. */
const EVENTS_KEEPALIVE_MS = 15_000;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * The operator endpoint: `/metrics`, `/healthz`, `/readyz`, `/status`, and the live dashboard
 * (`/dashboard`, fed by `/events`). A plain `node:http` server owned by the application, outside
 * every pool, so scrapes never count as traffic and a full pool never blinds monitoring.
 */
export class AdminServer {
  private server: http.Server | undefined;
  private tokenDigest: Buffer | undefined;
  /** The `/events` streams; none when `admin.dashboard` is false. */
  private readonly hub: EventStreamHub | undefined;
  private readonly assets = new DashboardAssets();
  private readonly pushFrame = (): void => this.hub?.push();

  constructor(
    private readonly config: AdminConfig,
    private readonly target: AdminTarget,
    private readonly collector: MetricsExposition,
    private readonly logger: Logger,
    /** The event streams' timing and bound (tests change them); defaults: a frame a second, a stream dropped after 15 s stalled or 256 KiB unsent. */
    streams: Omit<EventStreamOptions, 'maxSubscribers'> = {},
  ) {
    this.setToken(config.token);
    if (config.dashboard) {
      const frames = new DashboardFrames(target, { intervalMs: streams.intervalMs });
      this.hub = new EventStreamHub(() => frames.build(), { ...streams, maxSubscribers: config.maxEventStreams }, logger);
    }
  }

  /**
   * Changes the bearer token (live reload); `undefined` turns authentication off. When it changes,
   * every open `/events` stream ends (`end` event, reason "token changed"): a stream opened under
   * the old token, or with none, must not outlive it; the page reconnects and asks for the new one.
   */
  setToken(token: string | undefined): void {
    const next = token ? digest(token) : undefined;
    const changed = next === undefined || this.tokenDigest === undefined ? next !== this.tokenDigest : !next.equals(this.tokenDigest);
    this.tokenDigest = next;
    if (changed) this.hub?.endStreams('token changed');
  }

  /** Opens the listener; rejects with `ListenError` if the address cannot be bound. */
  async listen(): Promise<void> {
    const { host, port, requestTimeout } = this.config;
    const server = http.createServer({ requestTimeout, headersTimeout: requestTimeout, keepAliveTimeout: 5000, connectionsCheckingInterval: Math.min(1000, requestTimeout) }, (req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.logger.error({ err, path: req.url }, 'admin request failed');
        if (!res.headersSent) this.json(res, 500, { status: 'error' });
        else res.destroy();
      });
    });
    server.maxConnections = MAX_ADMIN_SOCKETS;
    this.server = server;
    await listenServer(server, 'AdminServer', host, port);
    if (this.hub) for (const event of DASHBOARD_TRIGGERS) this.target.events?.on(event, this.pushFrame);
  }

  /** The bound address, once listening. */
  address(): AddressInfo | undefined {
    const addr = this.server?.address();
    return addr && typeof addr === 'object' ? addr : undefined;
  }

  /**
   * Closes the listener and every admin socket (scrapers keep connections alive); event streams
   * get a last frame and an `end` event first, and never hold the close. Idempotent.
   */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    if (this.hub) {
      for (const event of DASHBOARD_TRIGGERS) this.target.events?.off(event, this.pushFrame);
      this.hub.close();
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.tokenDigest) return true;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Digests have equal length, so the comparison time says nothing about the token.
    return match !== null && timingSafeEqual(digest(match[1]), this.tokenDigest);
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const [path, query] = (req.url ?? '/').split('?', 2);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.json(res, 405, { status: 'method not allowed' });
    }
    if (this.hub && this.assets.has(path)) return this.asset(res, path);
    switch (path) {
      case '/events':
        if (!this.hub) break;
        if (!this.authorized(req)) return this.unauthorized(res);
        return this.events(res, this.hub);
      case '/dashboard/':
        if (!this.hub) break;
        res.writeHead(301, { Location: '../dashboard', 'Content-Length': 0 });
        return void res.end();
      case '/healthz':
        return this.liveness(res);
      case '/readyz':
        return this.readiness(res);
      case '/metrics':
      case '/status':
        if (!this.authorized(req)) return this.unauthorized(res);
        if (path === '/metrics') return this.metrics(res, new URLSearchParams(query));
        return this.json(res, 200, this.target.statusReport ? await this.target.statusReport() : buildStatusReport(this.target));
    }
    const endpoints = ['/metrics', '/healthz', '/readyz', '/status', ...(this.hub ? ['/dashboard', '/events'] : [])];
    return this.json(res, 404, { status: 'not found', endpoints });
  }

  private unauthorized(res: http.ServerResponse): void {
    res.setHeader('WWW-Authenticate', 'Bearer realm="unipool"');
    this.json(res, 401, { status: 'unauthorized' });
  }

  /** `/events`: a Server-Sent Events stream of dashboard frames, or 503 when the streams are full. */
  private events(res: http.ServerResponse, hub: EventStreamHub): void {
    if (!hub.hasRoom()) {
      res.setHeader('Retry-After', String(EVENTS_RETRY_AFTER_SECONDS));
      return this.json(res, 503, { status: 'too many event streams', maxEventStreams: this.config.maxEventStreams });
    }
    // X-Accel-Buffering: a proxy in front (nginx) must pass each frame on as it comes.
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no', 'X-Content-Type-Options': 'nosniff' });
    if (res.req.method === 'HEAD') return void res.end();
    res.on('error', () => undefined); // a client gone mid-write: its 'close' drops the stream
    res.socket?.setKeepAlive(true, EVENTS_KEEPALIVE_MS);
    hub.subscribe(res);
  }

  /** A file of the dashboard page: no figure and no secret in it, so it needs no token (the data comes from `/events`). */
  private async asset(res: http.ServerResponse, path: string): Promise<void> {
    const { body, contentType } = await this.assets.get(path);
    res.writeHead(200, {
      'Content-Type': contentType,
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': DASHBOARD_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  /** Answering at all proves the event loop turns; only a failed application asks for a restart. */
  private liveness(res: http.ServerResponse): void {
    const failed = this.target.state === 'failed';
    this.json(res, failed ? 503 : 200, { status: failed ? 'failed' : 'ok', state: this.target.state });
  }

  private readiness(res: http.ServerResponse): void {
    if (!this.target.isReady) {
      return this.json(res, 503, { status: 'not ready', state: this.target.state });
    }
    const unavailable = this.target.pools.filter((p) => p.getHealth().status === PoolHealthStatus.Unavailable).map((p) => p.name); // pool names, as in the `pool` label
    if (unavailable.length) return this.json(res, 503, { status: 'not ready', state: this.target.state, unavailable });
    this.json(res, 200, { status: 'ready', state: this.target.state });
  }

  private async metrics(res: http.ServerResponse, query: URLSearchParams): Promise<void> {
    const body = await this.collector.metrics(query);
    res.writeHead(200, { 'Content-Type': this.collector.contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  private json(res: http.ServerResponse, status: number, value: unknown): void {
    const body = JSON.stringify(value);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}
