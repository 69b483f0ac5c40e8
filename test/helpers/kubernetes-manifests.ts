import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { REPO_ROOT } from './sample-process';

/** Where the manifests live. */
export const MANIFEST_DIR = join(REPO_ROOT, 'deploy/kubernetes');

/** A Kubernetes object as written in a manifest. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** One document of a manifest file. */
export interface ManifestDocument {
  /** Path relative to `deploy/kubernetes`. */
  file: string;
  object: KubeObject;
}

/** A model class of kubernetes-models: copies the object, `validate()` throws on a schema violation. */
interface ModelClass {
  new (data: object): { validate(): void };
  prototype: { validate(): void };
}

/** The model modules by apiVersion; a kind is the module's export of that name. */
const MODEL_MODULES: Readonly<Record<string, Record<string, unknown>>> = {
  v1: core,
  'apps/v1': apps,
  'autoscaling/v2': autoscaling,
  'networking.k8s.io/v1': networking,
  'policy/v1': policy,
  'monitoring.coreos.com/v1': monitoring,
};

/** The model of `apiVersion`/`kind`, or undefined when no schema for it is known here. */
export function modelOf(apiVersion: string, kind: string): ModelClass | undefined {
  const model = MODEL_MODULES[apiVersion]?.[kind];
  return typeof model === 'function' ? (model as ModelClass) : undefined;
}

/** YAML files under `deploy/kubernetes` that are not Kubernetes objects: the adapter's Helm values. */
export const NOT_MANIFESTS: ReadonlySet<string> = new Set(['prometheus-adapter/values.yaml']);

/** Every `.yaml` file under `dir`, recursively, as paths relative to `root`. */
function yamlFiles(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(path, root));
    else if (/\.ya?ml$/.test(entry.name) && !NOT_MANIFESTS.has(relative(root, path))) out.push(relative(root, path));
  }
  return out.sort();
}

/** Parses every document of every manifest file; a YAML error throws with the file named. */
export function loadManifests(dir = MANIFEST_DIR): ManifestDocument[] {
  const docs: ManifestDocument[] = [];
  for (const file of yamlFiles(dir)) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const object = doc.toJS() as KubeObject | null;
      if (object !== null) docs.push({ file, object });
    }
  }
  return docs;
}

/** Wraps `value` so that every property a validator reads is recorded (objects a validator enumerates, maps such as labels, count as fully known). */
function tracked(value: unknown, path: string, seen: Array<{ path: string; value: object; read: Set<string>; listed: () => boolean }>): unknown {
  if (value === null || typeof value !== 'object') return value;
  const read = new Set<string>();
  const children = new Map<string, unknown>();
  let listed = false;
  seen.push({ path, value, read, listed: () => listed });
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key !== 'string') return Reflect.get(target, key, receiver);
      read.add(key);
      if (!children.has(key)) children.set(key, tracked((target as Record<string, unknown>)[key], Array.isArray(target) ? `${path}[${key}]` : `${path}.${key}`, seen));
      return children.get(key);
    },
    ownKeys(target) {
      listed = true;
      return Reflect.ownKeys(target);
    },
  });
}

/**
 * Fields of `object` that the schema does not know. The generated validators of
 * kubernetes-models accept unknown fields, while `kubectl apply` (strict field validation)
 * rejects them: a typo such as `periodSecond` must fail here too. The validator is run over a
 * proxy that records each field it reads; a field of a schema object it never read is unknown.
 */
export function unknownFields(model: ModelClass, object: KubeObject): string[] {
  const seen: Array<{ path: string; value: object; read: Set<string>; listed: () => boolean }> = [];
  model.prototype.validate.call(tracked(JSON.parse(JSON.stringify(object)), '', seen) as { validate(): void });
  const unknown: string[] = [];
  for (const { path, value, read, listed } of seen) {
    if (Array.isArray(value) || listed()) continue;
    for (const key of Object.keys(value)) if (!read.has(key)) unknown.push(`${path}.${key}`.slice(1));
  }
  return unknown;
}

