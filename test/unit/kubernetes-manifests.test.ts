import 'reflect-metadata';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigLoader } from '../../src/config/config-loader';
import { ShutdownConfig } from '../../src/config/pool-config';
import { LIFECYCLE_HOOKS } from '../../src/core/managed-server';
import { usedPool } from '../../src/di/decorators';
import { AdminConfig } from '../../src/observability/admin-config';
import { PrometheusCollector } from '../../src/observability/prometheus-collector';
import { GrpcPoolConfig } from '../../src/protocols/grpc/grpc-config';
import { HttpPoolConfig } from '../../src/protocols/http/http-config';
import { HttpsPoolConfig } from '../../src/protocols/https/https-config';
import { WebSocketPoolConfig } from '../../src/protocols/ws/ws-config';
import { CapturingLogger } from '../../src/testing';
import { SAMPLE_SERVERS } from '../../samples/multi-protocol/app';
import { withDevCertificate } from '../../samples/multi-protocol/dev-certificate';
import {
  IMAGE_APP_DIR,
  MANIFEST_DIR,
  TEST_ADMIN_TOKEN,
  TEST_SECRETS,
  adapterRules,
  containerEnv,
  loadManifests,
  modelOf,
  only,
  preStopSeconds,
  repoPathOf,
  unknownFields,
  withProbeDefaults,
  type AdapterRule,
  type ContainerSpec,
  type Deployment,
  type Hpa,
  type ManifestDocument,
  type Service,
  type ServiceMonitor,
} from '../helpers/kubernetes-manifests';

/** What the admin server answers (src/observability/admin-server.ts). */
const LIVENESS_PATH = '/healthz';
const READINESS_PATH = '/readyz';
const METRICS_PATH = '/metrics';
/** Least time (s) between the end of endpoint removal and the listeners closing: kube-proxy and ingress controllers need a few seconds to stop routing here. */
const ENDPOINT_PROPAGATION_SECONDS = 5;
/** Slack (s) the grace period keeps over the worst case computed from the config: the force phase, closing servers, the signal's delivery. */
const MIN_MARGIN_SECONDS = 2;
/** Beyond this slack the grace period no longer follows the config (a shorter drain must show here too). */
const MAX_MARGIN_SECONDS = 10;
/** The unipool server sections of the sample, by container port name. */
const SERVER_SECTIONS = ['http', 'https', 'grpc', 'ws'] as const;

/** A Kubernetes quantity (`600m`, `2`, `1.5`) as a number. */
function quantity(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(text);
  if (!m) throw new Error(`not a plain or milli quantity: ${text}`);
  return Number(m[1]) / (m[2] ? 1000 : 1);
}

/** Metric names a PromQL expression or series query refers to (`unipool_*` identifiers). */
function metricNames(promql: string): string[] {
  return [...new Set(promql.match(/\bunipool_[a-z0-9_]+\b/g) ?? [])];
}

/** The sample's config file in the image, as the Deployment names it. */
function configFileOf(env: Record<string, string>): string {
  expect(env.UNIPOOL_CONFIG, 'the Deployment names the config file it runs with (UNIPOOL_CONFIG)').to.be.a('string');
  return repoPathOf(env.UNIPOOL_CONFIG);
}

/** The config the pod runs with: the sample's file with the container's env overrides, validated by unipool's own loader. */
async function podConfig(container: ContainerSpec): Promise<{ env: Record<string, string>; config: ReadonlyMap<string, object> }> {
  const env = containerEnv(container, TEST_SECRETS);
  const file = configFileOf(env);
  // The sample makes its self-signed certificate at start when the config names none, as in the pod.
  const { env: withCert } = await withDevCertificate(file, env);
  const sections = new Map<string, new () => object>([
    ['http', HttpPoolConfig],
    ['https', HttpsPoolConfig],
    ['grpc', GrpcPoolConfig],
    ['ws', WebSocketPoolConfig],
    ['shutdown', ShutdownConfig],
    ['admin', AdminConfig],
  ]);
  return { env, config: new ConfigLoader(sections).load(file, withCert) };
}

/** Lifecycle hooks the sample app runs at shutdown (its servers and their pools), by name. */
function shutdownHookCount(): { beforeShutdown: number; onShutdown: number } {
  const targets = new Set(SAMPLE_SERVERS.flatMap((server) => [server, usedPool(server)]).filter((cls) => cls !== undefined));
  const count = (hook: (typeof LIFECYCLE_HOOKS)[number]): number => [...targets].filter((cls) => typeof (cls.prototype as Record<string, unknown>)[hook] === 'function').length;
  return { beforeShutdown: count('beforeShutdown'), onShutdown: count('onShutdown') };
}

