/**
 * Runs the local operator as it runs in a cluster: as the attestor-operator service account with
 * exactly the RBAC of the Helm chart (rendered by helm from charts/attestor), not as the cluster
 * admin. A permission the chart forgot then fails here first.
 */

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { applyYaml } from './apply.ts';
import { projectRoot } from './control-plane.ts';

export const OPERATOR_SERVICE_ACCOUNT = 'attestor-operator';

export function operatorUsername(namespace: string): string {
  return `system:serviceaccount:${namespace}:${OPERATOR_SERVICE_ACCOUNT}`;
}

/** The chart's RBAC (service accounts, roles and bindings) for a release in `namespace` (release `attestor` by default). */
export function renderChartRbac(binDir: string, namespace: string, release = 'attestor'): string {
  const helm = join(binDir, 'helm');
  if (!existsSync(helm)) throw new Error(`${helm} not found: run "npm run helm:build" (hack/build-helm) first`);
  return execFileSync(
    helm,
    [
      'template',
      release,
      join(projectRoot, 'charts/attestor'),
      '--namespace',
      namespace,
      '--kube-version',
      '1.37.2',
      // Values the other templates require (the chart renders them all before --show-only picks one).
      ...[
        'image.repository=attestor-dev',
        'certificates.mode=cert-manager',
        'certificates.certManager.issuerRef.name=unused',
        'webhook.clientAuth.allowAnyClient=true',
      ].flatMap((value) => ['--set', value]),
      '--show-only',
      'templates/rbac.yaml',
    ],
    { encoding: 'utf8' },
  );
}

/** Applies the chart's RBAC and returns a KubeConfig that authenticates as the operator's service account. */
export async function operatorKubeConfig(
  admin: k8s.KubeConfig,
  binDir: string,
  namespace: string,
): Promise<k8s.KubeConfig> {
  await applyYaml(admin, renderChartRbac(binDir, namespace));
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const request = await core.createNamespacedServiceAccountToken({
    name: OPERATOR_SERVICE_ACCOUNT,
    namespace,
    body: { spec: { expirationSeconds: 48 * 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error('TokenRequest for the operator returned no token');
  const cluster = admin.getCurrentCluster()!;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: OPERATOR_SERVICE_ACCOUNT, token }],
    contexts: [{ name: 'operator', cluster: cluster.name, user: OPERATOR_SERVICE_ACCOUNT }],
    currentContext: 'operator',
  });
  return kc;
}
