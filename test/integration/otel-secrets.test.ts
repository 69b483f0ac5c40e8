import 'reflect-metadata';
import { expect } from 'chai';
import { ConfigValidationError } from '../../src';
import { createTestApp } from '../../src/testing';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { waitFor } from '../helpers/http-fixtures';
import { run } from '../helpers/metrics-clients';
import { OtlpReceiver } from '../helpers/otlp-receiver';
import { adminPort } from './admin-support';

const URL_SECRET = 'apikey-URL-7f3c9a';
const QUERY_SECRET = 'sig-QUERY-51be0d';
const HEADER_SECRET = 'Bearer HEADER-a8e2c4';

/** Everything an app told the world: its log records (errors with message and stack) as JSON. */
function logText(app: ReturnType<typeof createTestApp>): string {
  return JSON.stringify(app.logs.records, (_key, value: unknown) => (value instanceof Error ? { ...value, message: value.message, stack: value.stack } : value));
}

describe('OpenTelemetry: no credential of the OTLP endpoint in logs, errors or /status', function () {
  this.timeout(20_000);
  let app: ReturnType<typeof createTestApp> | undefined;
  let receiver: OtlpReceiver | undefined;

  afterEach(async () => {
    if (app?.state === 'running') await app.stop();
    app = undefined;
    await receiver?.close();
    receiver = undefined;
  });

  async function bootError(options: Parameters<typeof createTestApp>[0]): Promise<ConfigValidationError> {
    app = createTestApp(options);
    let caught: unknown;
    await app.start().catch((err: unknown) => (caught = err));
    expect(caught).to.be.instanceOf(ConfigValidationError);
    return caught as ConfigValidationError;
  }

  it('metrics.otlp.endpoint with user:password@ fails the boot pointing to the headers, and neither the error nor a log line shows the password', async () => {
    const err = await bootError({ servers: [HttpApiServer], config: { metrics: { otlp: { endpoint: `https://user:${URL_SECRET}@collector.example:4318/v1/metrics` } } } });
    const problem = err.problems.find((p) => p.path === 'metrics.otlp.endpoint')!;
    expect(problem.message).to.match(/must not carry credentials.*OTEL_EXPORTER_OTLP_HEADERS or metrics\.otlp\.headers/);
    expect(`${err.message} ${err.stack} ${JSON.stringify(err.problems)} ${logText(app!)}`).to.not.contain(URL_SECRET);
  });

  it('OTEL_EXPORTER_OTLP_ENDPOINT with user:password@ fails the boot the same way, without echoing the password', async () => {
    const err = await bootError({ servers: [HttpApiServer], env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `https://user:${URL_SECRET}@collector.example:4318` } });
    expect(err.problems.map((p) => p.path)).to.deep.equal(['env.OTEL_EXPORTER_OTLP_ENDPOINT']);
    expect(err.problems[0].message).to.match(/must not carry credentials.*OTEL_EXPORTER_OTLP_HEADERS/);
    expect(err.problems[0].value).to.equal('https://collector.example:4318/v1/metrics');
    expect(`${err.message} ${err.stack} ${JSON.stringify(err.problems)} ${logText(app!)}`).to.not.contain(URL_SECRET);
  });

  it('the query string of the endpoint is never logged (boot line, failed exports), and metrics.otlp.headers reach the collector but are redacted in /status', async () => {
    receiver = await new OtlpReceiver().listen();
    receiver.status = 400; // every export refused: the failure is logged
    app = createTestApp({
      servers: [HttpApiServer],
      config: { admin: {}, metrics: { otlp: { endpoint: `${receiver.url}?sig=${QUERY_SECRET}`, exportInterval: 100, headers: { authorization: HEADER_SECRET } } } },
    });
    await app.start();
    await waitFor(() => app!.logs.find('OpenTelemetry: metrics export failed (logged again only after an export succeeds)').length === 1, 5000, 'the failed export logged');
    expect(receiver.headers[0].authorization).to.equal(HEADER_SECRET);
    expect(receiver.paths[0]).to.equal(`POST /v1/metrics?sig=${QUERY_SECRET}`); // the exporter still uses the URL as given
    const { code, stdout } = await run('/usr/bin/curl', ['-s', `http://127.0.0.1:${adminPort(app)}/status`]);
    expect(code).to.equal(0);
    const status = JSON.parse(stdout) as { config: { metrics: { otlp: { headers: unknown } } } };
    expect(status.config.metrics.otlp.headers).to.equal('[redacted]');
    expect(stdout).to.not.contain(HEADER_SECRET);
    expect(app.logs.find('OpenTelemetry: exporting metrics over OTLP')[0].fields.endpoint).to.equal(receiver.url);
    const logs = logText(app);
    expect(logs).to.not.contain(QUERY_SECRET);
    expect(logs).to.not.contain('HEADER-a8e2c4');
  });
});
