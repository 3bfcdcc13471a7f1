/**
 * The local control plane's credentials and the files its components read: a cluster CA with a
 * client certificate per component, a CA of its own for the API server's webhook client
 * certificate, kubeconfigs, and the AdmissionConfiguration that hands that certificate to the
 * webhook plugins.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createCertificateAuthority,
  createSigningKeyPair,
  issueCertificate,
  type KeyAndCertificate,
} from '../tls/certificates.ts';

export interface Pki {
  ca: KeyAndCertificate;
  admin: KeyAndCertificate;
  controllerManager: KeyAndCertificate;
  scheduler: KeyAndCertificate;
  kwok: KeyAndCertificate;
  /** Signs only the API server's webhook client certificate, so that webhooks can trust exactly that. */
  webhookClientCa: KeyAndCertificate;
  webhookClient: KeyAndCertificate;
}

export async function createPki(): Promise<Pki> {
  const [ca, webhookClientCa] = await Promise.all([
    createCertificateAuthority('attestor-local-ca'),
    createCertificateAuthority('attestor-local-webhook-client-ca'),
  ]);
  const [admin, controllerManager, scheduler, kwok, webhookClient] = await Promise.all([
    issueCertificate(ca, { commonName: 'admin', organizations: ['system:masters'], usage: 'client' }),
    issueCertificate(ca, {
      commonName: 'system:kube-controller-manager',
      organizations: ['system:masters'],
      usage: 'client',
    }),
    issueCertificate(ca, { commonName: 'system:kube-scheduler', usage: 'client' }),
    issueCertificate(ca, { commonName: 'kwok', organizations: ['system:masters'], usage: 'client' }),
    issueCertificate(webhookClientCa, { commonName: 'kube-apiserver-webhook-client', usage: 'client' }),
  ]);
  return { ca, admin, controllerManager, scheduler, kwok, webhookClientCa, webhookClient };
}

/**
 * Writes what the components read into `dataDir`: pki/ (CA, API server serving certificate,
 * service account keys, the admin's credentials, the webhook client CA), the kubeconfigs of the
 * admin and each component, and the API server's webhook client kubeconfig and AdmissionConfiguration.
 */
export async function writeControlPlaneFiles(dataDir: string, pki: Pki, apiServerUrl: string): Promise<void> {
  const pkiDir = join(dataDir, 'pki');
  const sa = await createSigningKeyPair();
  const serving = await issueCertificate(pki.ca, {
    commonName: 'kube-apiserver',
    usage: 'server',
    dnsNames: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ipAddresses: ['127.0.0.1', '10.0.0.1'],
  });
  const files: Record<string, string> = {
    'ca.crt': pki.ca.certificatePem,
    'apiserver.crt': serving.certificatePem,
    'apiserver.key': serving.privateKeyPem,
    'sa.key': sa.privateKeyPem,
    'sa.pub': sa.publicKeyPem,
    'admin.crt': pki.admin.certificatePem,
    'admin.key': pki.admin.privateKeyPem,
    'webhook-client-ca.crt': pki.webhookClientCa.certificatePem,
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(pkiDir, name), content, { mode: 0o600 });
  const kubeconfig = (user: string, credentials: KeyAndCertificate) =>
    clientKubeconfig(apiServerUrl, pki.ca.certificatePem, user, credentials);
  const dataFiles: Record<string, string> = {
    'webhook-client.kubeconfig': webhookClientKubeconfig(pki.webhookClient),
    'admission-config.yaml': admissionConfiguration(join(dataDir, 'webhook-client.kubeconfig')),
    kubeconfig: kubeconfig('admin', pki.admin),
    'controller-manager.kubeconfig': kubeconfig('kube-controller-manager', pki.controllerManager),
    'scheduler.kubeconfig': kubeconfig('kube-scheduler', pki.scheduler),
    'kwok.kubeconfig': kubeconfig('kwok', pki.kwok),
    'audit-policy.yaml': AUDIT_POLICY,
  };
  for (const [name, content] of Object.entries(dataFiles)) writeFileSync(join(dataDir, name), content, { mode: 0o600 });
}

/**
 * The API server's audit policy: who did what (verb, resource, response code; no bodies) for
 * service accounts only, such as the operator that `attestor dev` runs with the chart's RBAC. A test
 * compares the chart's rules with the calls recorded here (test/cluster/chart-rbac.test.ts).
 */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: [system:serviceaccounts]
- level: None
`;

/** A kubeconfig for `user` on the local cluster, authenticated by a client certificate. */
export function clientKubeconfig(
  apiServerUrl: string,
  caPem: string,
  user: string,
  credentials: KeyAndCertificate,
): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: attestor-local',
    '  cluster:',
    `    server: ${apiServerUrl}`,
    `    certificate-authority-data: ${b64(caPem)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(credentials.certificatePem)}`,
    `    client-key-data: ${b64(credentials.privateKeyPem)}`,
    'contexts:',
    `- name: ${user}@attestor-local`,
    '  context:',
    '    cluster: attestor-local',
    `    user: ${user}`,
    `current-context: ${user}@attestor-local`,
    '',
  ].join('\n');
}

/**
 * The kubeconfig the API server reads its webhook client credentials from. The user name is
 * matched against the webhook's host ("*": every webhook; a real cluster would name the
 * Service, e.g. attestor-webhook.attestor-system.svc:9443).
 */
export function webhookClientKubeconfig(client: KeyAndCertificate, webhookHost = '*'): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'users:',
    `- name: ${JSON.stringify(webhookHost)}`,
    '  user:',
    `    client-certificate-data: ${b64(client.certificatePem)}`,
    `    client-key-data: ${b64(client.privateKeyPem)}`,
    '',
  ].join('\n');
}

/** --admission-control-config-file: both webhook admission plugins use the kubeconfig above. */
export function admissionConfiguration(webhookKubeconfigPath: string): string {
  const plugin = (name: string) => [
    `- name: ${name}`,
    '  configuration:',
    '    apiVersion: apiserver.config.k8s.io/v1',
    '    kind: WebhookAdmissionConfiguration',
    `    kubeConfigFile: ${JSON.stringify(webhookKubeconfigPath)}`,
  ];
  return [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: AdmissionConfiguration',
    'plugins:',
    ...plugin('ValidatingAdmissionWebhook'),
    ...plugin('MutatingAdmissionWebhook'),
    '',
  ].join('\n');
}