/** The one object of `kind` (and `name`, when given); throws when there is not exactly one. */
export function only<T = KubeObject>(docs: readonly ManifestDocument[], kind: string, name?: string): T {
  const found = docs.filter((d) => d.object.kind === kind && (name === undefined || d.object.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}${name ? ` ${name}` : ''} in deploy/kubernetes, found ${found.length}`);
  return found[0].object as unknown as T;
}

/** The parts of a container this project's tests read. */
export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  readinessProbe?: ProbeSpec;
  livenessProbe?: ProbeSpec;
  startupProbe?: ProbeSpec;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } };
}

/** The parts of a Deployment the tests read. */
export interface Deployment extends KubeObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { terminationGracePeriodSeconds?: number; containers: ContainerSpec[] } };
  };
}

/** The parts of a Service the tests read. */
export interface Service extends KubeObject {
  spec: { selector: Record<string, string>; clusterIP?: string; publishNotReadyAddresses?: boolean; ports: Array<{ name: string; port: number; targetPort: number | string }> };
}

/** The parts of a ServiceMonitor the tests read. */
export interface ServiceMonitor extends KubeObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    namespaceSelector?: { matchNames?: string[]; any?: boolean };
    endpoints: Array<{ port: string; path?: string; scheme?: string; authorization?: { type?: string; credentials: { name: string; key: string } } }>;
  };
}

/** The parts of an autoscaling/v2 HorizontalPodAutoscaler the tests read. */
export interface Hpa extends KubeObject {
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    metrics: Array<{ type: string; pods?: { metric: { name: string; selector?: { matchLabels?: Record<string, string> } }; target: { type: string; averageValue: string } } }>;
  };
}

/** One rule of prometheus-adapter's config. */
export interface AdapterRule {
  seriesQuery: string;
  resources: { overrides: Record<string, { resource: string }> };
  name: { matches: string; as: string };
  metricsQuery: string;
}

/** An httpGet probe with Kubernetes' defaults filled in. */
export interface ProbeSpec {
  httpGet?: { path?: string; port: number | string; scheme?: string; httpHeaders?: Array<{ name: string; value: string }> };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

/** prometheus-adapter's rules as the ConfigMap in `prometheus-adapter/` gives them. */
export function adapterRules(docs: readonly ManifestDocument[]): AdapterRule[] {
  const adapter = only<{ data: Record<string, string> }>(docs, 'ConfigMap', 'prometheus-adapter');
  return (parse(adapter.data['config.yaml']) as { rules: AdapterRule[] }).rules;
}

/** Kubernetes' probe defaults (core/v1 Probe). */
export const PROBE_DEFAULTS = { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 } as const;

/** A probe with every timing field set (the API server's defaults where the manifest leaves one out). */
export function withProbeDefaults(probe: ProbeSpec): Required<Omit<ProbeSpec, 'httpGet'>> & Pick<ProbeSpec, 'httpGet'> {
  return { ...PROBE_DEFAULTS, ...probe };
}

/** Seconds the `preStop` hook waits: a `sleep` action or an `exec` of `sleep N`; 0 without a hook. */
export function preStopSeconds(container: ContainerSpec): number {
  const preStop = container.lifecycle?.preStop;
  if (!preStop) return 0;
  if (preStop.sleep) return preStop.sleep.seconds;
  const command = preStop.exec?.command ?? [];
  if (command.length === 2 && /(^|\/)sleep$/.test(command[0]) && /^\d+$/.test(command[1])) return Number(command[1]);
  throw new Error(`preStop hook is neither a sleep action nor \`sleep N\`: ${JSON.stringify(preStop)}`);
}

/**
 * The container's environment as the process sees it: literal values, and for each
 * `secretKeyRef` the value `secrets` gives for `<secret>/<key>` (a missing one throws, so a new
 * secret reference is noticed by the tests).
 */
export function containerEnv(container: ContainerSpec, secrets: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.secretKeyRef) {
      const ref = `${v.valueFrom.secretKeyRef.name}/${v.valueFrom.secretKeyRef.key}`;
      if (!(ref in secrets)) throw new Error(`env ${v.name} reads secret ${ref}, which the test does not provide`);
      env[v.name] = secrets[ref];
    } else throw new Error(`env ${v.name}: only literal values and secretKeyRef are understood here`);
  }
  return env;
}

/** The admin token the tests stand in for the `unipool-admin` Secret (printable, over 16 characters). */
export const TEST_ADMIN_TOKEN = 'k8s-manifest-test-token-0123456789';
/** The Secrets the manifests read, as `<secret>/<key>`, with the values the tests use. */
export const TEST_SECRETS: Readonly<Record<string, string>> = { 'unipool-admin/token': TEST_ADMIN_TOKEN };

/** Working directory of the sample image (`deploy/kubernetes/Dockerfile`): the repository root is copied there. */
export const IMAGE_APP_DIR = '/app';

/** The repository path of a file the image has at `imagePath` (under `/app`). */
export function repoPathOf(imagePath: string): string {
  if (!imagePath.startsWith(`${IMAGE_APP_DIR}/`)) throw new Error(`${imagePath} is not under ${IMAGE_APP_DIR}`);
  return join(REPO_ROOT, imagePath.slice(IMAGE_APP_DIR.length + 1));
}
