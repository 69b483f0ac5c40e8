import { expect } from 'chai';
import WebSocket from 'ws';
import { REPO_ROOT, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';
import { request } from '../helpers/http-fixtures';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPT = 'dist/samples/multi-protocol/main.js';

/** The sample's own config with every server on port 0, so the test never collides with anything. */
function portZeroConfig(): Record<string, Record<string, unknown>> {
  const config = JSON.parse(readFileSync(join(REPO_ROOT, 'samples/multi-protocol/config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  for (const section of Object.values(config)) if ('port' in section) section.port = 0;
  return config;
}

describe('samples/multi-protocol as a process (npm start)', function () {
  this.timeout(30_000);
  let sample: SampleProcess | undefined;

  afterEach(async () => {
    if (sample && sample.child.exitCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
    sample = undefined;
  });

  it('prints one line per endpoint, serves GET / and /slow, and exits 0 on SIGTERM', async () => {
    sample = startSample(SCRIPT, writeTempConfig(portZeroConfig()));
    const m = await waitForOutput(sample, /http\s+HttpApiServer listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    expect((await request(port, '/')).body).to.equal('hello');
    const slow = await request(port, '/slow?ms=50');
    expect(slow.status).to.equal(200);
    expect((await request(port, '/slow?ms=abc')).status).to.equal(400);
    const inflight = request(port, '/slow?ms=300');
    await new Promise((r) => setTimeout(r, 50));
    sample.child.kill('SIGTERM');
    expect((await inflight).status).to.equal(200);
    expect(await sample.exited).to.equal(0);
  });

  it('serves WebSocket echo on the ws path and says goodbye with 1001 on SIGTERM', async () => {
    sample = startSample(SCRIPT, writeTempConfig(portZeroConfig()));
    const m = await waitForOutput(sample, /ws\s+WsEchoServer listening on 127\.0\.0\.1:(\d+)/);
    const ws = new WebSocket(`ws://127.0.0.1:${m[1]}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('ping from the test');
    expect(await echoed).to.equal('ping from the test');
    const code = new Promise<number>((resolve) => ws.once('close', resolve));
    sample.child.kill('SIGTERM');
    expect(await code).to.equal(1001);
    expect(await sample.exited).to.equal(0);
  });

  it('exits non-zero before listening when the config file is invalid, listing every problem', async () => {
    sample = startSample(SCRIPT, writeTempConfig({ http: { port: 70000, maxConnections: 0 }, shutdown: { timeout: 'soon' } }));
    const code = await sample.exited;
    expect(code).to.equal(1);
    expect(sample.stdout()).to.not.contain('listening');
    const err = sample.stderr();
    expect(err).to.contain('http.port: must not be greater than 65535 (got 70000)');
    expect(err).to.contain('http.maxConnections: must not be less than 1 (got 0)');
    expect(err).to.contain('shutdown.timeout');
  });

  it('exits non-zero with a clear message when the config file is not JSON', async () => {
    sample = startSample(SCRIPT, writeTempConfig('{ not json'));
    expect(await sample.exited).to.equal(1);
    expect(sample.stderr()).to.match(/is not valid JSON/);
  });
});
