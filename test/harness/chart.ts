/**
 * The chart tests' common fixture: helm (built on first use), the shared control plane, a
 * namespace of the test's own, and `helm template` of charts/attestor with the values every render
 * needs (the chart requires an image and both CA bundles), so that each test sets only what it is
 * about.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { sharedControlPlane, uniqueName } from './cluster.ts';
import { buildHelm, HELM_BUILD_TIMEOUT_MS } from './helm.ts';

export const CHART_DIR = join(projectRoot, 'charts/attestor');
/** The Kubernetes version the chart is rendered for (the local control plane's). */
export const KUBE_VERSION = '1.37.2';
export const TEST_IMAGE = 'registry.example/attestor';

/** An object `helm template` rendered. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered objects of every kind
  [key: string]: any;
}

export interface ChartFixture {
  readonly cp: ControlPlane;
  readonly helmPath: string;
  readonly namespace: string;
  /** base64 PEM of the serving CA (tls.caBundle) and of the API server's webhook client CA. */
  servingCa(): string;
  clientCa(): string;
  /** The values every render needs, as `--set` expressions. */
  requiredValues(): string[];
  /** `helm template <release>` in the fixture's namespace with the required values, then `sets`. */
  template(release: string, ...sets: string[]): string;
  /** `helm` with any arguments. */
  helm(...args: string[]): string;
  /** `kubectl apply --dry-run=server` of rendered text: the API server's output. */
  dryRun(rendered: string): string;
}

/** The rendered objects of `helm template` output. */
export function renderedObjects(rendered: string): RenderedObject[] {
  return (yaml.loadAll(rendered) as (RenderedObject | null)[]).filter((o): o is RenderedObject => !!o);
}

/** Registers a `before` hook in the calling suite that builds helm and makes the namespace. */
export function chartFixture(namePrefix: string): ChartFixture {
  const namespace = uniqueName(namePrefix);
  let cp: ControlPlane | undefined;
  let helmPath: string | undefined;
  before(async function () {
    this.timeout(HELM_BUILD_TIMEOUT_MS);
    helmPath = await buildHelm();
    cp = await sharedControlPlane();
    await cp
      .kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .createNamespace({ body: { metadata: { name: namespace } } });
  });
  const ready = () => {
    if (!cp || !helmPath) throw new Error('the chart fixture is used before its before hook ran');
    return { cp, helmPath };
  };
  const helm = (...args: string[]) =>
    execFileSync(ready().helmPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const fixture: ChartFixture = {
    get cp() {
      return ready().cp;
    },
    get helmPath() {
      return ready().helmPath;
    },
    namespace,
    servingCa: () => Buffer.from(ready().cp.caPem).toString('base64'),
    clientCa: () => Buffer.from(ready().cp.webhookClientCaPem).toString('base64'),
    requiredValues: () => [
      `image.repository=${TEST_IMAGE}`,
      `tls.caBundle=${fixture.servingCa()}`,
      `webhook.clientAuth.caBundle=${fixture.clientCa()}`,
    ],
    template: (release, ...sets) =>
      helm(
        'template',
        release,
        CHART_DIR,
        '--namespace',
        namespace,
        '--kube-version',
        KUBE_VERSION,
        ...[...fixture.requiredValues(), ...sets].flatMap((s) => ['--set', s]),
      ),
    helm,
    dryRun: (rendered) =>
      execFileSync(
        join(ready().cp.binDir, 'kubectl'),
        ['--kubeconfig', ready().cp.kubeconfigPath, 'apply', '--dry-run=server', '-f', '-'],
        { input: rendered, encoding: 'utf8' },
      ),
  };
  return fixture;
}
