import { expect } from 'chai';
import * as http from 'node:http';
import { request } from '../helpers/http-fixtures';
import {
  TEST_ADMIN_TOKEN,
  TEST_SECRETS,
  adapterRules,
  containerEnv,
  loadManifests,
  only,
  preStopSeconds,
  type ContainerSpec,
  type Deployment,
  type Hpa,
  type ProbeSpec,
  type ServiceMonitor,
} from '../helpers/kubernetes-manifests';
import { portZeroSampleConfig, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';

const SCRIPT = 'dist/samples/multi-protocol/main.js';

/**
 * The environment the Deployment gives the container, made safe for a test on this machine:
 * every listener on 127.0.0.1 instead of 0.0.0.0 (tests never bind other interfaces), and the
 * sample's own config with ports 0 instead of the image's file (the shutdown section unchanged).
 */
function testEnv(container: ContainerSpec): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = containerEnv(container, TEST_SECRETS);
  for (const name of Object.keys(env)) if (/^UNIPOOL_[A-Z]+_HOST$/.test(name)) env[name] = '127.0.0.1';
  delete env.UNIPOOL_CONFIG;
  return env;
}

/** A GET as the kubelet (or Prometheus) sends it, with no agent, so nothing stays open. */
function get(port: number, path: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** The kubelet counts 200-399 as a passed HTTP probe. */
function probePasses(status: number): boolean {
  return status >= 200 && status < 400;
}

async function probe(port: number, spec: ProbeSpec | undefined): Promise<number> {
  return (await get(port, spec!.httpGet!.path!)).status;
}

/** Waits (polling /status, as an operator would) until the sample has a request in flight. */
async function untilInFlight(adminPort: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = JSON.parse((await get(adminPort, '/status', { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` })).body) as { pools: Array<{ metrics: { requests: { inFlight: number } } }> };
    if (status.pools.some((p) => p.metrics.requests.inFlight > 0)) return;
    if (Date.now() > deadline) throw new Error(`no request in flight after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the Deployment\'s container (deploy/kubernetes) run as a process: probes, scrape and SIGTERM as the manifests expect', function () {
  this.timeout(60_000);
  const docs = loadManifests();
  const deployment = only<Deployment>(docs, 'Deployment');
  const container = deployment.spec.template.spec.containers[0];
  let sample: SampleProcess | undefined;

  afterEach(async () => {
    if (sample && sample.child.exitCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
    sample = undefined;
  });

  async function startPod(): Promise<{ admin: number; http: number }> {
    sample = startSample(SCRIPT, writeTempConfig(portZeroSampleConfig()), testEnv(container));
    await waitForOutput(sample, /admin\s+AdminServer listening on http:\/\/127\.0\.0\.1:\d+/);
    const out = sample.stdout();
    return {
      admin: Number(/admin\s+AdminServer listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]),
      http: Number(/http\s+HttpApiServer listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]),
    };
  }

  it('passes the startup, liveness and readiness probes of the Deployment on the admin port, without a token', async () => {
    const { admin } = await startPod();
    for (const name of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
      const status = await probe(admin, container[name]);
      expect(probePasses(status), `${name} ${container[name]!.httpGet!.path} answered ${status}`).to.equal(true);
    }
  });

  it('serves the ServiceMonitor\'s scrape only with the Secret\'s bearer token, with the series the adapter rule reads for the HPA\'s pool', async () => {
    const { admin } = await startPod();
    const endpoint = only<ServiceMonitor>(docs, 'ServiceMonitor').spec.endpoints[0];
    expect((await get(admin, endpoint.path!)).status, 'no token').to.equal(401);
    const scrape = await get(admin, endpoint.path!, { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
    expect(scrape.status).to.equal(200);

    const hpa = only<Hpa>(docs, 'HorizontalPodAutoscaler');
    const metric = hpa.spec.metrics.find((m) => m.type === 'Pods')!.pods!.metric;
    const rule = adapterRules(docs).find((r) => r.name.as === metric.name)!;
    const pool = metric.selector!.matchLabels!.pool;
    for (const family of new Set(rule.metricsQuery.match(/\bunipool_[a-z0-9_]+\b/g))) {
      expect(scrape.body, `${family} of pool ${pool}`).to.match(new RegExp(`^${family}\\{[^}]*pool="${pool}"[^}]*\\} \\d`, 'm'));
    }
  });

  it('after preStop, SIGTERM drains: readiness fails while liveness passes during the drain, the request in flight is answered, and the process exits 0 within terminationGracePeriodSeconds - preStop', async () => {
    const { admin, http: httpPort } = await startPod();
    const budgetMs = ((deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30) - preStopSeconds(container)) * 1000;
    let answered = false;
    const inFlight = request(httpPort, '/slow?ms=4000', { agent: false }).then((reply) => ((answered = true), reply));
    await untilInFlight(admin);
    const signalledAt = Date.now();
    sample!.child.kill('SIGTERM');

    for (;;) {
      if (!probePasses(await probe(admin, container.readinessProbe))) break;
      if (Date.now() - signalledAt > 3000) throw new Error('readiness still passed 3 s after SIGTERM');
    }
    const liveness = await probe(admin, container.livenessProbe);
    expect(answered, 'the drain is still under way').to.equal(false);
    expect(probePasses(liveness), `liveness during the drain answered ${liveness}`).to.equal(true);

    const reply = await inFlight;
    expect(reply.status).to.equal(200);
    expect(reply.headers.connection).to.equal('close');
    expect(await sample!.exited).to.equal(0);
    expect(Date.now() - signalledAt).to.be.below(budgetMs);
  });
});
