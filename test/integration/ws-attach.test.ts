import 'reflect-metadata';
import { expect } from 'chai';
import type * as http from 'node:http';
import * as net from 'node:net';
import { ConfigValidationError, PoolConfig, UsePool, WebSocketConnectionPool, WebSocketPoolConfig, type Application } from '../../src';
import { formatProblem } from '../../src/errors';
import { createTestApp } from '../../src/testing';
import { PressureLevel } from '../../src/overload/pressure-level';
import { TestHttpServer, waitFor } from '../helpers/http-fixtures';
import { TestHttpsServer, makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { run } from '../helpers/metrics-clients';
import { pythonWsClient, stopPythonClients } from '../helpers/ws-python';
import { TestWsServer } from './ws-support';

/** A second WebSocket server, on section `ws2`. */
@UsePool(WebSocketConnectionPool)
class OtherWsServer extends TestWsServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws2') config: WebSocketPoolConfig) {
    super(config);
  }
}

/** `curl` one URL; resolves with its exit code, status and body. */
async function curl(url: string, extra: string[] = []): Promise<{ code: number; status: number; body: string }> {
  const r = await run('/usr/bin/curl', ['-sk', '--max-time', '10', '-w', '\n%{http_code}', ...extra, url]);
  const cut = r.stdout.lastIndexOf('\n');
  return { code: r.code, status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

describe('issue 12: WebSocket on the HTTP port (ws.attachTo)', () => {
  let app: Application | undefined;
  let certs: TlsFixtures | undefined;

  afterEach(async () => {
    await stopPythonClients();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });
  after(() => certs?.cleanup());

  async function startAttached(ws: Record<string, unknown> = {}) {
    const started = createTestApp({ servers: [TestHttpServer, TestWsServer], config: { ws: { attachTo: 'http', ...ws }, shutdown: { timeout: 10_000 } } });
    app = started;
    await started.start();
    const port = started.server(TestHttpServer).address()!.port;
    return { app: started, port, httpPool: started.server(TestHttpServer).pool, wsPool: started.server(TestWsServer).pool };
  }

  it('issue 12 attachTo: upgrades on ws.path on the HTTP port go to the WebSocket pool and echo; other upgrade paths get 404 (Python websockets)', async () => {
    const { app: started, port, wsPool } = await startAttached();
    expect(started.server(TestWsServer).address()?.port).to.equal(port);
    const client = pythonWsClient(`ws://127.0.0.1:${port}/ws`);
    expect(await client.line(/^echo /)).to.equal('echo hi');
    expect(wsPool.size).to.equal(1);
    const wrong = pythonWsClient(`ws://127.0.0.1:${port}/other`);
    expect(await wrong.line(/^status /)).to.equal('status 404');
    expect(wsPool.getMetrics().totalConnections).to.equal(1);
  });

  it('issue 12 attachTo: REST on the same port still answers (curl) and is counted in the HTTP pool, while the WebSocket is counted in the ws pool', async () => {
    const { port, httpPool, wsPool } = await startAttached();
    const client = pythonWsClient(`ws://127.0.0.1:${port}/ws`);
    expect(await client.line(/^echo /)).to.equal('echo hi');
    const rest = await curl(`http://127.0.0.1:${port}/`);
    expect(rest).to.deep.include({ code: 0, status: 200, body: 'ok' });
    // A plain request on the WebSocket path is the HTTP handler's, as before.
    const onPath = await curl(`http://127.0.0.1:${port}/ws`);
    expect(onPath).to.deep.include({ status: 200, body: 'ok' });
    await waitFor(() => httpPool.size === 0, 5000, 'the curl connections to close');
    const http = httpPool.getMetrics();
    expect(http.requests.total).to.equal(2);
    expect(http.active).to.equal(0); // the upgraded socket left the HTTP pool
    const ws = wsPool.getMetrics();
    expect(ws.active).to.equal(1);
    expect(ws.totalConnections).to.equal(1);
    expect(ws.websocket.messagesIn).to.equal(1);
  });

  it('issue 12 attachTo: a drain sends the ws client 1001 while an in-flight HTTP request completes; the port closes once both are done', async () => {
    const { app: started, port, httpPool } = await startAttached();
    const client = pythonWsClient(`ws://127.0.0.1:${port}/ws`);
    expect(await client.line(/^echo /)).to.equal('echo hi');
    const slow = curl(`http://127.0.0.1:${port}/slow?ms=800`);
    await waitFor(() => httpPool.getMetrics().requests.inFlight === 1, 5000, 'the slow request to be in flight');
    const stopped = started.stop();
    expect(await client.line(/^close /)).to.equal('close 1001');
    expect(await slow).to.deep.include({ code: 0, status: 200, body: 'slow 800' });
    const result = await stopped;
    expect(result).to.deep.include({ ok: true, forced: 0 });
    expect(result.graceful).to.be.at.least(2);
    const after = await curl(`http://127.0.0.1:${port}/`);
    expect(after.code).to.equal(7); // connection refused: the port is closed
  });

  it("issue 12 attachTo: the HTTP pool's drain and node's closeIdleConnections/closeAllConnections leave the upgraded socket alone (it is the ws pool's)", async () => {
    const { app: started, port, httpPool, wsPool } = await startAttached();
    const client = pythonWsClient(`ws://127.0.0.1:${port}/ws`);
    expect(await client.line(/^echo /)).to.equal('echo hi');
    const drained = await httpPool.drain();
    expect(drained).to.deep.include({ graceful: 0, forced: 0 });
    const nodeServer = (started.server(TestHttpServer) as unknown as { server: http.Server }).server;
    nodeServer.closeIdleConnections();
    nodeServer.closeAllConnections();
    const [conn] = [...wsPool.values()];
    expect(conn.raw.readyState).to.equal(conn.raw.OPEN);
    expect(wsPool.send(conn, 'still here')).to.equal(true);
    await started.stop();
    expect(await client.line(/^close /)).to.equal('close 1001');
  });

  it('issue 12 attachTo: a connection the HTTP pool refused (http.maxConnections) gets its 503 on an upgrade too, and the ws pool counts nothing', async () => {
    const started = createTestApp({ servers: [TestHttpServer, TestWsServer], config: { http: { maxConnections: 1, retryAfter: 4 }, ws: { attachTo: 'http' } } });
    app = started;
    await started.start();
    const port = started.server(TestHttpServer).address()!.port;
    const httpPool = started.server(TestHttpServer).pool;
    const held = net.connect(port, '127.0.0.1');
    held.on('error', () => undefined);
    try {
      await waitFor(() => httpPool.size === 1, 5000, 'the first connection to be admitted');
      const refused = pythonWsClient(`ws://127.0.0.1:${port}/ws`);
      expect(await refused.line(/^status /)).to.equal('status 503');
      expect(httpPool.getMetrics().rejected.byReason.max_connections).to.equal(1);
      expect(started.server(TestWsServer).pool.getMetrics().rejected.total).to.equal(0);
    } finally {
      held.destroy();
    }
  });

  it('issue 14 review: with the HTTP pool at refuseConnections, an upgrade on ws.path goes to the WebSocket pool, which decides (it is not overloaded: the client echoes); the HTTP pool counts no refusal', async () => {
    const started = createTestApp({ servers: [TestHttpServer, TestWsServer], config: { http: { overload: { limiter: 'static', maxConcurrency: 100 } }, ws: { attachTo: 'http' } } });
    app = started;
    await started.start();
    const port = started.server(TestHttpServer).address()!.port;
    const httpPool = started.server(TestHttpServer).pool;
    httpPool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const client = pythonWsClient(`ws://127.0.0.1:${port}/ws`);
    expect(await client.line(/^echo /)).to.equal('echo hi');
    expect(started.server(TestWsServer).pool.size).to.equal(1);
    expect(httpPool.getMetrics().rejected.total).to.equal(0);
    // A plain request on a new connection is still refused, and counted.
    expect((await curl(`http://127.0.0.1:${port}/`)).status).to.equal(503);
    expect(httpPool.getMetrics().rejected.byReason.overloaded).to.equal(1);
  });

  it('issue 12 attachTo: a live change of ws.path moves the route on the HTTP port; attachTo itself needs a restart', async () => {
    const { app: started, port } = await startAttached();
    const result = started.server(TestWsServer).updateConfig({ path: '/live' });
    expect(result.applied).to.deep.equal(['path']);
    const moved = pythonWsClient(`ws://127.0.0.1:${port}/live`);
    expect(await moved.line(/^echo /)).to.equal('echo hi');
    const old = pythonWsClient(`ws://127.0.0.1:${port}/ws`);
    expect(await old.line(/^status /)).to.equal('status 404');
    expect(started.server(TestWsServer).updateConfig({ attachTo: 'other' }).restartRequired).to.deep.equal(['attachTo']);
    expect(started.server(TestWsServer).config.attachTo).to.equal('http');
  });

  it('issue 12 attachTo: "https" takes wss upgrades on the HTTPS port (Python websockets over TLS)', async () => {
    certs ??= await makeTlsFixtures();
    const started = createTestApp({
      servers: [TestHttpsServer, TestWsServer],
      config: { https: { tls: { cert: certs.cert, key: certs.key } }, ws: { attachTo: 'https' } },
    });
    app = started;
    await started.start();
    const port = started.server(TestHttpsServer).address()!.port;
    const client = pythonWsClient(`wss://127.0.0.1:${port}/ws`, true);
    expect(await client.line(/^echo /)).to.equal('echo hi');
    expect(started.server(TestWsServer).pool.size).to.equal(1);
    expect(await curl(`https://127.0.0.1:${port}/`)).to.deep.include({ status: 200, body: 'hello' });
  });

  it('issue 12 attachTo: must name the section of an HTTP or HTTPS server of the app, and host/port must be left out (every problem before any port opens)', async () => {
    const boot = async (servers: Parameters<typeof createTestApp>[0]['servers'], ws: Record<string, unknown>, ws2: Record<string, unknown> = {}): Promise<string[]> => {
      const candidate = createTestApp({ servers, sections: { ws2: WebSocketPoolConfig }, config: { ws, ws2 } });
      try {
        await candidate.start();
      } catch (err) {
        expect(err).to.be.instanceOf(ConfigValidationError);
        return (err as ConfigValidationError).problems.map(formatProblem);
      }
      await candidate.stop({ force: true });
      throw new Error('expected the boot to fail');
    };
    const noHost = await boot([TestWsServer], { attachTo: 'http' });
    expect(noHost).to.have.length(1);
    expect(noHost[0]).to.match(/^ws\.attachTo: names section 'http', which no server of this app reads/);
    const itself = await boot([TestHttpServer, TestWsServer], { attachTo: 'ws' });
    expect(itself).to.deep.equal(["ws.attachTo: names this server's own section: name the section of the server whose port it shares (got \"ws\")"]);
    const notHttp = await boot([TestWsServer, OtherWsServer], { attachTo: 'ws2' });
    expect(notHttp).to.deep.equal([
      "ws.attachTo: names section 'ws2', read by OtherWsServer, which is not an HTTP or HTTPS server (attachTo takes the section of an HttpServer or HttpsServer of the app) (got \"ws2\")",
    ]);
    const samePath = await boot([TestHttpServer, TestWsServer, OtherWsServer], { attachTo: 'http' }, { attachTo: 'http' });
    expect(samePath).to.deep.equal(["ws2.path: is already taken on the port of section 'http' by another WebSocket server (got \"/ws\")"]);
    const withPort = await boot([TestHttpServer, TestWsServer], { attachTo: 'http', port: 4000, host: '0.0.0.0' });
    expect(withPort).to.deep.equal([
      "ws.host: must be left out when attachTo is set: upgrades arrive on the listener of section 'http' (got \"0.0.0.0\")",
      "ws.port: must be left out when attachTo is set: upgrades arrive on the listener of section 'http' (got 4000)",
    ]);
  });
});
