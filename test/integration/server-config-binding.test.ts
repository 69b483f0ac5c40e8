import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { expect } from 'chai';
// README:testing:imports:begin
import type { Socket } from 'node:net';
import { HttpConnectionPool, type PooledConnection } from '../../src';
import { createTestApp } from '../../src/testing';

/** A test double: records each admitted connection, refuses new ones on demand. */
class RecordingPool extends HttpConnectionPool {
  readonly admitted: number[] = [];
  refusing = false;

  override admissionRefusal() {
    return this.refusing ? 'max_connections' : super.admissionRefusal();
  }

  override add(socket: Socket, address?: string, port?: number): PooledConnection<Socket> | undefined {
    const conn = super.add(socket, address, port);
    if (conn) this.admitted.push(conn.id);
    return conn;
  }
}
// README:testing:imports:end
import type { RawData, WebSocket } from 'ws';
import { GrpcConnectionPool, GrpcServer, HttpPoolConfig, HttpServer, HttpsConnectionPool, HttpsServer, UsePool, WebSocketConnectionPool, WebSocketServer, type Application } from '../../src';
import { killPythonClients, pythonCalls, servingStatus } from '../helpers/grpc-python';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { PYTHON, run } from '../helpers/metrics-clients';
import '../helpers/test-sections';

/** The Quick start's server: it only forwards its config, so it has no constructor. */
@UsePool(HttpConnectionPool)
class ApiServer extends HttpServer {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('ok');
  }
}

class InternalPool extends HttpConnectionPool {}

/** Bound at class level to a user section (`internal`, declared in UnipoolSections), on its own pool. */
@UsePool(InternalPool, 'internal')
class InternalApi extends HttpServer<InternalPool> {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end(`internal ${this.config.maxConnections}`);
  }
}

@UsePool(HttpsConnectionPool)
class SecureApi extends HttpsServer {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('tls');
  }
}

@UsePool(GrpcConnectionPool)
class HealthOnly extends GrpcServer {
  protected registerServices(): void {}
}

@UsePool(WebSocketConnectionPool)
class EchoChat extends WebSocketServer {
  onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void {
    socket.send(data, { binary: isBinary });
  }
}

/** Python `websockets`: connects to `url`, sends one text message, prints the reply. */
const WS_CLIENT = String.raw`
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        await ws.send('hello')
        print(await ws.recv())
asyncio.run(main())
`;