function containerOf(deployment: Deployment): ContainerSpec {
  expect(deployment.spec.template.spec.containers, 'one container runs unipool').to.have.length(1);
  return deployment.spec.template.spec.containers[0];
}

/** True when every label of `selector` is on `labels`. */
function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('Kubernetes manifests (deploy/kubernetes), checked offline', () => {
  let docs: ManifestDocument[];
  let deployment: Deployment;
  let container: ContainerSpec;

  before(() => {
    docs = loadManifests();
    deployment = only<Deployment>(docs, 'Deployment');
    container = containerOf(deployment);
  });

  it('every manifest document validates against its Kubernetes (or prometheus-operator) schema and has no unknown field', () => {
    expect(docs.length).to.be.greaterThan(0);
    const problems: string[] = [];
    for (const { file, object } of docs) {
      const where = `${file}: ${object?.kind}/${object?.metadata?.name}`;
      const model = modelOf(object.apiVersion, object.kind);
      if (!model) {
        problems.push(`${where}: no schema known for ${object.apiVersion} ${object.kind}`);
        continue;
      }
      try {
        new model(object).validate();
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
      for (const field of unknownFields(model, object)) problems.push(`${where}: unknown field ${field}`);
    }
    expect(problems).to.deep.equal([]);
  });

  it('ships a Deployment, its Service, an admin Service, a PodDisruptionBudget, an autoscaling/v2 HPA, a ServiceMonitor, a NetworkPolicy and the prometheus-adapter rules', () => {
    const kinds = docs.map((d) => `${d.object.apiVersion} ${d.object.kind}`);
    expect(kinds).to.include.members([
      'apps/v1 Deployment',
      'v1 Service',
      'policy/v1 PodDisruptionBudget',
      'autoscaling/v2 HorizontalPodAutoscaler',
      'monitoring.coreos.com/v1 ServiceMonitor',
      'networking.k8s.io/v1 NetworkPolicy',
      'v1 ConfigMap',
    ]);
    expect(docs.filter((d) => d.object.kind === 'Service')).to.have.length(2);
  });

  it('the container runs the sample with the shipped config; its UNIPOOL_* env names real keys, binds every server and the admin endpoint on 0.0.0.0, and takes the admin token from a Secret', async () => {
    const dockerfile = readFileSync(join(MANIFEST_DIR, 'Dockerfile'), 'utf8');
    expect(dockerfile).to.match(new RegExp(`^WORKDIR ${IMAGE_APP_DIR}$`, 'm'));
    expect(`${dockerfile}\n${[...(container.command ?? []), ...(container.args ?? [])].join(' ')}`).to.include('dist/samples/multi-protocol/main.js');
    expect(configFileOf(containerEnv(container, TEST_SECRETS))).to.equal(join(MANIFEST_DIR, '../../samples/multi-protocol/config.json'));

    const { config } = await podConfig(container);
    const admin = config.get('admin') as AdminConfig;
    expect(admin.host, 'the kubelet and Prometheus reach the admin port on the pod IP').to.equal('0.0.0.0');
    expect(admin.token).to.equal(TEST_ADMIN_TOKEN);
    for (const section of SERVER_SECTIONS) expect((config.get(section) as HttpPoolConfig).host, `${section}.host`).to.equal('0.0.0.0');
    const token = container.env?.find((v) => v.name === 'UNIPOOL_ADMIN_TOKEN');
    expect(token?.value, 'the token is never written in a manifest').to.equal(undefined);
    expect(token?.valueFrom?.secretKeyRef).to.deep.include({ name: 'unipool-admin', key: 'token' });
  });

  it('probes the admin port: readiness GET /readyz, liveness and startup GET /healthz, on the container port named admin, which is admin.port of the config', async () => {
    const { config } = await podConfig(container);
    const admin = config.get('admin') as AdminConfig;
    const adminPort = container.ports?.find((p) => p.name === 'admin');
    expect(adminPort?.containerPort).to.equal(admin.port);
    const probes = { readinessProbe: READINESS_PATH, livenessProbe: LIVENESS_PATH, startupProbe: LIVENESS_PATH } as const;
    for (const [name, path] of Object.entries(probes) as Array<[keyof typeof probes, string]>) {
      const probe = container[name];
      expect(probe?.httpGet, name).to.not.equal(undefined);
      expect(probe!.httpGet!.path, `${name}.httpGet.path`).to.equal(path);
      expect([admin.port, 'admin'], `${name}.httpGet.port`).to.include(probe!.httpGet!.port);
      expect(probe!.httpGet!.scheme ?? 'HTTP', `${name}.httpGet.scheme: the admin endpoint is plain HTTP`).to.equal('HTTP');
      expect(probe!.httpGet!.httpHeaders, `${name}: probes need no token`).to.equal(undefined);
    }
  });

  it('terminationGracePeriodSeconds = preStop + drainDelay + shutdown hooks + shutdown.timeout + exitDelay + a margin of 2 to 10 s (the shipped config)', async () => {
    const { config } = await podConfig(container);
    const shutdown = config.get('shutdown') as ShutdownConfig;
    const hooks = shutdownHookCount();
    const preStop = preStopSeconds(container);
    // Worst case from SIGTERM on: readiness phase (drainDelay), each beforeShutdown hook (hookTimeout),
    // the drain deadline (timeout, counted from the end of stopAccepting), each onShutdown hook, and the
    // exit of a process a handle still holds (exitDelay).
    const afterSigtermMs = shutdown.drainDelay + hooks.beforeShutdown * shutdown.hookTimeout + shutdown.timeout + hooks.onShutdown * shutdown.hookTimeout + (shutdown.exitDelay === false ? 0 : shutdown.exitDelay);
    const needed = preStop + afterSigtermMs / 1000;
    const grace = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
    expect(grace - needed, `grace ${grace} s vs preStop ${preStop} s + ${afterSigtermMs} ms after SIGTERM`).to.be.within(MIN_MARGIN_SECONDS, MAX_MARGIN_SECONDS);
    expect(shutdown.exitDelay, 'a lingering process is ended by unipool, not by the kubelet').to.not.equal(false);
  });

  it('endpoints are gone before the listeners close: preStop sleep + drainDelay >= 5 s, and readiness notices a drain within drainDelay when one is set', async () => {
    const { config } = await podConfig(container);
    const shutdown = config.get('shutdown') as ShutdownConfig;
    expect(preStopSeconds(container) + shutdown.drainDelay / 1000).to.be.at.least(ENDPOINT_PROPAGATION_SECONDS);
    const readiness = withProbeDefaults(container.readinessProbe!);
    if (shutdown.drainDelay > 0) expect(readiness.periodSeconds * readiness.failureThreshold * 1000).to.be.at.most(shutdown.drainDelay);
    expect(readiness.successThreshold).to.equal(1);
  });

  it('liveness never follows draining or overload: it reads /healthz only, and outlasts the window between the admin server closing and the process exit (exitDelay)', async () => {
    const { config } = await podConfig(container);
    const shutdown = config.get('shutdown') as ShutdownConfig;
    const liveness = withProbeDefaults(container.livenessProbe!);
    const startup = withProbeDefaults(container.startupProbe!);
    expect(liveness.httpGet?.path).to.not.equal(READINESS_PATH);
    const killAfterMs = liveness.periodSeconds * liveness.failureThreshold * 1000;
    expect(killAfterMs).to.be.greaterThan(shutdown.exitDelay === false ? 0 : shutdown.exitDelay);
    expect(liveness.timeoutSeconds, 'one scrape of a busy pod may take a moment').to.be.at.least(2);
    expect(startup.periodSeconds * startup.failureThreshold, 'boot time allowed before liveness takes over').to.be.at.least(10);
  });

  it('container ports are the ports of the config, and every Service port targets a named container port', async () => {
    const { config } = await podConfig(container);
    const ports = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
    for (const section of SERVER_SECTIONS) expect(ports.get(section), `containerPort ${section}`).to.equal((config.get(section) as HttpPoolConfig).port);
    for (const service of docs.filter((d) => d.object.kind === 'Service').map((d) => d.object as Service)) {
      for (const port of service.spec.ports) expect(ports.has(String(port.targetPort)), `${service.metadata.name} port ${port.name} -> ${port.targetPort}`).to.equal(true);
    }
  });

  it('Services and the PodDisruptionBudget select the pods, the HPA scales the Deployment, and the admin port stays off the traffic Service', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(selects(deployment.spec.selector.matchLabels, labels)).to.equal(true);
    const services = docs.filter((d) => d.object.kind === 'Service').map((d) => d.object as Service);
    for (const service of services) expect(selects(service.spec.selector, labels), service.metadata.name).to.equal(true);
    const traffic = services.filter((s) => !s.spec.ports.some((p) => p.targetPort === 'admin'));
    const adminServices = services.filter((s) => s.spec.ports.some((p) => p.targetPort === 'admin'));
    expect(traffic).to.have.length(1);
    expect(adminServices).to.have.length(1);
    expect(adminServices[0].spec.ports).to.have.length(1);
    expect(adminServices[0].spec.publishNotReadyAddresses, 'starting and draining pods are scraped too').to.equal(true);
    const pdb = only<{ spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable?: number; minAvailable?: number } }>(docs, 'PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels, labels)).to.equal(true);
    const hpa = only<Hpa>(docs, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas, 'the PodDisruptionBudget can let one pod go').to.be.at.least(2);
    const policy = only<{ spec: { podSelector: { matchLabels: Record<string, string> } } }>(docs, 'NetworkPolicy');
    expect(selects(policy.spec.podSelector.matchLabels, labels)).to.equal(true);
  });

  it('the ServiceMonitor scrapes /metrics on the admin Service port with the bearer token of the Secret the Deployment reads', () => {
    const monitor = only<ServiceMonitor>(docs, 'ServiceMonitor');
    const adminService = docs.map((d) => d.object as Service).find((o) => o.kind === 'Service' && o.spec.ports.some((p) => p.targetPort === 'admin'))!;
    expect(selects(monitor.spec.selector.matchLabels, adminService.metadata.labels)).to.equal(true);
    const traffic = docs.map((d) => d.object as Service).find((o) => o.kind === 'Service' && o !== adminService)!;
    expect(selects(monitor.spec.selector.matchLabels, traffic.metadata.labels), 'the monitor must not select the traffic Service').to.equal(false);
    expect(monitor.spec.endpoints).to.have.length(1);
    const [endpoint] = monitor.spec.endpoints;
    expect(endpoint.port).to.equal(adminService.spec.ports[0].name);
    expect(endpoint.path ?? METRICS_PATH).to.equal(METRICS_PATH);
    expect(endpoint.scheme ?? 'http').to.equal('http');
    const secretRef = container.env?.find((v) => v.name === 'UNIPOOL_ADMIN_TOKEN')?.valueFrom?.secretKeyRef;
    expect(endpoint.authorization?.type ?? 'Bearer').to.equal('Bearer');
    expect(endpoint.authorization?.credentials).to.deep.equal({ name: secretRef?.name, key: secretRef?.key });
  });

  it('the HPA scales on a per-pod unipool metric that a prometheus-adapter rule serves from existing unipool families, with a target below the pool\'s degradedUtilization', async () => {
    const hpa = only<Hpa>(docs, 'HorizontalPodAutoscaler');
    const podMetrics = hpa.spec.metrics.filter((m) => m.type === 'Pods');
    expect(podMetrics).to.have.length(1);
    const { metric, target } = podMetrics[0].pods!;

    const rules = adapterRules(docs);
    const rule = rules.find((r) => r.name.as === metric.name);
    expect(rule, `an adapter rule exposes ${metric.name}`).to.not.equal(undefined);
    expect(rule!.resources.overrides).to.deep.equal({ namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
    expect(rule!.metricsQuery).to.include('<<.LabelMatchers>>').and.to.include('<<.GroupBy>>');

    const families = new PrometheusCollector({ pools: [], isReady: false, stats: { reloads: { success: 0, failure: 0 }, lastReloadSuccessAt: 0, shutdownPhases: new Map() } }, new CapturingLogger()).registry.getMetricsAsArray().map((m) => m.name);
    for (const name of [...metricNames(rule!.seriesQuery), ...metricNames(rule!.metricsQuery)]) expect(families, `${name} is a unipool metric`).to.include(name);
    expect(new RegExp(rule!.name.matches).test(metricNames(rule!.seriesQuery)[0])).to.equal(true);

    // The Helm chart's values carry the same rules (rules.custom), for installs through the chart.
    const values = parse(readFileSync(join(MANIFEST_DIR, 'prometheus-adapter/values.yaml'), 'utf8')) as { rules: { custom: AdapterRule[] } };
    expect(values.rules.custom).to.deep.equal(rules);

    // Scale out before the pool reports DEGRADED (and long before admission refuses).
    const pool = metric.selector?.matchLabels?.pool;
    expect(SERVER_SECTIONS as readonly string[], 'the metric is narrowed to one pool of the sample').to.include(pool);
    const { config } = await podConfig(container);
    expect(target.type).to.equal('AverageValue');
    expect(quantity(target.averageValue)).to.be.greaterThan(0).and.below((config.get(pool!) as HttpPoolConfig).health.degradedUtilization);
  });
});
