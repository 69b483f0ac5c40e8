import 'reflect-metadata';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import type { Application, ConnectionPoolManager } from '../../src';
import { createTestApp } from '../../src/testing';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { HttpsApiServer } from '../../samples/multi-protocol/https-api-server';
import { closeGate } from '../helpers/gate';
import { TestHttpServer, connect, readUntilClose, waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';

const BODY = 32 * 1024 * 1024;

/** What curl printed (`-w '%{size_download}'`) and how it exited. */
interface CurlRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; out: string; err: string }>;
}

function curl(args: string[]): CurlRun {
  const child = spawn('/usr/bin/curl', ['-s', '-S', '-o', '/dev/null', '-w', '%{size_download}', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.once('close', (code) => resolve({ code, out, err })));
  return { child, done };
}

/** `_httpMessage` is the response node is writing on a socket. */
type ResponseOnSocket = { writableEnded: boolean; writableFinished: boolean } | null | undefined;

/** Whether the one connection of `pool` has a response whose `end()` ran while its body still waits to be written. */
function endedButNotFlushed(pool: ConnectionPoolManager<Socket>): boolean {
  const [conn] = [...pool.values()];
  const res = (conn?.raw as (Socket & { _httpMessage?: ResponseOnSocket }) | undefined)?._httpMessage;
  return !!res && res.writableEnded && !res.writableFinished;
}

describe('HTTP/HTTPS drain loses nothing (slow readers, preconnects, pipelining)', function () {
  this.timeout(30_000);
  let app: Application | undefined;
  let certs: TlsFixtures;
  const children: ChildProcess[] = [];
  const sockets: Socket[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of sockets.splice(0)) s.destroy();
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  async function bootHttp(http: Record<string, unknown> = {}, shutdown: Record<string, unknown> = {}) {
    app = createTestApp({ servers: [HttpApiServer], config: { http, shutdown: { timeout: 20_000, ...shutdown } } });
    await app.start();
    const server = app.server(HttpApiServer);
    return { app, port: server.address()!.port, pool: server.pool };
  }

  async function bootHttps(https: Record<string, unknown> = {}, shutdown: Record<string, unknown> = {}) {
    app = createTestApp({ servers: [HttpsApiServer], config: { https: { tls: { cert: certs.cert, key: certs.key }, ...https }, shutdown: { timeout: 20_000, ...shutdown } } });
    await app.start();
    const server = app.server(HttpsApiServer);
    return { app, port: server.address()!.port, pool: server.pool };
  }

  for (const scheme of ['http', 'https'] as const) {
    it(`item 1: a slow reader (curl --limit-rate) gets its whole 32 MiB body over ${scheme.toUpperCase()} through a drain that starts after end() and before the flush; stop() is ok`, async () => {
      const { app, port, pool } = scheme === 'http' ? await bootHttp() : await bootHttps();
      const run = curl([...(scheme === 'https' ? ['-k'] : []), '--limit-rate', '16M', `${scheme}://127.0.0.1:${port}/bytes?n=${BODY}`]);
      children.push(run.child);
      // The handler has called end(); the tail of the body is still in the socket's buffers.
      await waitFor(() => endedButNotFlushed(pool as unknown as ConnectionPoolManager<Socket>), 15_000, 'response ended but not flushed');
      const result = await app.stop();
      const curlDone = await run.done;
      expect(curlDone.err).to.equal('');
      expect(curlDone.code).to.equal(0);
      expect(Number(curlDone.out)).to.equal(BODY);
      expect(result.ok).to.equal(true);
      expect(result.graceful).to.equal(1);
      expect(result.forced).to.equal(0);
      const m = pool.getMetrics();
      expect(m.errors.byType.aborted ?? 0).to.equal(0);
      expect(m.requests.total).to.equal(1);
      expect(m.requests.failed).to.equal(0);
    });
  }

  it('item 1: a body cut at the drain deadline before it flushed is counted aborted and failed, and stop() is not ok', async () => {
    const { app, port, pool } = await bootHttp({}, { timeout: 300 });
    const socket = await connect(port);
    sockets.push(socket);
    socket.write(`GET /bytes?n=${BODY} HTTP/1.1\r\nHost: x\r\n\r\n`);
    socket.once('data', () => socket.pause()); // reads the head, then stops reading: the body cannot flush
    await waitFor(() => pool.getMetrics().requests.inFlight === 1, 5000, 'request in flight');
    const result = await app.stop();
    expect(result.ok).to.equal(false);
    expect(result.forced).to.equal(1);
    await waitFor(() => pool.getMetrics().errors.byType.aborted === 1, 2000, 'the cut request counted aborted');
    const m = pool.getMetrics();
    expect(m.requests.failed).to.equal(1);
  });

  it('item 2: a connection opened just before the drain whose request comes after the drain started (its first request in its socket, unread) is answered with Connection: close, not reset', async () => {
    const { app, port, pool } = await bootHttp({ connectionTimeout: 10_000 }, { timeout: 5000 });
    const socket = await connect(port);
    sockets.push(socket);
    const received = readUntilClose(socket);
    await waitFor(() => pool.size === 1, 2000, 'connection admitted');
    const stopping = app.stop();
    await waitFor(() => pool.isDraining, 2000, 'drain started');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const result = await stopping;
    const data = await received;
    expect(data).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(data).to.match(/\r\nconnection: close\r\n/i);
    expect(result.ok).to.equal(true);
    expect(result.graceful).to.equal(1);
  });

  /** An HTTPS app with one raw TCP connection its listener has accepted (no TLS handshake yet). */
  async function httpsConnectionAccepted() {
    const { app, port, pool } = await bootHttps({ connectionTimeout: 10_000 }, { timeout: 5000 });
    const node = (app.server(HttpsApiServer) as unknown as { server: tls.Server }).server;
    const accepted = new Promise((resolve) => node.once('connection', resolve));
    const raw = await connect(port);
    sockets.push(raw);
    const rawClosed = new Promise((resolve) => raw.once('close', resolve));
    await accepted;
    return { app, pool, node, raw, rawClosed };
  }

  it('item 2: an HTTPS connection accepted just before the listener closed whose TLS handshake comes after it is admitted before the drain starts, and its request is served (200, Connection: close), not refused 503', async () => {
    const { app, pool, node, raw, rawClosed } = await httpsConnectionAccepted();
    const stopping = app.stop();
    await waitFor(() => !node.listening, 2000, 'listener closed');
    expect(pool.isDraining, 'the drain waits for the handshake in progress').to.equal(false);
    const secure = tls.connect({ socket: raw, servername: 'localhost', rejectUnauthorized: false });
    secure.on('error', () => undefined);
    let data = '';
    secure.setEncoding('utf8').on('data', (c: string) => (data += c));
    secure.once('secureConnect', () => secure.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await rawClosed;
    const result = await stopping;
    expect(data).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(data).to.match(/\r\nconnection: close\r\n/i);
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
  });

  it('item 2: a TCP connection accepted just before the listener closed that never starts its TLS handshake holds the drain back 500 ms at most, then is cut', async () => {
    const { app, pool, rawClosed } = await httpsConnectionAccepted();
    const result = await app.stop();
    await rawClosed;
    expect(pool.size).to.equal(0);
    expect(result.forced).to.equal(0);
    expect(result.durationMs).to.be.below(4000);
  });

  it('item 2: a connection that never sends a byte (a preconnect) is closed when the drain grace ends (at drain start if it is older than the grace), counted graceful, and the drain does not wait for connectionTimeout', async () => {
    const { app, port, pool } = await bootHttp({ connectionTimeout: 10_000 }, { timeout: 5000 });
    const socket = await connect(port);
    sockets.push(socket);
    const closed = readUntilClose(socket);
    await waitFor(() => pool.size === 1, 2000, 'connection admitted');
    const started = performance.now();
    const result = await app.stop();
    const elapsed = performance.now() - started;
    expect(await closed).to.equal('');
    expect(result.ok).to.equal(true);
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
    expect(elapsed).to.be.below(1000);
    expect(pool.getMetrics().timeouts.connection ?? 0).to.equal(0);
  });

  it('item 2: an HTTPS preconnect (handshake done, no request) is closed when the drain grace ends, counted graceful', async () => {
    const { app, port, pool } = await bootHttps({ connectionTimeout: 10_000 }, { timeout: 5000 });
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    sockets.push(socket);
    const closed = new Promise((r) => socket.once('close', r));
    socket.on('error', () => undefined);
    await waitFor(() => pool.size === 1, 2000, 'connection admitted');
    const started = performance.now();
    const result = await app.stop();
    const elapsed = performance.now() - started;
    await closed;
    expect(result.ok).to.equal(true);
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
    expect(elapsed).to.be.below(1000);
  });

  for (const count of [2, 3]) {
    it(`item 3: ${count} pipelined requests in flight at drain start are all answered, Connection: close on the last one only`, async () => {
      app = createTestApp({ servers: [TestHttpServer], config: { http: {}, shutdown: { timeout: 20_000 } } });
      await app.start();
      const { app: running, pool } = { app, pool: app.server(TestHttpServer).pool };
      const socket = await connect(app.server(TestHttpServer).address()!.port);
      sockets.push(socket);
      const received = readUntilClose(socket);
      // Held at a gate until the drain has started: all are in flight then, whatever the load.
      const release = closeGate();
      let result: Awaited<ReturnType<typeof running.stop>>;
      try {
        socket.write(Array.from({ length: count }, (_, i) => `GET /gated?ms=${200 + i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
        await waitFor(() => pool.getMetrics().requests.inFlight === count, 5000, `${count} pipelined requests in flight`);
        const stopping = running.stop();
        await waitFor(() => pool.isDraining, 5000, 'drain started');
        release();
        result = await stopping;
      } finally {
        release();
      }
      const data = await received;
      const heads = data.split(/\r\n\r\n(?:gated \d+)?/).filter((h) => h.startsWith('HTTP/1.1'));
      expect(heads.map((h) => h.split('\r\n')[0])).to.deep.equal(Array(count).fill('HTTP/1.1 200 OK'));
      for (let i = 0; i < count; i++) expect(data).to.contain(`gated ${200 + i}`);
      expect(heads.map((h) => /\r\nconnection: close/i.test(h))).to.deep.equal([...Array(count - 1).fill(false), true]);
      expect(result.ok).to.equal(true);
      expect(result.graceful).to.equal(1);
      expect(pool.getMetrics().errors.byType.aborted ?? 0).to.equal(0);
      expect(pool.getMetrics().requests.total).to.equal(count);
    });
  }
  it('review: a pipelined request whose headers had only partly arrived at drain start is answered too, with Connection: close', async () => {
    app = createTestApp({ servers: [TestHttpServer], config: { http: { headersTimeout: 10_000 }, shutdown: { timeout: 20_000 } } });
    await app.start();
    const running = app;
    const pool = app.server(TestHttpServer).pool;
    const socket = await connect(app.server(TestHttpServer).address()!.port);
    sockets.push(socket);
    const received = readUntilClose(socket);
    let seen = '';
    socket.on('data', (c: string) => (seen += c));
    const release = closeGate();
    let result: Awaited<ReturnType<typeof running.stop>>;
    try {
      // The first request complete (held at the gate), the next one's headers half sent.
      socket.write('GET /gated?ms=0 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow?ms=0 HTTP/1.1\r\nHo');
      await waitFor(() => pool.getMetrics().requests.inFlight === 1, 5000, 'first request in flight');
      const stopping = running.stop();
      await waitFor(() => pool.isDraining, 5000, 'drain started');
      release();
      await waitFor(() => seen.includes('gated 0') || socket.destroyed, 5000, 'first response');
      if (!socket.destroyed) socket.write('st: x\r\n\r\n');
      result = await stopping;
    } finally {
      release();
    }
    const data = await received;
    const heads = data.split(/\r\n\r\n(?:gated 0|slow 0)?/).filter((h) => h.startsWith('HTTP/1.1'));
    expect(heads.map((h) => h.split('\r\n')[0])).to.deep.equal(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    expect(heads.map((h) => /\r\nconnection: close/i.test(h))).to.deep.equal([false, true]);
    expect(data).to.match(/slow 0$/);
    expect(result.ok).to.equal(true);
    expect(pool.getMetrics().requests.total).to.equal(2);
  });
});