/** `curl` one URL: status and body. */
async function curl(port: number, path = '/', scheme = 'http'): Promise<{ status: number; body: string }> {
  const { code, stdout, stderr } = await run('/usr/bin/curl', ['-sk', '-w', '\n%{http_code}', `${scheme}://127.0.0.1:${port}${path}`]);
  if (code !== 0) throw new Error(`curl failed (${code}): ${stderr}`);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** The lines between two markers of a source file, dedented. */
function region(source: string, name: string): string {
  const lines = source.split('\n');
  const from = lines.findIndex((l) => l.includes(`// README:${name}:begin`));
  const to = lines.findIndex((l) => l.includes(`// README:${name}:end`));
  const body = lines.slice(from + 1, to);
  const indent = Math.min(...body.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return body.map((l) => l.slice(indent)).join('\n');
}

const ROOT = join(__dirname, '..', '..', '..');

describe('issue 12: server config binding and typed pools', () => {
  let app: Application | undefined;

  let tls: TlsFixtures | undefined;

  afterEach(async () => {
    killPythonClients();
    if (app?.state === 'running') await app.stop();
    app = undefined;
    tls?.cleanup();
    tls = undefined;
  });

  it('issue 12 types: a server without a constructor reads its protocol section (http) and serves', async () => {
    app = createTestApp({ servers: [ApiServer], config: { http: { maxConnections: 3 } } });
    await app.start();
    const server = app.server(ApiServer);
    const port = server.address()?.port as number;
    expect(await curl(port)).to.deep.equal({ status: 200, body: 'ok' });
    expect(server.config).to.be.instanceOf(HttpPoolConfig);
    expect(server.config.maxConnections).to.equal(3);
    const pool: HttpConnectionPool = server.pool; // typed without a cast
    expect(pool.config.maxConnections).to.equal(3);
    expect(pool.getMetrics().requests.total).to.equal(1);
  });

  it('issue 12 types: HTTPS, gRPC and WebSocket servers without a constructor read https, grpc and ws', async () => {
    tls = await makeTlsFixtures();
    app = createTestApp({
      servers: [SecureApi, HealthOnly, EchoChat],
      config: { https: { tls: { cert: tls.cert, key: tls.key } }, grpc: { maxConnections: 4 }, ws: { path: '/chat' } },
    });
    await app.start();
    const secure = app.server(SecureApi);
    expect(await curl(secure.address()?.port as number, '/', 'https')).to.deep.equal({ status: 200, body: 'tls' });
    expect(secure.config.tls.cert).to.equal(tls.cert);

    const grpcServer = app.server(HealthOnly);
    expect(grpcServer.config.maxConnections).to.equal(4);
    const [health] = await pythonCalls(grpcServer.address()?.port as number, [{ path: '/grpc.health.v1.Health/Check', request: Buffer.alloc(0) }]);
    expect(health.code).to.equal(0);
    expect(servingStatus(health.replies[0])).to.equal('SERVING');

    const chat = app.server(EchoChat);
    expect(chat.config.path).to.equal('/chat');
    const ws = await run(PYTHON, ['-c', WS_CLIENT, `ws://127.0.0.1:${chat.address()?.port}/chat`]);
    expect(ws, ws.stderr).to.deep.include({ code: 0, stdout: 'hello\n' });
    expect(chat.pool.getMetrics().requests.total).to.equal(1);
  });

  it("issue 12 types: @UsePool(Pool, 'internal') binds a user section at class level, next to a default one", async () => {
    app = createTestApp({
      servers: [ApiServer, InternalApi],
      sections: { internal: HttpPoolConfig },
      config: { http: { maxConnections: 3 }, internal: { maxConnections: 5 } },
    });
    await app.start();
    const internal = app.server(InternalApi);
    const internalPool: InternalPool = internal.pool; // the subclass pool, typed by HttpServer<InternalPool>
    expect(internalPool).to.be.instanceOf(InternalPool);
    expect(internalPool).to.not.equal(app.server(ApiServer).pool);
    expect(await curl(internal.address()?.port as number)).to.deep.equal({ status: 200, body: 'internal 5' });
    expect(await curl(app.server(ApiServer).address()?.port as number)).to.deep.equal({ status: 200, body: 'ok' });
    expect(internalPool.config.maxConnections).to.equal(5);
    expect(internalPool.getMetrics().requests.total).to.equal(1);
    expect(app.server(ApiServer).pool.config.maxConnections).to.equal(3);
  });

  it('issue 12 types: the README test double records add and refuses through admissionRefusal', async () => {
    // README:testing:usage:begin
    const pool = new RecordingPool();
    const app = createTestApp({ servers: [ApiServer], pools: [[HttpConnectionPool, pool]] });
    await app.start();
    const port = app.server(ApiServer).address()?.port; // the port picked
    // README:testing:usage:end
    try {
      expect(await curl(port as number)).to.deep.equal({ status: 200, body: 'ok' });
      expect(pool.admitted).to.have.length(1);
      pool.refusing = true;
      const refused = await curl(port as number);
      expect(refused.status).to.equal(503);
      expect(pool.admitted).to.have.length(1);
      expect(pool.getMetrics().rejected.byReason).to.deep.equal({ max_connections: 1 });
    } finally {
      await app.stop();
    }
  });

  it('issue 12 types: the README testing example is the code of this test file', () => {
    const source = readFileSync(join(ROOT, 'test', 'integration', 'server-config-binding.test.ts'), 'utf8');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const expected = `${region(source, 'testing:imports')}\n\n${region(source, 'testing:usage')}`.replaceAll("'../../src/testing'", "'unipool/testing'").replaceAll("'../../src'", "'unipool'");
    expect(readme).to.contain(`\`\`\`ts\n${expected}\n`);
  });

  it('issue 12 types: the README user-section example is the compiled test/types/readme-sections.types.ts', () => {
    const source = readFileSync(join(ROOT, 'test', 'types', 'readme-sections.types.ts'), 'utf8');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).to.contain(`\`\`\`ts\n${source.replaceAll("'../../src'", "'unipool'")}\`\`\`\n`);
  });
});
