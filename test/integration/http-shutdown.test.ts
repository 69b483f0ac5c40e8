import 'reflect-metadata';
import { expect } from 'chai';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { PhaseResult } from '../../src';
import { DRAIN_KEEP_ALIVE_GRACE_MS } from '../../src/protocols/http/http-connection-pool';
import { createTestApp } from '../../src/testing';
import { closeGate } from '../helpers/gate';
import { TestHttpServer, connect, request, waitFor, type Reply } from '../helpers/http-fixtures';

describe('HTTP server: graceful shutdown on real sockets', () => {
  let app: ReturnType<typeof createTestApp> | undefined;
  const agents: http.Agent[] = [];

  async function boot(httpConfig: Record<string, unknown> = {}, shutdown: Record<string, unknown> = {}) {
    app = createTestApp({ servers: [TestHttpServer], config: { http: { keepAliveTimeout: 5000, ...httpConfig }, shutdown: { timeout: 5000, ...shutdown } } });
    await app.start();
    const server = app.server(TestHttpServer);
    return { port: server.address()!.port, pool: server.pool, server, app };
  }

  /** Boots with `count` keep-alive sockets that each served a request and are idle now (but within the drain grace). */
  async function bootWithKeepAliveSockets(count: number) {
    const booted = await boot({ keepAliveTimeout: 30_000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: count });
    agents.push(agent);
    await Promise.all(Array.from({ length: count }, () => request(booted.port, '/slow?ms=20', { agent })));
    expect(booted.pool.size).to.equal(count);
    return booted;
  }

  /** Counts the calls of `socket.destroy()` from now on. */
  function countDestroys(socket: Socket): () => number {
    const destroy = socket.destroy.bind(socket);
    let calls = 0;
    socket.destroy = (err?: Error) => {
      calls++;
      return destroy(err);
    };
    return () => calls;
  }

  afterEach(async () => {
    for (const a of agents.splice(0)) a.destroy();
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('finishes 50 in-flight slow requests, loses none, and takes about the longest request (not keepAliveTimeout)', async () => {
    const { port, pool, app } = await boot({ keepAliveTimeout: 30_000 }, { timeout: 20_000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    agents.push(agent);
    const pending: Array<Promise<Reply>> = [];
    // Held at a gate until the drain has started, so none can finish before all 50 are in flight.
    const release = closeGate();
    let elapsed = 0;
    let result: Awaited<ReturnType<typeof app.stop>>;
    try {
      for (let i = 0; i < 50; i++) pending.push(request(port, `/gated?ms=${100 + (i % 5) * 75}`, { agent }));
      await waitFor(() => pool.getMetrics().requests.inFlight === 50, 10_000, '50 requests in flight');
      const started = performance.now();
      const stopping = app.stop();
      await waitFor(() => pool.isDraining, 5000, 'drain started');
      release();
      result = await stopping;
      elapsed = performance.now() - started;
    } finally {
      release();
    }
    const replies = await Promise.all(pending);
    expect(replies.map((r) => r.status)).to.deep.equal(Array(50).fill(200));
    for (const r of replies) expect(r.headers.connection).to.equal('close');
    expect(result.ok).to.equal(true);
    expect(result.graceful).to.equal(50);
    expect(result.forced).to.equal(0);
    // The longest request is 400 ms after the gate; keepAliveTimeout is 30 s. Generous bound for a loaded CI box.
    expect(elapsed).to.be.below(10_000);
    expect(result.phases.map((p) => p.phase)).to.deep.equal(['readiness', 'stopAccepting', 'drain', 'force', 'hooks']);
  });

  it('closes idle keep-alive sockets (idle longer than the drain grace) at once', async () => {
    const { app } = await bootWithKeepAliveSockets(20);
    // The precondition: idle for longer than the grace given to recently active sockets.
    await new Promise((r) => setTimeout(r, DRAIN_KEEP_ALIVE_GRACE_MS + 50));
    const started = performance.now();
    const result = await app.stop();
    expect(performance.now() - started).to.be.below(DRAIN_KEEP_ALIVE_GRACE_MS);
    expect(result.graceful).to.equal(20);
    expect(result.forced).to.equal(0);
    const drain = result.phases.find((p) => p.phase === 'drain') as PhaseResult;
    expect(drain.durationMs).to.be.below(1000);
  });

  it('issue 14: a drain closes idle keep-alive sockets in one pass: each is closed (FIN, no reset) and counted graceful as drain() runs, without waiting for its close event', async () => {
    const { port, pool, app } = await boot({ keepAliveTimeout: 30_000 });
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connect(port)));
    const seen = sockets.map((s) => {
      let data = '';
      let error: string | undefined;
      s.setEncoding('utf8').on('data', (c: string) => (data += c));
      s.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      const ended = new Promise<boolean>((r) => s.once('close', () => r(s.readableEnded)));
      return { data: () => data, error: () => error, ended };
    });
    await waitFor(() => pool.getMetrics().requests.total === 20 && pool.getMetrics().requests.inFlight === 0, 5000, '20 answered');
    // The precondition: idle for longer than the grace given to recently active sockets.
    await new Promise((r) => setTimeout(r, DRAIN_KEEP_ALIVE_GRACE_MS + 50));
    const draining = pool.drain();
    // Closed and counted in the drain's own pass: no event-loop turn per socket before the drain ends.
    expect(pool.size).to.equal(0);
    const drained = await draining;
    expect(drained.graceful).to.equal(20);
    expect(drained.forced).to.equal(0);
    const result = await app.stop();
    expect(result.ok).to.equal(true);
    expect(result.graceful).to.equal(20);
    for (const s of seen) {
      expect(await s.ended, 'closed by FIN (end), not reset').to.equal(true);
      expect(s.error()).to.equal(undefined);
      expect(s.data()).to.match(/^HTTP\/1.1 200/);
    }
  });

  it('issue 14: a stop destroys each idle keep-alive socket once: the drain takes it off node\'s own connection list, so the server\'s close walks none of them again', async () => {
    const { pool, app } = await bootWithKeepAliveSockets(20);
    const destroys = [...pool.values()].map((conn) => countDestroys(conn.raw));
    // The precondition: idle for longer than the grace given to recently active sockets.
    await new Promise((r) => setTimeout(r, DRAIN_KEEP_ALIVE_GRACE_MS + 50));
    const result = await app.stop();
    expect(result.ok).to.equal(true);
    expect(result.graceful).to.equal(20);
    // Before, server.closeAllConnections() and server.close() found every one still listed
    // (node unlists a socket at its 'close' event, a loop turn later) and destroyed it twice more.
    expect(destroys.map((calls) => calls())).to.deep.equal(Array(20).fill(1));
  });

  it('issue 14: a socket forced at the drain deadline is destroyed once, and the stop still ends with every socket closed', async () => {
    const { port, pool, app } = await boot({}, { timeout: 300 });
    const hung = request(port, '/hang').then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await waitFor(() => pool.getMetrics().requests.inFlight === 1, 2000, 'request in flight');
    const [conn] = [...pool.values()];
    const calls = countDestroys(conn.raw);
    const result = await app.stop();
    expect(result.forced).to.equal(1);
    expect(await hung).to.equal('ECONNRESET');
    expect(conn.raw.destroyed).to.equal(true);
    expect(calls()).to.equal(1);
  });

  it('drain grace: a keep-alive socket active just before the drain gets DRAIN_KEEP_ALIVE_GRACE_MS for its next request (answered 200 with Connection: close, no reset); a recent one that sends nothing is closed at the grace end, graceful', async () => {
    const { port, pool, app } = await boot({ keepAliveTimeout: 30_000 });
    const [sender, silent] = await Promise.all([connect(port), connect(port)]);
    let data = '';
    sender.setEncoding('utf8').on('data', (c: string) => (data += c));
    silent.resume();
    for (const s of [sender, silent]) s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => pool.getMetrics().requests.total === 2 && pool.getMetrics().requests.inFlight === 0, 2000, 'both answered');
    const started = performance.now();
    const senderClosed = new Promise((r) => sender.once('close', r));
    const silentClosed = new Promise<number>((r) => silent.once('close', () => r(performance.now() - started)));
    const stopping = app.stop();
    await waitFor(() => pool.isDraining, 2000, 'drain started');
    // The client's next request, sent while the drain runs (as one on the wire at drain start).
    data = '';
    sender.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const result = await stopping;
    await senderClosed;
    expect(data).to.match(/^HTTP\/1.1 200/);
    expect(data).to.match(/connection: close/i);
    expect(await silentClosed).to.be.at.least(DRAIN_KEEP_ALIVE_GRACE_MS - 50);
    expect(result.graceful).to.equal(2);
    expect(result.forced).to.equal(0);
  });

  it('answers a request in flight at drain start with Connection: close, then closes its socket', async () => {
    const { port, pool, app } = await boot();
    const socket = await connect(port);
    socket.setEncoding('utf8');
    let data = '';
    socket.on('data', (c: string) => (data += c));
    socket.write('GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => pool.getMetrics().requests.inFlight === 1, 2000, 'request in flight');
    const stopping = app.stop();
    await waitFor(() => pool.isDraining, 2000, 'drain started');
    const closed = new Promise((r) => socket.once('close', r));
    await stopping;
    await closed;
    expect(data).to.match(/^HTTP\/1.1 200/);
    expect(data).to.match(/connection: close/i);
  });

  it('does not cut a request whose headers were arriving when the drain started: it is served with Connection: close', async () => {
    const { port, pool, app } = await boot();
    const socket = await connect(port);
    socket.setEncoding('utf8');
    let data = '';
    socket.on('data', (c: string) => (data += c));
    const closed = new Promise((r) => socket.once('close', r));
    socket.write('GET /slow?ms=10 HTTP/1.1\r\nHost: x\r\n');
    await waitFor(() => [...pool.values()].some((c) => c.raw.bytesRead > 0), 2000, 'partial headers received');
    const stopping = app.stop();
    await waitFor(() => pool.isDraining, 2000, 'drain started');
    socket.write('X-Late: yes\r\n\r\n');
    const result = await stopping;
    await closed;
    expect(data).to.match(/^HTTP\/1.1 200/);
    expect(data).to.match(/connection: close/i);
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
  });

  it('force-closes what is still running at shutdown.timeout and reports it', async () => {
    const { port, app } = await boot({}, { timeout: 300 });
    const hung = request(port, '/hang').then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await waitFor(() => app.server(TestHttpServer).pool.getMetrics().requests.inFlight === 1, 2000, 'request in flight');
    const started = performance.now();
    const result = await app.stop();
    const elapsed = performance.now() - started;
    expect(result.ok).to.equal(false);
    expect(result.forced).to.equal(1);
    expect(result.graceful).to.equal(0);
    expect(elapsed).to.be.at.least(290);
    expect(elapsed).to.be.below(2000);
    expect(await hung).to.equal('ECONNRESET');
    expect(app.logs.find('shutdown phase done').some((r) => r.fields.phase === 'force' && r.fields.forced === 1)).to.equal(true);
  });

  it('a second stop({ force: true }) cuts a long drain short', async () => {
    const { port, app } = await boot({}, { timeout: 60_000 });
    void request(port, '/hang').catch(() => undefined);
    await waitFor(() => app.server(TestHttpServer).pool.getMetrics().requests.inFlight === 1, 2000, 'request in flight');
    const first = app.stop();
    const second = app.stop({ force: true });
    const [a, b] = await Promise.all([first, second]);
    expect(a).to.equal(b);
    expect(a.forcedByUser).to.equal(true);
    expect(a.forced).to.equal(1);
  });

  it('issue 14: stop({ force: true }) during drainDelay ends the wait at once and destroys what is still running, counted forced by the user', async () => {
    const { port, pool, app } = await boot({}, { drainDelay: 60_000, timeout: 60_000 });
    const hung = request(port, '/hang').then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await waitFor(() => pool.getMetrics().requests.inFlight === 1, 2000, 'request in flight');
    const started = performance.now();
    const stopping = app.stop();
    expect(app.isReady).to.equal(false);
    const forced = app.stop({ force: true });
    const [result, again] = await Promise.all([stopping, forced]);
    expect(again).to.equal(result);
    // Far below drainDelay and the drain timeout: neither was waited out.
    expect(performance.now() - started).to.be.below(10_000);
    expect(result.forcedByUser).to.equal(true);
    expect(result.forced).to.equal(1);
    expect(result.ok).to.equal(false);
    expect(await hung).to.equal('ECONNRESET');
    expect(pool.size).to.equal(0);
  });

  it('waits drainDelay with readiness false before closing listeners', async () => {
    const { port, app } = await boot({}, { drainDelay: 200 });
    const events: string[] = [];
    app.events.on('readinessChanged', ({ ready }) => events.push(`ready=${ready}`));
    const stopping = app.stop();
    expect(app.isReady).to.equal(false);
    // Still accepting during the delay: load balancers are still sending while they notice.
    expect((await request(port, '/')).status).to.equal(200);
    const result = await stopping;
    expect(events).to.deep.equal(['ready=false']);
    expect(result.phases[0].durationMs).to.be.at.least(190);
  });
});
