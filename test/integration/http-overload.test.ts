import 'reflect-metadata';
import { expect } from 'chai';
import * as http from 'node:http';
import type { Application } from '../../src';
import { ConnectionPoolEvent, HttpConnectionPool, HttpPoolConfig, HttpServer, HttpsConnectionPool, HttpsPoolConfig, PoolConfig, UsePool } from '../../src';
import { createTestApp } from '../../src/testing';
import { PressureLevel } from '../../src/overload/pressure-level';
import type { WorkPriority } from '../../src/overload/work-priority';
import { connect, request, waitFor, type Reply } from '../helpers/http-fixtures';
import { makeTlsFixtures, TestHttpsServer, type TlsFixtures } from '../helpers/https-fixtures';
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

/** Ranks requests with `x-critical: yes` critical, whatever their path. */
@UsePool(HttpConnectionPool)
class HeaderPriorityServer extends OverloadHttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  override priority(req: http.IncomingMessage): WorkPriority {
    return req.headers['x-critical'] === 'yes' ? 'critical' : 'normal';
  }
}

/** Counts the calls of `priority(req)`. */
@UsePool(HttpConnectionPool)
class CountingPriorityServer extends OverloadHttpServer {
  ranked = 0;
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  override priority(req: http.IncomingMessage): WorkPriority {
    this.ranked++;
    return super.priority(req);
  }
}

/** The tests' HTTPS server, with `/held` as above. */
@UsePool(HttpsConnectionPool)
class OverloadHttpsServer extends TestHttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }

  /** Called as `/healthz` is handled (a test reads the connection's state there). */
  onHealthz: () => void = () => undefined;

  override handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === '/held') void held.then(() => res.end('held done'));
    else {
      if (req.url === '/healthz') this.onHealthz();
      super.handle(req, res);
    }
  }
}

