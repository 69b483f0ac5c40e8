import 'reflect-metadata';
import { expect } from 'chai';
import type { Socket } from 'node:net';
import type { Application, HttpConnectionPool, HttpsConnectionPool } from '../../src';
import { ConnectionPoolEvent } from '../../src';
import { BODY_LINGER_MS, REFUSED_SOCKET_TIMEOUT_MS } from '../../src/protocols/http/http-server';
import { createTestApp } from '../../src/testing';
import * as tls from 'node:tls';
import { TestHttpServer, connect, readUntilClose, waitFor } from '../helpers/http-fixtures';
import { TestHttpsServer, makeTlsFixtures } from '../helpers/https-fixtures';

describe('HTTP timeouts that say what happened (raw sockets trickling bytes)', function () {
  this.timeout(20_000);
  let app: Application | undefined;
  const sockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];

  async function boot(http: Record<string, unknown>): Promise<{ port: number; pool: HttpConnectionPool }> {
    app = createTestApp({ servers: [TestHttpServer], config: { http } });
    await app.start();
    const server = app.server(TestHttpServer);
    return { port: server.address()!.port, pool: server.pool };
  }

  /** Opens a socket (closed after the test) and returns it with a promise of everything it receives until closed. */
  async function open(port: number): Promise<{ socket: Socket; received: Promise<string> }> {
    const socket = await connect(port);
    sockets.push(socket);
    return { socket, received: readUntilClose(socket) };
  }

  /** Writes one byte of `text` every `everyMs` ms, forever, while the socket is writable. */
  function trickle(socket: Socket, text: string, everyMs = 50): void {
    let i = 0;
    const t = setInterval(() => {
      if (socket.writable) socket.write(text[i++ % text.length]);
    }, everyMs);
    timers.push(t);
  }

  afterEach(async () => {
    for (const t of timers.splice(0)) clearInterval(t);
    for (const s of sockets.splice(0)) s.destroy();
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('item 12: a fresh connection that trickles its headers gets 408 + Connection: close at headersTimeout, counted headers, not cut silently at connectionTimeout', async () => {
    const { port, pool } = await boot({ connectionTimeout: 200, headersTimeout: 800, requestTimeout: 5000 });
    const kinds: string[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionTimeout, (e) => kinds.push(e.kind));
    const { socket, received } = await open(port);
    const started = Date.now();
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    trickle(socket, 'a');
    const data = await received;
    expect(data).to.match(/^HTTP\/1.1 408/);
    expect(data).to.match(/\r\nConnection: close\r\n/i);
    expect(Date.now() - started).to.be.at.least(700);
    expect(kinds).to.deep.equal(['headers']);
    expect(pool.getMetrics().timeouts).to.deep.equal({ headers: 1 });
  });

  it('item 12: the same trickle on a keep-alive connection gets the same 408 + Connection: close, counted headers', async () => {
    const { port, pool } = await boot({ connectionTimeout: 200, headersTimeout: 800, requestTimeout: 5000, keepAliveTimeout: 5000 });
    const { socket, received } = await open(port);
    let first = '';
    socket.on('data', (c: Buffer | string) => (first += c.toString()));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => first.includes('\r\n\r\nok'), 2000, 'first response');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    trickle(socket, 'a');
    const data = await received;
    const second = data.slice(data.indexOf('\r\n\r\nok') + 6);
    expect(second).to.match(/^HTTP\/1.1 408/);
    expect(second).to.match(/\r\nConnection: close\r\n/i);
    expect(pool.getMetrics().timeouts).to.deep.equal({ headers: 1 });
  });

  it('item 12: a connection that sends nothing is closed without an answer and counted connection, also when headersTimeout is the shorter', async () => {
    const { port, pool } = await boot({ connectionTimeout: 5000, headersTimeout: 300, requestTimeout: 5000 });
    const { received } = await open(port);
    expect(await received).to.equal('');
    await waitFor(() => pool.size === 0, 2000, 'socket removed');
    expect(pool.getMetrics().timeouts).to.deep.equal({ connection: 1 });
  });

  it(`item 12: a client trickling an unread request body after its response is cut after the body linger (${BODY_LINGER_MS} ms), counted body_linger, not held until requestTimeout`, async () => {
    const { port, pool } = await boot({ headersTimeout: 5000, requestTimeout: 15_000, keepAliveTimeout: 10_000 });
    const { socket, received } = await open(port);
    // Stamped before the request leaves: the server answers (and starts the linger) after this.
    const sent = Date.now();
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
    trickle(socket, 'b');
    const data = await received;
    const lingered = Date.now() - sent;
    expect(data).to.match(/^HTTP\/1.1 200/);
    expect(data).to.match(/\r\n\r\nok$/);
    expect(lingered).to.be.at.least(BODY_LINGER_MS - 5);
    expect(lingered).to.be.below(BODY_LINGER_MS + 3000);
    await waitFor(() => pool.size === 0, 2000, 'socket removed');
    expect(pool.getMetrics().timeouts).to.deep.equal({ body_linger: 1 });
  });

  it('item 12: a body that arrives in full after the response keeps the keep-alive connection (no linger cut)', async () => {
    const { port, pool } = await boot({ headersTimeout: 5000, requestTimeout: 15_000, keepAliveTimeout: 10_000 });
    const { socket } = await open(port);
    let data = '';
    socket.on('data', (c: Buffer | string) => (data += c.toString()));
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345');
    await waitFor(() => data.includes('\r\n\r\nok'), 2000, 'first response');
    socket.write('67890');
    await new Promise((r) => setTimeout(r, BODY_LINGER_MS + 300));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => (data.match(/HTTP\/1.1 200/g) ?? []).length === 2, 2000, 'second response on the same socket');
    expect(pool.getMetrics().timeouts).to.deep.equal({});
  });

  it('review: early-answered uploads on one keep-alive socket add no close listener per request', async () => {
    const { port, pool } = await boot({ headersTimeout: 5000, requestTimeout: 15_000, keepAliveTimeout: 10_000 });
    let serverSocket: Socket | undefined;
    const nodeServer = (app!.server(TestHttpServer) as unknown as { server: { once(e: 'connection', l: (s: Socket) => void): void } }).server;
    nodeServer.once('connection', (s) => (serverSocket = s));
    const warnings: string[] = [];
    const onWarning = (w: Error): number => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const { socket } = await open(port);
      let data = '';
      socket.on('data', (c: Buffer | string) => (data += c.toString()));
      await waitFor(() => serverSocket !== undefined, 2000, 'server side socket');
      const baseline = serverSocket!.listenerCount('close');
      for (let i = 1; i <= 15; i++) {
        socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345');
        await waitFor(() => (data.match(/\r\n\r\nok/g) ?? []).length === i, 2000, `response ${i}`);
        socket.write('67890'); // the rest of the body, after the response: the next request may start
      }
      await new Promise((r) => setImmediate(r));
      expect(serverSocket!.listenerCount('close')).to.equal(baseline);
      expect(warnings).to.not.include('MaxListenersExceededWarning');
      await new Promise((r) => setTimeout(r, BODY_LINGER_MS + 200));
      expect(serverSocket!.destroyed).to.equal(false); // every body arrived: no linger cut
      expect(pool.getMetrics().timeouts).to.deep.equal({});
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('item 13: a refused socket that trickles its request gets 503 (not 408) when node cuts it, and nothing is counted as a pool timeout', async () => {
    const { port, pool } = await boot({ maxConnections: 1, headersTimeout: 300, requestTimeout: 5000, connectionTimeout: 0 });
    const holder = await open(port);
    try {
      holder.socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => pool.getMetrics().requests.inFlight === 1, 2000, 'first connection admitted, its request in flight');
      const { socket, received } = await open(port);
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      trickle(socket, 'a');
      const data = await received;
      expect(data).to.match(/^HTTP\/1.1 503/);
      expect(data).to.match(/\r\nRetry-After: 1\r\n/i);
      expect(data).to.match(/\r\nConnection: close\r\n/i);
      expect(pool.getMetrics().timeouts).to.deep.equal({});
      expect(pool.getMetrics().rejected.byReason).to.deep.equal({ max_connections: 1 });
    } finally {
      holder.socket.destroy();
    }
  });

  it(`item 13: a refused socket that trickles slower than node's headersTimeout is answered 503 at the refusal's own limit (${REFUSED_SOCKET_TIMEOUT_MS} ms), not held; a silent refused socket is closed then`, async () => {
    const { port, pool } = await boot({ maxConnections: 1, headersTimeout: 15_000, requestTimeout: 15_000, connectionTimeout: 0 });
    (await open(port)).socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => pool.getMetrics().requests.inFlight === 1, 2000, 'first connection admitted, its request in flight');
    // Stamped before the refused socket opens: the refusal's limit starts when the server accepts it.
    const started = Date.now();
    const { socket, received } = await open(port);
    const silent = await open(port); // refused too, sends nothing: closed at the same limit, no answer
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    trickle(socket, 'a');
    const data = await received;
    const elapsed = Date.now() - started;
    expect(data).to.match(/^HTTP\/1.1 503/);
    expect(elapsed).to.be.at.least(REFUSED_SOCKET_TIMEOUT_MS - 100);
    expect(elapsed).to.be.below(REFUSED_SOCKET_TIMEOUT_MS + 3000);
    expect(await silent.received).to.equal('');
    expect(pool.getMetrics().timeouts).to.deep.equal({});
    expect(pool.getMetrics().rejected.byReason).to.deep.equal({ max_connections: 2 });
  });
  it('item 12 and 13 over HTTPS: a fresh TLS connection trickling its headers gets 408 (headers), a refused one gets 503, nothing of the refused one counted', async () => {
    // connectionTimeout also bounds the TLS handshake: 1 s leaves a loaded machine room for it; the trickle (a byte per 50 ms) outlasts it.
    const certs = await makeTlsFixtures();
    try {
      app = createTestApp({ servers: [TestHttpsServer], config: { https: { tls: { cert: certs.cert, key: certs.key }, maxConnections: 1, connectionTimeout: 1000, headersTimeout: 3000, requestTimeout: 5000 } } });
      await app.start();
      const server = app.server(TestHttpsServer);
      const pool: HttpsConnectionPool = server.pool;
      const port = server.address()!.port;
      const openTls = (): Promise<{ socket: tls.TLSSocket; received: Promise<string> }> =>
        new Promise((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => resolve({ socket, received }));
          sockets.push(socket);
          const received = readUntilClose(socket);
          socket.once('error', reject);
        });
      const admitted = await openTls();
      await waitFor(() => pool.size === 1, 2000, 'first TLS connection admitted');
      const refused = await openTls();
      for (const { socket } of [admitted, refused]) {
        socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        trickle(socket, 'a');
      }
      const [a, r] = await Promise.all([admitted.received, refused.received]);
      expect(a).to.match(/^HTTP\/1.1 408/);
      expect(r).to.match(/^HTTP\/1.1 503/);
      await waitFor(() => pool.size === 0, 2000, 'socket removed');
      expect(pool.getMetrics().timeouts).to.deep.equal({ headers: 1 });
      expect(pool.getMetrics().rejected.byReason).to.deep.equal({ max_connections: 1 });
    } finally {
      certs.cleanup();
    }
  });
});
