import 'reflect-metadata';
import { expect } from 'chai';
import * as http from 'node:http';
import type { Application } from '../../src';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { createTestApp } from '../../src/testing';
import { request, waitFor, type Reply } from '../helpers/http-fixtures';
import { run } from '../helpers/metrics-clients';

/** Held requests (`/held`) wait here until the test releases them. */
let release: (() => void) | undefined;
let held: Promise<void> = Promise.resolve();
function holdRequests(): void {
  held = new Promise<void>((resolve) => (release = resolve));
}
function releaseHeld(): void {
  release?.();
  release = undefined;
  held = Promise.resolve();
}

/** `/held` waits for `releaseHeld()`; anything else answers `ok <path>`. Records every path its handler ran for. */
@UsePool(HttpConnectionPool)
class OverloadHttpServer extends HttpServer {
  readonly handled: string[] = [];
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    this.handled.push(path);
    if (path.startsWith('/held')) {
      void held.then(() => res.end('held done'));
      return;
    }
    res.end(`ok ${path}`);
  }
}

/** One curl exchange (`-i`): the status line, headers and body of the last response. */
async function curl(args: readonly string[]): Promise<Reply & { raw: string; code: number; stderr: string }> {
  const { code, stdout, stderr } = await run('/usr/bin/curl', ['-s', '-i', ...args], 20_000);
  const start = stdout.lastIndexOf('HTTP/1.1 ');
  const text = start >= 0 ? stdout.slice(start) : '';
  const split = text.indexOf('\r\n\r\n');
  const head = split >= 0 ? text.slice(0, split) : text;
  const headers: http.IncomingHttpHeaders = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1.1 (\d+)/.exec(head)?.[1] ?? 0), headers, body: split >= 0 ? text.slice(split + 4) : '', raw: stdout, code, stderr };
}

describe('HTTP server: overload protection (issue 14) on real sockets', () => {
  let app: Application | undefined;

  async function boot(overload: Record<string, unknown>, http: Record<string, unknown> = {}): Promise<{ port: number; pool: HttpConnectionPool; server: OverloadHttpServer; url: string }> {
    app = createTestApp({ servers: [OverloadHttpServer], config: { http: { ...http, overload } } });
    await app.start();
    const server = app.server(OverloadHttpServer);
    const port = server.address()!.port;
    return { port, pool: server.pool, server, url: `http://127.0.0.1:${port}` };
  }

  /** Starts a `/held` request and waits until its handler runs (it holds the one slot of a static limit 1); `reply` settles once released. */
  async function holdSlot(port: number, pool: HttpConnectionPool, path = '/held'): Promise<{ reply: Promise<Reply> }> {
    holdRequests();
    const reply = request(port, path);
    await waitFor(() => pool.getMetrics().overload?.inFlight === 1, 5000, 'held request admitted');
    return { reply };
  }

  afterEach(async () => {
    releaseHeld();
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('issue 14: over a static limit, a request is shed with 503 + Retry-After before its handler runs, and its keep-alive connection stays usable', async () => {
    const { port, pool, server, url } = await boot({ limiter: 'static', maxConcurrency: 1, shed: { retryAfter: 3 } });
    const first = await holdSlot(port, pool);
    // Two requests over one curl connection: both shed, the connection reused for the second.
    const shed = await curl(['-v', `${url}/a`, `${url}/b`]);
    expect(shed.code).to.equal(0);
    expect(shed.status).to.equal(503);
    expect(shed.headers['retry-after']).to.equal('3');
    expect(shed.body).to.contain('limit');
    expect(shed.stderr).to.match(/Re-using existing connection|Reusing existing connection/i);
    expect(server.handled).to.deep.equal(['/held']);
    expect(pool.getMetrics().overload!.shed.limit).to.equal(2);
    releaseHeld();
    expect((await first.reply).status).to.equal(200);
    await waitFor(() => pool.getMetrics().requests.total === 1, 5000, 'the held request ended');
    const m = pool.getMetrics();
    expect(m.requests.total, 'shed requests are not requests').to.equal(1);
    expect(m.totalConnections).to.equal(2);
    expect(m.overload!.inFlight).to.equal(0);
  });

  it('issue 14: a request over the limit waits in the queue and gets 200 once the slot frees', async () => {
    const { port, pool, server, url } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 15_000 } });
    const first = await holdSlot(port, pool);
    const queued = curl([`${url}/next`]);
    await waitFor(() => pool.getMetrics().overload?.queued === 1, 5000, 'second request queued');
    expect(server.handled).to.deep.equal(['/held']);
    releaseHeld();
    const reply = await queued;
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('ok /next');
    expect((await first.reply).status).to.equal(200);
    await waitFor(() => pool.getMetrics().requests.total === 2, 5000, 'both requests ended');
    const m = pool.getMetrics();
    expect(m.overload!.inFlight).to.equal(0);
    expect(m.overload!.queueWait.count).to.equal(1);
    expect(m.requests.inFlight).to.equal(0);
  });

  it('issue 14: a request still queued at the queue timeout is shed 503 (queue_timeout) without running its handler', async () => {
    const { port, pool, server, url } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 200 } });
    await holdSlot(port, pool);
    const reply = await curl([`${url}/late`]);
    expect(reply.status).to.equal(503);
    expect(reply.headers['retry-after']).to.equal('1');
    expect(reply.body).to.contain('queue');
    expect(server.handled).to.deep.equal(['/held']);
    const m = pool.getMetrics();
    expect(m.overload!.shed.queue_timeout).to.equal(1);
    expect(m.overload!.queued).to.equal(0);
  });

  it('issue 14: shed.httpStatus 429 answers 429, and retryAfter 0 sends no Retry-After', async () => {
    const { port, pool, url } = await boot({ limiter: 'static', maxConcurrency: 1, shed: { httpStatus: 429, retryAfter: 0 } });
    await holdSlot(port, pool);
    const reply = await curl([`${url}/x`]);
    expect(reply.status).to.equal(429);
    expect(reply.headers).not.to.have.property('retry-after');
    expect(reply.body).to.contain('limit');
  });

  it('issue 14: a client that goes away while queued is taken out of the queue and counted as nothing', async () => {
    const { port, pool, server, url } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 60_000 } });
    const first = await holdSlot(port, pool);
    const gone = curl(['--max-time', '1', `${url}/gone`]);
    await waitFor(() => pool.getMetrics().overload?.queued === 1, 5000, 'request queued');
    expect((await gone).code).to.equal(28); // curl: operation timed out
    await waitFor(() => pool.getMetrics().overload?.queued === 0, 5000, 'queue emptied');
    releaseHeld();
    expect((await first.reply).status).to.equal(200);
    await waitFor(() => pool.getMetrics().requests.total === 1, 5000, 'held request counted');
    const m = pool.getMetrics();
    expect(server.handled).to.deep.equal(['/held']);
    expect(m.requests.total).to.equal(1);
    expect(m.overload!.inFlight).to.equal(0);
    expect(m.errors.total ?? 0).to.equal(0);
  });
});