/** Reads pipelined responses off `socket` until `count` complete ones (Content-Length bodies) arrived, or it closed. */
function readResponses(socket: import('node:net').Socket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    let data = '';
    const parsed: string[] = [];
    const parse = (): void => {
      for (;;) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(data.slice(0, end))?.[1] ?? 0);
        if (data.length < end + 4 + length) return;
        parsed.push(data.slice(0, end + 4 + length));
        data = data.slice(end + 4 + length);
      }
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      parse();
      if (parsed.length >= count) resolve(parsed);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(parsed));
  });
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

  async function boot(overload: Record<string, unknown>, http: Record<string, unknown> = {}, type: typeof OverloadHttpServer = OverloadHttpServer): Promise<{ port: number; pool: HttpConnectionPool; server: OverloadHttpServer; url: string }> {
    app = createTestApp({ servers: [type], config: { http: { ...http, overload } } });
    await app.start();
    const server = app.server(type);
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

  it('issue 14: under a static limit of 1 with the handler busy, GET /healthz (in overload.criticalPaths) gets 200 while GET / gets 503', async () => {
    const { port, pool, server, url } = await boot({ limiter: 'static', maxConcurrency: 1, criticalPaths: ['/healthz'] });
    await holdSlot(port, pool);
    const health = await curl([`${url}/healthz?probe=1`]);
    expect(health.status).to.equal(200);
    expect(health.body).to.equal('ok /healthz?probe=1');
    expect((await curl([`${url}/`])).status).to.equal(503);
    expect(server.handled).to.deep.equal(['/held', '/healthz?probe=1']);
  });

  it('issue 14: a subclass that overrides priority(req) decides what is critical', async () => {
    const { port, pool, url } = await boot({ limiter: 'static', maxConcurrency: 1 }, {}, HeaderPriorityServer);
    await holdSlot(port, pool);
    expect((await curl(['-H', 'x-critical: yes', `${url}/any`])).status).to.equal(200);
    expect((await curl([`${url}/any`])).status).to.equal(503);
  });

  it('issue 14: a live update of overload.criticalPaths takes effect on the next request', async () => {
    const { port, pool, url } = await boot({ limiter: 'static', maxConcurrency: 1, criticalPaths: ['/healthz'] });
    await holdSlot(port, pool);
    expect((await curl([`${url}/ready`])).status).to.equal(503);
    pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1, criticalPaths: ['/ready'] } });
    await holdSlot(port, pool, '/held-again'); // the new controller starts empty: hold its slot too
    expect((await curl([`${url}/ready`])).status).to.equal(200);
    expect((await curl([`${url}/healthz`])).status).to.equal(503);
  });

  it('issue 14: at level CloseKeepAlive responses carry Connection: close, so two URLs over curl keep-alive take two connections', async () => {
    const { pool, url } = await boot({ limiter: 'static', maxConcurrency: 100 });
    pool.workAdmission!.setPressureLevel(PressureLevel.CloseKeepAlive);
    const reply = await curl(['-v', `${url}/one`, `${url}/two`]);
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('ok /two');
    expect(reply.headers.connection).to.equal('close');
    expect(reply.stderr).not.to.match(/Re-using existing connection|Reusing existing connection/i);
    await waitFor(() => pool.getMetrics().requests.total === 2, 5000, 'both requests ended');
    expect(pool.getMetrics().totalConnections).to.equal(2);
    pool.workAdmission!.setPressureLevel(PressureLevel.None);
    const again = await curl(['-v', `${url}/one`, `${url}/two`]);
    expect(again.stderr).to.match(/Re-using existing connection|Reusing existing connection/i);
    await waitFor(() => pool.getMetrics().requests.total === 4, 5000, 'four requests ended');
    expect(pool.getMetrics().totalConnections).to.equal(3);
  });

  it('issue 14: at level RefuseConnections a new connection is refused with 503 + Retry-After (overload.shed.retryAfter, as for shed work) and a body that says overloaded', async () => {
    const { pool, url } = await boot({ limiter: 'static', maxConcurrency: 100, shed: { retryAfter: 7 } }, { retryAfter: 4 });
    pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const reply = await curl([`${url}/`]);
    expect(reply.status).to.equal(503);
    expect(reply.headers['retry-after']).to.equal('7');
    expect(reply.headers.connection).to.equal('close');
    expect(reply.body).to.contain('overloaded');
    expect(pool.getMetrics().rejected.byReason.overloaded).to.equal(1);
    pool.workAdmission!.setPressureLevel(PressureLevel.None);
    expect((await curl([`${url}/`])).status).to.equal(200);
  });

  it('issue 14: at level RefuseConnections a probe of a critical path on a new connection (as kubelet opens one per probe) is served 200, a normal request on a new connection gets 503; only the refused one is counted', async () => {
    const { pool, server, url } = await boot({ limiter: 'static', maxConcurrency: 100, criticalPaths: ['/healthz'] });
    const rejected: string[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionRejected, (e) => void rejected.push(e.reason));
    pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const probe = await curl([`${url}/healthz`]);
    expect(probe.status).to.equal(200);
    expect(probe.body).to.equal('ok /healthz');
    const normal = await curl([`${url}/`]);
    expect(normal.status).to.equal(503);
    expect(normal.headers.connection).to.equal('close');
    expect(normal.body).to.contain('overloaded');
    expect(server.handled).to.deep.equal(['/healthz']);
    const m = pool.getMetrics();
    expect(m.rejected.byReason.overloaded).to.equal(1);
    expect(rejected).to.deep.equal(['overloaded']);
    expect(m.totalConnections, 'the probe\'s connection was admitted').to.equal(1);
    expect(m.requests.total).to.equal(1);
    await waitFor(() => pool.size === 0, 5000, 'the probe\'s connection closed');
  });

  it('issue 14 review: a connection accepted at level RefuseConnections whose first request comes after the level fell is served, not refused; the server ranks it once', async () => {
    const { port, pool } = await boot({ limiter: 'static', maxConcurrency: 100 }, {}, CountingPriorityServer);
    pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const socket = await connect(port);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server has taken the connection
    expect(pool.size).to.equal(0);
    pool.workAdmission!.setPressureLevel(PressureLevel.None);
    const reply = readResponses(socket, 1);
    socket.write('GET /late HTTP/1.1\r\nHost: x\r\n\r\n');
    const [text] = await reply;
    expect(text).to.match(/^HTTP\/1.1 200/);
    expect(text).to.contain('ok /late');
    expect(pool.getMetrics().rejected.byReason.overloaded ?? 0).to.equal(0);
    expect(pool.size).to.equal(1);
    expect(app!.server(CountingPriorityServer).ranked).to.equal(1);
    socket.destroy();
  });

  it('issue 14: at level RefuseConnections a new connection that sends nothing and goes away is counted refused (overloaded) once', async () => {
    const { port, pool } = await boot({ limiter: 'static', maxConcurrency: 100, criticalPaths: ['/healthz'] });
    pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const socket = await connect(port);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server has taken the connection
    socket.destroy();
    await waitFor(() => pool.getMetrics().rejected.byReason.overloaded === 1, 5000, 'the silent connection counted');
    expect(pool.size).to.equal(0);
    expect(pool.getMetrics().totalConnections).to.equal(0);
    await app!.stop();
    expect(pool.getMetrics().rejected.byReason.overloaded, 'not counted again at the stop').to.equal(1);
  });

  it('issue 14: at level ShedWork a normal request on an open connection is shed 503 (pressure) with Connection: close, while a critical path is served', async () => {
    const { port, pool } = await boot({ limiter: 'static', maxConcurrency: 100, criticalPaths: ['/healthz'] });
    // Connections opened before the level rose (ShedWork refuses new ones too).
    const [normal, critical] = await Promise.all([connect(port), connect(port)]);
    await waitFor(() => pool.size === 2, 5000, 'both connections admitted');
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
    const shed = readResponses(normal, 1);
    const served = readResponses(critical, 1);
    normal.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    critical.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const [shedText] = await shed;
    expect(shedText).to.match(/^HTTP\/1.1 503/);
    expect(shedText).to.contain('pressure');
    expect(shedText, 'ShedWork includes CloseKeepAlive').to.match(/connection: close/i);
    const [servedText] = await served;
    expect(servedText).to.match(/^HTTP\/1.1 200/);
    expect(servedText).to.contain('ok /healthz');
    expect(pool.getMetrics().overload!.shed.pressure).to.equal(1);
    normal.destroy();
    critical.destroy();
  });

  it('issue 14: a live update of the overload block takes effect on the next request (none -> static 1 -> none)', async () => {
    const { port, pool, url } = await boot({ limiter: 'none' });
    holdRequests();
    const first = request(port, '/held');
    await waitFor(() => pool.getMetrics().requests.inFlight === 1, 5000, 'held request running');
    expect(pool.admitsWork).to.equal(false);
    expect((await curl([`${url}/a`])).status).to.equal(200);
    expect(pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1 } }).applied).to.deep.equal(['overload']);
    // The request already running holds the one slot (review: it used to be left out, letting one more in).
    expect(pool.getMetrics().overload!.inFlight).to.equal(1);
    expect((await curl([`${url}/b`])).status).to.equal(503);
    pool.updateConfig({ overload: { limiter: 'none' } });
    expect((await curl([`${url}/c`])).status).to.equal(200);
    releaseHeld();
    expect((await first).status).to.equal(200);
  });

  it('issue 14: a live change of the overload block keeps a queued request\'s wait: queued with a 2 s timeout, carried over by an update 1.5 s in, curl gets its 503 (queue_timeout) about 2 s after it was queued, not 3.5 s', async () => {
    const { port, pool, url } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 2000 } });
    await holdSlot(port, pool);
    const queued = curl([`${url}/waits`]);
    await waitFor(() => pool.getMetrics().overload?.queued === 1, 5000, 'request queued');
    const queuedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 2000 }, shed: { retryAfter: 2 } } }).applied).to.deep.equal(['overload']);
    expect(pool.getMetrics().overload!.queued, 'carried over').to.equal(1);
    const reply = await queued;
    const waited = performance.now() - queuedAt;
    expect(reply.status).to.equal(503);
    expect(reply.body).to.contain('queue');
    expect(waited).to.be.at.least(1900);
    expect(waited, 'the timeout did not restart at the update').to.be.below(3000);
    expect(pool.getMetrics().overload!.shed.queue_timeout).to.equal(1);
  });

  it('issue 14: a pipelined burst of 5 under static limit 1 + queue gets all 5 answers in order, none lost', async () => {
    const { port, pool } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 10, timeout: 15_000 } });
    const socket = await connect(port);
    const replies = readResponses(socket, 5);
    socket.write([1, 2, 3, 4, 5].map((i) => `GET /p${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    const texts = await replies;
    expect(texts.map((t) => /\r\n\r\n(.*)$/s.exec(t)![1])).to.deep.equal(['ok /p1', 'ok /p2', 'ok /p3', 'ok /p4', 'ok /p5']);
    for (const t of texts) expect(t).to.match(/^HTTP\/1.1 200/);
    socket.destroy();
    await waitFor(() => pool.size === 0, 5000, 'socket gone');
    const m = pool.getMetrics();
    expect(m.requests.total).to.equal(5);
    expect(m.overload!.inFlight).to.equal(0);
    expect(m.overload!.queued).to.equal(0);
  });

  it('issue 14: pipelined requests queued behind a held one leave the queue when their client resets, and nothing leaks', async () => {
    const { port, pool, server } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 10, timeout: 60_000 } });
    const first = await holdSlot(port, pool);
    const socket = await connect(port);
    socket.on('error', () => undefined);
    socket.write([1, 2, 3].map((i) => `GET /q${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    await waitFor(() => pool.getMetrics().overload?.queued === 3, 5000, 'three requests queued');
    socket.resetAndDestroy();
    await waitFor(() => pool.getMetrics().overload?.queued === 0, 5000, 'queue emptied');
    releaseHeld();
    expect((await first.reply).status).to.equal(200);
    await waitFor(() => pool.getMetrics().requests.total === 1 && pool.getMetrics().requests.inFlight === 0, 5000, 'held request ended');
    const m = pool.getMetrics();
    expect(server.handled).to.deep.equal(['/held']);
    expect(m.overload!.inFlight).to.equal(0);
    expect(m.errors.total).to.equal(0);
  });

  it('issue 14 review: pipelined requests admitted behind a held one give their slots back when the client resets (they never reach detachTracked)', async () => {
    const { port, pool } = await boot({ limiter: 'static', maxConcurrency: 10 });
    holdRequests();
    const socket = await connect(port);
    socket.on('error', () => undefined);
    socket.write([1, 2, 3].map((i) => `GET /held${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    await waitFor(() => pool.getMetrics().overload?.inFlight === 3, 5000, 'three pipelined requests admitted');
    socket.resetAndDestroy();
    await waitFor(() => pool.size === 0, 5000, 'connection gone');
    releaseHeld();
    await waitFor(() => pool.getMetrics().overload?.inFlight === 0, 5000, 'every slot given back');
    expect(pool.getMetrics().errors.byType.aborted).to.equal(3);
  });

  it('issue 14: a drain that starts while requests are queued serves them (not shed) before it completes', async () => {
    const { port, pool, url } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 15_000 } });
    const first = await holdSlot(port, pool);
    const queued = curl([`${url}/queued`]);
    await waitFor(() => pool.getMetrics().overload?.queued === 1, 5000, 'request queued');
    let drained = false;
    const drain = pool.drain(15_000).then((result) => {
      drained = true;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the drain close what it closes at its start
    expect(drained).to.equal(false);
    expect(pool.getMetrics().overload!.queued).to.equal(1);
    releaseHeld();
    const reply = await queued;
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('ok /queued');
    expect(reply.headers.connection).to.equal('close');
    expect((await first.reply).status).to.equal(200);
    const result = await drain;
    expect(result.forced).to.equal(0);
    expect(result.graceful).to.equal(2);
    expect(pool.getMetrics().overload!.shed.queue_timeout).to.equal(0);
  });

  it('issue 14: a keep-alive connection whose next request waits in the queue longer than idleTimeout is not closed as idle: the request is served', async () => {
    const { port, pool } = await boot({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 15_000 } }, { idleTimeout: 200 });
    const socket = await connect(port);
    const firstReply = readResponses(socket, 1);
    socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await firstReply)[0]).to.match(/^HTTP\/1.1 200/);
    const held = await holdSlot(port, pool);
    const next = readResponses(socket, 1);
    socket.write('GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => pool.getMetrics().overload?.queued === 1, 5000, 'request queued');
    await new Promise((resolve) => setTimeout(resolve, 700)); // idleTimeout passes, more than once
    expect(pool.getMetrics().timeouts.idle ?? 0).to.equal(0);
    releaseHeld();
    expect((await held.reply).status).to.equal(200);
    const [text] = await next;
    expect(text).to.match(/^HTTP\/1.1 200/);
    expect(text).to.contain('ok /b');
    socket.destroy();
  });

  describe('over HTTPS', () => {
    let certs: TlsFixtures;
    before(async () => {
      certs = await makeTlsFixtures();
    });
    after(() => certs.cleanup());

    it('issue 14: HTTPS at level RefuseConnections: curl -k of a critical path on a new connection gets 200 (its TLS details tracked), a normal path 503', async () => {
      app = createTestApp({ servers: [OverloadHttpsServer], config: { https: { tls: { cert: certs.cert, key: certs.key }, overload: { limiter: 'static', maxConcurrency: 100, criticalPaths: ['/healthz'] } } } });
      await app.start();
      const server = app.server(OverloadHttpsServer);
      const url = `https://127.0.0.1:${server.address()!.port}`;
      server.pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
      const added: number[] = [];
      server.pool.events.on(ConnectionPoolEvent.ConnectionAdded, (e) => void added.push(e.connection.id));
      let tlsProtocol: string | undefined;
      server.onHealthz = () => (tlsProtocol = server.pool.tlsInfo(server.pool.get(added[0])!)?.protocol);
      expect((await curl(['-k', `${url}/healthz`])).status).to.equal(200);
      expect(added).to.have.length(1);
      expect(tlsProtocol, 'the connection carries its TLS facts').to.match(/^TLSv1\.[23]$/);
      const normal = await curl(['-k', `${url}/`]);
      expect(normal.status).to.equal(503);
      expect(normal.body).to.contain('overloaded');
      expect(server.pool.getMetrics().rejected.byReason.overloaded).to.equal(1);
    });

    it('issue 14: HTTPS sheds through the inherited path: with its one slot held, curl -k gets 503 + Retry-After, then 200 once it frees', async () => {
      app = createTestApp({ servers: [OverloadHttpsServer], config: { https: { tls: { cert: certs.cert, key: certs.key }, overload: { limiter: 'static', maxConcurrency: 1, shed: { retryAfter: 2 } } } } });
      await app.start();
      const server = app.server(OverloadHttpsServer);
      const url = `https://127.0.0.1:${server.address()!.port}`;
      holdRequests();
      const first = curl(['-k', `${url}/held`]);
      await waitFor(() => server.pool.getMetrics().overload?.inFlight === 1, 5000, 'held request admitted');
      const shed = await curl(['-k', `${url}/`]);
      expect(shed.status).to.equal(503);
      expect(shed.headers['retry-after']).to.equal('2');
      expect(shed.body).to.contain('limit');
      releaseHeld();
      expect((await first).status).to.equal(200);
      const ok = await curl(['-k', `${url}/`]);
      expect(ok.status).to.equal(200);
      expect(ok.body).to.equal('hello');
      expect(server.pool.getMetrics().overload!.shed.limit).to.equal(1);
    });
  });
});
