import 'reflect-metadata';
import { expect } from 'chai';
import * as http from 'node:http';
import type { Application } from '../../src';
import { HttpConnectionPool, ConnectionPoolEvent } from '../../src';
import { createTestApp } from '../../src/testing';
import { TestHttpServer, connect, readUntilClose, request, waitFor } from '../helpers/http-fixtures';

describe('HTTP server: admission, timeouts and accounting on real sockets', () => {
  let app: Application | undefined;
  const agents: http.Agent[] = [];

  async function boot(http: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<{ port: number; pool: HttpConnectionPool; server: TestHttpServer }> {
    app = createTestApp({ servers: [TestHttpServer], config: { http, ...extra } });
    await app.start();
    const server = app.server(TestHttpServer);
    return { port: server.address()!.port, pool: server.pool, server };
  }

  afterEach(async () => {
    for (const a of agents.splice(0)) a.destroy();
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('serves a request and measures it', async () => {
    const { port, pool } = await boot();
    const reply = await request(port, '/');
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('ok');
    await waitFor(() => pool.getMetrics().requests.total === 1, 2000, 'request counted');
    const m = pool.getMetrics();
    expect(m.latency.count).to.equal(1);
    expect(m.latency.p99Ms).to.be.greaterThan(0);
    expect(m.totalConnections).to.equal(1);
  });

  it('ends a request whose response had its prototype replaced (as Express 5 does): tracking does not depend on the prototype', async () => {
    const { port, pool } = await boot();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    for (let i = 0; i < 3; i++) expect((await request(port, '/swapped', { agent })).body).to.equal('swapped');
    await waitFor(() => pool.getMetrics().requests.total === 3, 2000, 'three requests ended');
    expect(pool.getMetrics().requests.inFlight).to.equal(0);
    expect(pool.getMetrics().latency.count).to.equal(3);
  });

  it('admits exactly maxConnections under 40 concurrent connects and answers the rest 503 + Retry-After + Connection: close', async () => {
    const { port, pool } = await boot({ maxConnections: 5, retryAfter: 7 });
    const sockets = await Promise.all(Array.from({ length: 40 }, () => connect(port)));
    const replies = sockets.map((s) => {
      const done = new Promise<string>((resolve) => {
        let data = '';
        s.setEncoding('utf8');
        s.on('data', (c: string) => {
          data += c;
          if (data.includes('\r\n\r\n') && /content-length: (\d+)/i.test(data)) {
            const len = Number(/content-length: (\d+)/i.exec(data)![1]);
            if (data.length - data.indexOf('\r\n\r\n') - 4 >= len) resolve(data);
          }
        });
        s.on('close', () => resolve(data));
      });
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      return done;
    });
    const texts = await Promise.all(replies);
    const ok = texts.filter((t) => t.startsWith('HTTP/1.1 200'));
    const refused = texts.filter((t) => t.startsWith('HTTP/1.1 503'));
    expect(ok).to.have.length(5);
    expect(refused).to.have.length(35);
    for (const r of refused) {
      expect(r).to.match(/retry-after: 7/i);
      expect(r).to.match(/connection: close/i);
    }
    expect(pool.size).to.equal(5);
    const m = pool.getMetrics();
    expect(m.rejected.byReason.max_connections).to.equal(35);
    expect(m.active).to.equal(5);
    for (const s of sockets) s.destroy();
    await waitFor(() => pool.size === 0, 3000, 'sockets gone');
  });

  it('a node:http client reads the 503 as a normal response', async () => {
    const { port } = await boot({ maxConnections: 1 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    expect((await request(port, '/', { agent })).status).to.equal(200);
    const reply = await request(port, '/');
    expect(reply.status).to.equal(503);
    expect(reply.headers['retry-after']).to.equal('1');
    expect(reply.headers.connection).to.equal('close');
    expect(reply.body).to.contain('connection limit');
  });

  it('closes a slowloris client at headersTimeout with 408 and counts a headers timeout', async () => {
    const { port, pool } = await boot({ headersTimeout: 300, requestTimeout: 2000, connectionTimeout: 0 });
    const socket = await connect(port);
    const started = Date.now();
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const trickle = setInterval(() => socket.writable && socket.write('a'), 50);
    const data = await readUntilClose(socket);
    clearInterval(trickle);
    const elapsed = Date.now() - started;
    expect(data).to.match(/^HTTP\/1.1 408/);
    expect(elapsed).to.be.at.least(250);
    expect(elapsed).to.be.below(3000);
    await waitFor(() => pool.size === 0, 2000, 'socket removed');
    expect(pool.getMetrics().timeouts.headers).to.equal(1);
  });

  it('closes a connection that never sends a request at connectionTimeout', async () => {
    const { port, pool } = await boot({ connectionTimeout: 200 });
    const timeouts: string[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionTimeout, (e) => timeouts.push(e.kind));
    const socket = await connect(port);
    await readUntilClose(socket);
    expect(timeouts).to.deep.equal(['connection']);
    await waitFor(() => pool.size === 0, 2000, 'socket removed');
    expect(pool.getMetrics().timeouts.connection).to.equal(1);
  });

  it('never closes a busy connection as idle: a request longer than idleTimeout completes, then the idle socket is closed', async () => {
    const { port, pool } = await boot({ idleTimeout: 150, keepAliveTimeout: 10_000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    const reply = await request(port, '/slow?ms=500', { agent });
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('slow 500');
    expect(pool.getMetrics().timeouts.idle ?? 0).to.equal(0);
    await waitFor(() => pool.size === 0, 3000, 'idle socket closed');
    expect(pool.getMetrics().timeouts.idle).to.equal(1);
  });

  it('does not close as idle a keep-alive socket whose next request headers are arriving', async () => {
    const { port, pool } = await boot({ idleTimeout: 300, keepAliveTimeout: 10_000, headersTimeout: 5000 });
    const socket = await connect(port);
    socket.setEncoding('utf8');
    let data = '';
    socket.on('data', (c: string) => (data += c));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => data.includes('\r\n\r\nok'), 2000, 'first response');
    // The next request trickles in: its first byte at once, the rest over ~600 ms (twice idleTimeout).
    const request = 'GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'a'.repeat(60) + '\r\n\r\n';
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        socket.write(request.slice(sent, sent + 1));
        sent++;
        if (sent >= request.length) {
          clearInterval(tick);
          resolve();
        }
      }, 600 / request.length);
    });
    await waitFor(() => (data.match(/HTTP\/1.1 200/g) ?? []).length === 2, 3000, 'second response');
    expect(pool.getMetrics().timeouts.idle ?? 0).to.equal(0);
    socket.destroy();
  });

  it('leaves active at 0 after clients reset mid-request', async () => {
    const { port, pool } = await boot();
    for (let round = 0; round < 3; round++) {
      const sockets = await Promise.all(Array.from({ length: 20 }, () => connect(port)));
      for (const [i, s] of sockets.entries()) s.write(`GET ${i % 2 ? '/hang' : '/slow?ms=300'} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor(() => pool.getMetrics().requests.inFlight === 20, 3000, '20 requests in flight');
      for (const s of sockets) s.resetAndDestroy();
    }
    await waitFor(() => pool.size === 0, 3000, 'all reset sockets removed');
    const m = pool.getMetrics();
    expect(m.active).to.equal(0);
    expect(m.idle).to.equal(0);
    expect(m.requests.inFlight).to.equal(0);
    expect(m.errors.byType.aborted).to.equal(60);
    // Each aborted request still ends as a timed unit of work (latency recorded once, not twice).
    expect(m.requests.total).to.equal(60);
    expect(m.latency.count).to.equal(60);
  });

  it('counts every pipelined request cut off by a reset as aborted, the one on the wire timed', async () => {
    const { port, pool } = await boot();
    const socket = await connect(port);
    // Three requests in one write: node hands all three to the server, answers them in order,
    // and /hang never answers, so two wait in node's queue behind the first.
    socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\nGET /hang HTTP/1.1\r\nHost: x\r\n\r\nGET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => pool.getMetrics().requests.inFlight === 3, 3000, '3 pipelined requests in flight');
    socket.resetAndDestroy();
    await waitFor(() => pool.size === 0, 3000, 'reset socket removed');
    const m = pool.getMetrics();
    expect(m.errors.byType.aborted).to.equal(3);
    expect(m.requests.total).to.equal(1); // only the response being written had a start stamp to time
    expect(m.requests.inFlight).to.equal(0);
  });

  it('turns handler throws and rejections into 500s and counts them as errors', async () => {
    const { port, pool } = await boot();
    expect((await request(port, '/throw')).status).to.equal(500);
    expect((await request(port, '/reject')).status).to.equal(500);
    expect((await request(port, '/fail')).status).to.equal(502);
    await waitFor(() => pool.getMetrics().requests.total === 3, 2000, 'requests counted');
    const m = pool.getMetrics();
    expect(m.errors.byType.handler).to.equal(2);
    expect(m.requests.failed).to.equal(3);
    expect(app && (app as unknown as { logs: { find(m: string): unknown[] } }).logs.find('request handler failed')).to.have.length(2);
  });

  it('answers a malformed request 400 and counts a client error without crashing', async () => {
    const { port, pool } = await boot();
    const socket = await connect(port);
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    const data = await readUntilClose(socket);
    expect(data).to.match(/^HTTP\/1.1 400/);
    expect(pool.getMetrics().errors.byType.client_error).to.equal(1);
    expect((await request(port, '/')).status).to.equal(200);
  });

  it('applies a lowered maxConnections live to the next connection without closing existing ones', async () => {
    const { port, pool, server } = await boot({ maxConnections: 10 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    agents.push(agent);
    await Promise.all([request(port, '/slow?ms=50', { agent }), request(port, '/slow?ms=50', { agent })]);
    expect(pool.size).to.equal(2);
    expect(pool.updateConfig({ maxConnections: 2 }).applied).to.deep.equal(['maxConnections']);
    expect(server.updateConfig({ keepAliveTimeout: 20_000, retryAfter: 9 }).applied).to.have.members(['keepAliveTimeout', 'retryAfter']);
    expect(server.config.maxConnections, "the server's copy follows its pool").to.equal(2);
    const refused = await request(port, '/');
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('9');
    const kept = await request(port, '/', { agent });
    expect(kept.status).to.equal(200);
    expect(kept.headers['keep-alive']).to.equal('timeout=20');
    expect(pool.size).to.equal(2);
  });

  it('rejects an invalid live update and keeps the old config', async () => {
    const { pool, server } = await boot({ headersTimeout: 1000, requestTimeout: 2000 });
    expect(() => pool.updateConfig({ maxConnections: 0 })).to.throw(/maxConnections: must not be less than 1/);
    expect(() => server.updateConfig({ headersTimeout: 5000 })).to.throw(/http\.headersTimeout: must not be greater than requestTimeout/);
    expect(() => server.updateConfig({ maxConnections: 5 })).to.throw(/http\.maxConnections: is a setting of HttpConnectionPool, shared by its servers/);
    expect(() => pool.updateConfig({ retryAfter: 5 })).to.throw(/http\.retryAfter: is a setting of each server, not of the pool/);
    expect(server.config.headersTimeout).to.equal(1000);
    expect(pool.config.maxConnections).to.equal(1000);
    const r = server.updateConfig({ port: 4321 });
    expect(r.restartRequired).to.deep.equal(['port']);
    expect(server.config.port).to.equal(0);
  });
});
