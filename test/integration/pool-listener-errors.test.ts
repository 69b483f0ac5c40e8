import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { ConnectionPoolEvent, type Application } from '../../src';
import { createTestApp, type CapturingLogger } from '../../src/testing';
import { TestHttpServer, connect, readUntilClose, waitFor } from '../helpers/http-fixtures';

/** One request with curl; resolves with the status code curl saw (0 when it got no response). */
function curl(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/curl', ['-s', '-o', '-', '-w', '\n%{http_code}', '--max-time', '10', `http://127.0.0.1:${port}${path}`], (_err, stdout) => {
      const lines = stdout.split('\n');
      resolve({ status: Number(lines.pop()), body: lines.join('\n') });
    });
  });
}

describe('Pool event listeners that throw (real HTTP server)', () => {
  let app: (Application & { logs: CapturingLogger }) | undefined;

  afterEach(async () => {
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('item 20: throwing connectionAdded, connectionRemoved and connectionRejected listeners leave no phantom connection; curl still gets answers', async () => {
    app = createTestApp({ servers: [TestHttpServer], config: { http: { maxConnections: 1 } } });
    await app.start();
    const server = app.server(TestHttpServer);
    const pool = server.pool;
    const port = server.address()!.port;
    for (const event of [ConnectionPoolEvent.ConnectionAdded, ConnectionPoolEvent.ConnectionRemoved, ConnectionPoolEvent.ConnectionRejected] as const) {
      pool.events.on(event, () => {
        throw new Error(`${event} listener broke`);
      });
    }

    for (let i = 0; i < 3; i++) expect(await curl(port)).to.deep.equal({ status: 200, body: 'ok' });
    await waitFor(() => pool.size === 0, 5000, 'pool empty after curl requests');

    // At the limit: one raw socket holds the only slot, curl is refused with 503.
    const holder = await connect(port);
    await waitFor(() => pool.size === 1, 5000, 'holder admitted');
    const refused = await curl(port);
    expect(refused.status).to.equal(503);
    const closed = readUntilClose(holder);
    holder.end();
    await closed;
    await waitFor(() => pool.size === 0, 5000, 'pool empty after the holder left');
    expect(await curl(port)).to.deep.equal({ status: 200, body: 'ok' });
    await waitFor(() => pool.size === 0, 5000, 'pool empty at the end');

    const failures = app.logs.find('pool event listener failed');
    const events = new Set(failures.map((r) => r.fields.event));
    expect([...events].sort()).to.deep.equal(['connectionAdded', 'connectionRejected', 'connectionRemoved']);
    expect(failures[0].fields).to.include({ protocol: 'http' });
    expect(failures.every((r) => r.level === 'error')).to.equal(true);
    const result = await app.stop();
    expect(result).to.deep.include({ ok: true, forced: 0 });
  });
});
